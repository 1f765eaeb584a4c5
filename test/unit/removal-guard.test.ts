import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MASS_REMOVAL_FLOOR, guardRemovals, type GuardChat } from '../../src/domain/removal-guard';

/** The mass-removal guard: what of a plan it holds, and what it lets through (C3). */

const ids = (from: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => from + i);

const chat = (key: string, removed: number[], retire = false): GuardChat => ({
  key,
  kind: key.startsWith('subject') ? 'subject' : 'classStudents',
  retire,
  removed,
});

void describe('mass-removal guard', () => {
  void test('C3: a mass removal holds the removals of every chat that has some, and no chat without', () => {
    const verdict = guardRemovals({
      chats: [
        chat('class-students:c1', ids(1, 20)),
        chat('class-students:c2', []),
        chat('subject:j1', ids(1, 5)),
      ],
      managedMembers: 100,
      threshold: 0.1,
    });
    assert.equal(verdict.clear, false);
    assert.equal(verdict.massRemoval, true);
    assert.equal(verdict.reason, 'massRemoval');
    assert.equal(verdict.removals, 25);
    assert.equal(verdict.people, 20);
    assert.deepEqual(verdict.chats, [
      { chatKey: 'class-students:c1', kind: 'classStudents', removals: 20, retire: false },
      { chatKey: 'subject:j1', kind: 'subject', removals: 5, retire: false },
    ]);
  });

  void test(`C3: removals concerning at most ${MASS_REMOVAL_FLOOR} people are never a mass removal, whatever their share`, () => {
    // One family of three children leaving a small school: many memberships, few people.
    const family = ids(1, 5);
    const verdict = guardRemovals({
      chats: [
        chat('class-students:c1', family),
        chat('subject:j1', family),
        chat('subject:j2', family),
      ],
      managedMembers: 40,
      threshold: 0.1,
    });
    assert.equal(verdict.clear, true);
    assert.equal(verdict.massRemoval, false);
    const eleven = guardRemovals({
      chats: [chat('class-students:c1', ids(1, MASS_REMOVAL_FLOOR + 1))],
      managedMembers: 40,
      threshold: 0.1,
    });
    assert.equal(eleven.massRemoval, true);
  });

  void test('C3: a retired chat is held alone; removals under the threshold elsewhere go ahead', () => {
    const verdict = guardRemovals({
      chats: [chat('class-students:c1', ids(1, 3)), chat('subject:j9', ids(50, 12), true)],
      managedMembers: 1000,
      threshold: 0.1,
    });
    assert.equal(verdict.clear, false);
    assert.equal(verdict.massRemoval, false);
    assert.equal(verdict.reason, 'chatRemoval');
    assert.equal(verdict.chatsRemoved, 1);
    assert.equal(verdict.removals, 12);
    assert.deepEqual(
      verdict.chats.map((c) => c.chatKey),
      ['subject:j9'],
    );
  });

  void test('C3: removals under the threshold hold nothing', () => {
    const verdict = guardRemovals({
      chats: [chat('class-students:c1', ids(1, 30))],
      managedMembers: 1000,
      threshold: 0.1,
    });
    assert.equal(verdict.clear, true);
    assert.deepEqual(verdict.chats, []);
  });
});
