import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { diffMembers, type ActualMember } from '../../src/domain/chat-plan';

const member = (memberId: number, role: 'member' | 'admin' | 'owner' = 'member'): ActualMember => ({
  memberId,
  isAdmin: role !== 'member',
  isOwner: role === 'owner',
});

const empty = { add: [], remove: [], promote: [], demote: [], unmanaged: [] };

void describe('membership diff', () => {
  void test('C3: missing desired members are added', () => {
    const diff = diffMembers({
      desired: { members: [1, 2, 3], admins: [] },
      actual: [member(2)],
      managed: [2],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, add: [1, 3] });
  });

  void test('C3: members we added who are no longer wanted are removed', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1), member(5)],
      managed: [1, 5],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, remove: [5] });
  });

  void test('C3: members added by hand are reported, not removed', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1), member(7)],
      managed: [1],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, unmanaged: [7] });
  });

  void test('C3: members added by hand are removed when the school opts in', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1), member(7)],
      managed: [1],
      removeUnmanaged: true,
    });
    assert.deepEqual(diff, { ...empty, remove: [7], unmanaged: [7] });
  });

  void test('C3: a wanted member added by hand is kept and needs nothing', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1)],
      managed: [],
      removeUnmanaged: true,
    });
    assert.deepEqual(diff, empty);
  });

  void test('C5: a desired admin who is a plain member is promoted', () => {
    const diff = diffMembers({
      desired: { members: [1, 2], admins: [2] },
      actual: [member(1), member(2)],
      managed: [1, 2],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, promote: [2] });
  });

  void test('C5: a desired admin not yet in the chat is added and promoted', () => {
    const diff = diffMembers({
      desired: { members: [1, 2], admins: [2] },
      actual: [member(1)],
      managed: [1],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, add: [2], promote: [2] });
  });

  void test('C5: an admin we manage who lost the right is demoted', () => {
    const diff = diffMembers({
      desired: { members: [1, 2], admins: [] },
      actual: [member(1), member(2, 'admin')],
      managed: [1, 2],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, demote: [2] });
  });

  void test('C5: an admin appointed by hand whom we did not add is not demoted', () => {
    const diff = diffMembers({
      desired: { members: [1, 2], admins: [] },
      actual: [member(1), member(2, 'admin')],
      managed: [1],
      removeUnmanaged: true,
    });
    assert.deepEqual(diff, empty);
  });

  void test('C5: the owner counts as an admin and is never demoted or removed', () => {
    const wanted = diffMembers({
      desired: { members: [9], admins: [9] },
      actual: [member(9, 'owner')],
      managed: [9],
      removeUnmanaged: true,
    });
    assert.deepEqual(wanted, empty);
    const unwanted = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1), member(9, 'owner')],
      managed: [1, 9],
      removeUnmanaged: true,
    });
    assert.deepEqual(unwanted, empty);
  });

  void test('the community itself is never removed or reported', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [] },
      actual: [member(1), member(-555, 'admin')],
      managed: [1],
      removeUnmanaged: true,
      selfId: -555,
    });
    assert.deepEqual(diff, empty);
  });

  void test('P2: a member whose VK ID was unlinked is removed and loses admin rights with the removal', () => {
    const diff = diffMembers({
      desired: { members: [1], admins: [1] },
      actual: [member(1, 'admin'), member(2, 'admin')],
      managed: [1, 2],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, remove: [2] });
  });

  void test('every list comes back sorted', () => {
    const diff = diffMembers({
      desired: { members: [30, 10, 20], admins: [30, 10] },
      actual: [member(50), member(40)],
      managed: [50, 40],
      removeUnmanaged: false,
    });
    assert.deepEqual(diff, { ...empty, add: [10, 20, 30], promote: [10, 30], remove: [40, 50] });
  });
});
