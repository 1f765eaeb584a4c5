import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorType, TypedError } from '../../src/contracts/errors';
import { buildExecuteCode } from '../../src/messenger/execute-code';
import { SlidingWindowLimiter } from '../../src/messenger/rate-limiter';
import type {
  BatchCall,
  ChatMember,
  ChatRole,
  FollowUp,
  Messenger,
  MemberOp,
  OpResult,
  Outcome,
} from '../../src/messenger/port';
import { createVkMessenger } from '../../src/messenger/vk-client';
import { VkApiError } from '../../src/messenger/vk-errors';
import { COMMUNITY_ID, control, rawCall, startPlatform, type Platform } from './vk-harness';

/** Runs `fn` with a platform and a client on it, closing both whatever happens. */
async function withClient(
  fn: (p: Platform, m: Messenger) => Promise<void>,
  args: Parameters<typeof startPlatform>[0] = {},
): Promise<void> {
  const platform = await startPlatform(args);
  const messenger = createVkMessenger(platform.settings);
  try {
    await fn(platform, messenger);
  } finally {
    await messenger.close();
    await platform.emulator.close();
  }
}

async function rejectsTyped(
  promise: Promise<unknown>,
  type: ErrorType,
  code?: number,
): Promise<TypedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TypedError, `expected a TypedError, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    if (code !== undefined) {
      assert.ok(err instanceof VkApiError, err.message);
      assert.equal(err.code, code);
    }
    return err;
  }
  assert.fail(`expected ${type}, but the call succeeded`);
}

const executeRequests = (p: Platform): number => p.emulator.stats.byMethod.execute ?? 0;

/** Every member of each chat, read through `run`: per chat its outcome (`null`: the chat is gone). */
async function readMembers(
  m: Messenger,
  chatIds: readonly number[],
): Promise<Map<number, Outcome<readonly ChatMember[] | null>>> {
  const read = new Map<number, Outcome<readonly ChatMember[] | null>>();
  await m.run({
    calls: chatIds.map((chatId): BatchCall => ({
      kind: 'members',
      chatId,
      then: (outcome) => {
        read.set(chatId, outcome);
        return undefined;
      },
    })),
  });
  return read;
}

/** A chat's members as read through `run`, failing the test on a refused read. */
function membersOf(
  read: ReadonlyMap<number, Outcome<readonly ChatMember[] | null>>,
  chatId: number,
): readonly ChatMember[] | null | undefined {
  const outcome = read.get(chatId);
  if (outcome === undefined) return undefined;
  assert.ok(outcome.ok, `read of chat ${chatId} failed`);
  return outcome.value;
}

/** Role changes through `run`: one result per op, in order. */
async function setRoles(
  m: Messenger,
  ops: readonly (MemberOp & { role: ChatRole })[],
): Promise<OpResult[]> {
  const results = new Array<OpResult>(ops.length);
  await m.run({
    calls: ops.map((op, i): BatchCall => ({
      kind: 'role',
      ...op,
      then: (outcome) => {
        results[i] = outcome;
        return undefined;
      },
    })),
  });
  return results;
}

void describe('VK client against the emulator: methods', () => {
  void it('createChat accepts both documented shapes and chat ids are local to the community', async () => {
    await withClient(async (p, m) => {
      const first = await m.createChat({ title: 'Учительская', userIds: [11, 12] });
      assert.deepEqual(first, { chatId: 1 });
      p.emulator.setOptions({ createChatShape: 'number' });
      const second = await m.createChat({ title: '5А — родители', userIds: [13] });
      assert.deepEqual(second, { chatId: 2 });

      const otherToken = 'vk1.a.other-community-token';
      p.emulator.addCommunity(777, otherToken);
      const other = createVkMessenger({ ...p.settings, communityId: 777, token: otherToken });
      try {
        assert.deepEqual(await other.createChat({ title: 'Другая школа', userIds: [11] }), {
          chatId: 1,
        });
      } finally {
        await other.close();
      }
      const chat = p.emulator
        .snapshot()
        .chats.find((c) => c.communityId === COMMUNITY_ID && c.chatId === 1);
      assert.equal(chat?.peerId, 2_000_000_001);
      assert.deepEqual(chat?.admins, [-COMMUNITY_ID]);
      assert.deepEqual(
        chat?.members.map((x) => x.memberId),
        [-COMMUNITY_ID, 11, 12],
      );
    });
  });

  void it('listChats pages through getConversations and returns only chats, with titles', async () => {
    await withClient(async (p, m) => {
      for (let i = 1; i <= 205; i++) {
        await control(p.emulator, 'chats', {
          communityId: COMMUNITY_ID,
          title: `Чат ${i}`,
          memberIds: [i],
        });
      }
      const chats = await m.listChats();
      assert.equal(chats.length, 205);
      assert.equal(p.emulator.stats.byMethod['messages.getConversations'], 2);
      const chat7 = chats.find((c) => c.chatId === 7);
      assert.deepEqual(chat7, { chatId: 7, title: 'Чат 7', membersCount: 2 });
    });
  });

  void it('members reads batch many chats, page big chats and map a missing chat to null', async () => {
    await withClient(async (p, m) => {
      const chatIds: number[] = [];
      for (let i = 0; i < 30; i++) {
        chatIds.push(
          (await m.createChat({ title: `Класс ${i}`, userIds: [100 + i, 200 + i] })).chatId,
        );
      }
      const big = Array.from({ length: 1500 }, (_, i) => 10_000 + i);
      const { chatId: bigChat } = (await control(p.emulator, 'chats', {
        communityId: COMMUNITY_ID,
        title: 'Большой чат',
        memberIds: big,
      })) as { chatId: number };
      const before = executeRequests(p);
      const members = await readMembers(m, [...chatIds, bigChat, 9999]);
      // 32 chats → 2 executes for page one, then 1 for the big chat's second page.
      assert.equal(executeRequests(p) - before, 3);
      assert.equal(membersOf(members, 9999), null);
      assert.deepEqual(membersOf(members, chatIds[3]!), [
        { memberId: -COMMUNITY_ID, isAdmin: true, isOwner: true },
        { memberId: 103, isAdmin: false, isOwner: false },
        { memberId: 203, isAdmin: false, isOwner: false },
      ]);
      const bigMembers = membersOf(members, bigChat);
      assert.equal(bigMembers?.length, 1501);
      assert.equal(new Set(bigMembers?.map((x) => x.memberId)).size, 1501);
    });
  });

  void it('addMembers sends 25 calls per execute and maps each failure back to its own item', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Учительская', userIds: [] });
      const ops: MemberOp[] = Array.from({ length: 60 }, (_, i) => ({ chatId, userId: 500 + i }));
      // Items 7 and 40 name a chat that does not exist; 52 names an invalid user.
      ops[7] = { chatId: 404, userId: 1 };
      ops[40] = { chatId: 405, userId: 1 };
      ops[52] = { chatId, userId: -5 };
      const results = await m.addMembers({ ops });
      assert.equal(executeRequests(p), 3);
      assert.equal(results.length, 60);
      results.forEach((r, i) => {
        if (i === 7 || i === 40)
          assert.deepEqual(
            [r.ok, !r.ok && r.code, !r.ok && r.type],
            [false, 927, ErrorType.MessengerNotFound],
          );
        else if (i === 52)
          assert.deepEqual(
            [r.ok, !r.ok && r.code, !r.ok && r.type],
            [false, 113, ErrorType.MessengerBadRequest],
          );
        else assert.deepEqual(r, { ok: true }, `item ${i}`);
      });
      const chat = p.emulator.snapshot().chats.find((c) => c.chatId === chatId);
      assert.equal(chat?.members.length, 1 + 57);
    });
  });

  void it('execute with 25 calls is one request; 26 items go out as two', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [] });
      const ops = (n: number, from: number): MemberOp[] =>
        Array.from({ length: n }, (_, i) => ({ chatId, userId: from + i }));
      await m.addMembers({ ops: ops(25, 1000) });
      assert.equal(executeRequests(p), 1);
      await m.addMembers({ ops: ops(26, 2000) });
      assert.equal(executeRequests(p), 3);
      assert.throws(
        () =>
          buildExecuteCode(
            ops(26, 0).map((o) => ({
              method: 'messages.addChatUser',
              params: { chat_id: o.chatId, user_id: o.userId },
            })),
          ),
        RangeError,
      );
    });
  });

  void it('a raw execute with 26 calls is refused with error 13 after the first 25 took effect', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [] });
      const calls = Array.from(
        { length: 26 },
        (_, i) => `API.messages.addChatUser({"chat_id":${chatId},"user_id":${3000 + i}})`,
      );
      const { json } = await rawCall(p.emulator, 'execute', {
        code: `return [${calls.join(',')}];`,
        v: '5.199',
        access_token: p.token,
      });
      const error = json.error as { error_code: number; error_msg: string };
      assert.equal(error.error_code, 13);
      assert.match(error.error_msg, /too many API calls/);
      // VKScript runs call by call, so the script is not atomic: a retry must be idempotent.
      assert.equal(p.emulator.snapshot().chats[0]?.members.length, 1 + 25);
    });
  });

  void it('removeMembers removes by member_id and reports a member not in the chat (935) per item', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [1, 2, 3] });
      const results = await m.removeMembers({
        ops: [
          { chatId, userId: 2 },
          { chatId, userId: 99 },
          { chatId, userId: 3 },
        ],
      });
      assert.deepEqual(results[0], { ok: true });
      assert.equal(results[1]?.ok === false && results[1].code, 935);
      assert.deepEqual(results[2], { ok: true });
      assert.deepEqual(
        p.emulator.snapshot().chats[0]?.members.map((x) => x.memberId),
        [-COMMUNITY_ID, 1],
      );
    });
  });

  void it('role calls promote and demote; the owner cannot be demoted', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [1, 2] });
      const results = await setRoles(m, [
        { chatId, userId: 1, role: 'admin' },
        { chatId, userId: 2, role: 'admin' },
        { chatId, userId: 2, role: 'member' },
        { chatId, userId: -COMMUNITY_ID, role: 'member' },
      ]);
      assert.deepEqual(results.slice(0, 3), [{ ok: true }, { ok: true }, { ok: true }]);
      assert.equal(results[3]?.ok === false && results[3].code, 925);
      assert.deepEqual(p.emulator.snapshot().chats[0]?.admins, [-COMMUNITY_ID, 1]);
    });
  });

  void it('run packs chat creations and the admin rights that follow them 25 to an execute: 30 chats and 60 admins in ceil(90 / 25) = 4 requests', async () => {
    await withClient(async (p, m) => {
      const promoted: number[] = [];
      const created: number[] = [];
      const calls: BatchCall[] = Array.from({ length: 30 }, (_, i) => ({
        kind: 'create',
        title: `Класс ${i}`,
        userIds: [100 + i, 200 + i, 300 + i],
        then: (outcome): FollowUp => {
          assert.ok(outcome.ok, `create ${i}`);
          const { chatId, added } = outcome.value;
          created.push(chatId);
          assert.deepEqual(added, [100 + i, 200 + i, 300 + i]);
          return [100 + i, 200 + i].map((userId): BatchCall => ({
            kind: 'role',
            chatId,
            userId,
            role: 'admin',
            then: (r) => {
              assert.deepEqual(r, { ok: true });
              promoted.push(userId);
              return undefined;
            },
          }));
        },
      }));
      await m.run({ calls });
      assert.equal(p.emulator.stats.requests, 4);
      assert.equal(executeRequests(p), 4);
      assert.equal(p.emulator.stats.innerCalls, 90);
      assert.equal(created.length, 30);
      assert.equal(promoted.length, 60);
      for (const chat of p.emulator.snapshot().chats) {
        const i = Number(chat.title.split(' ')[1]);
        assert.deepEqual(chat.admins, [-COMMUNITY_ID, 100 + i, 200 + i]);
        assert.equal(chat.members.length, 4);
      }
    });
  });

  void it('run reads members page by page, a missing chat as null, and sends the writes a read returns; an item refused reaches its own then', async () => {
    await withClient(async (p, m) => {
      const { chatId: small } = await m.createChat({ title: 'Малый', userIds: [1, 2] });
      const big = Array.from({ length: 1500 }, (_, i) => 10_000 + i);
      const { chatId: large } = (await control(p.emulator, 'chats', {
        communityId: COMMUNITY_ID,
        title: 'Большой',
        memberIds: big,
      })) as { chatId: number };
      const read = new Map<number, number | null>();
      const outcomes: OpResult[] = [];
      const members = (chatId: number): BatchCall => ({
        kind: 'members',
        chatId,
        then: (outcome) => {
          assert.ok(outcome.ok);
          read.set(chatId, outcome.value?.length ?? null);
          if (chatId !== small) return undefined;
          return [3, -5].map((userId): BatchCall => ({
            kind: 'add',
            chatId,
            userId,
            then: (r) => {
              outcomes.push(r);
              return undefined;
            },
          }));
        },
      });
      const before = executeRequests(p);
      await m.run({ calls: [members(small), members(large), members(9999)] });
      // Page one of all three, then the big chat's second page with the two adds.
      assert.equal(executeRequests(p) - before, 2);
      assert.deepEqual(Object.fromEntries(read), { [small]: 3, [large]: 1501, 9999: null });
      assert.deepEqual(outcomes[0], { ok: true });
      assert.equal(outcomes[1]?.ok === false && outcomes[1].code, 113);
    });
  });

  void it('run: a request lost as a whole fails only the calls it carried, retryably; a refused token rejects the run', async () => {
    await withClient(async (p, m) => {
      const results: OpResult[] = [];
      const add = (chatId: number, userId: number): BatchCall => ({
        kind: 'add',
        chatId,
        userId,
        then: (r) => {
          results.push(r);
          return undefined;
        },
      });
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [] });
      p.emulator.setFaults({ errorRate10: 1 });
      await m.run({ calls: [add(chatId, 1), add(chatId, 2)] });
      p.emulator.setFaults({ errorRate10: 0 });
      assert.deepEqual(
        results.map((r) => !r.ok && [r.code, r.type]),
        [
          [10, ErrorType.MessengerUnavailable],
          [10, ErrorType.MessengerUnavailable],
        ],
      );

      const refused = createVkMessenger({ ...p.settings, token: 'vk1.a.not-a-token' });
      try {
        await rejectsTyped(refused.run({ calls: [add(chatId, 3)] }), ErrorType.MessengerAuth, 5);
      } finally {
        await refused.close();
      }
    });
  });

  void it('send with the same random_id lands once and returns the original message id', async () => {
    await withClient(async (p, m) => {
      const { chatId } = await m.createChat({ title: 'Чат', userIds: [1] });
      const first = await m.messagesSend({
        chatId,
        message: 'Урок начался: https://vk.com/call/join/x',
        randomId: 7001,
      });
      const again = await m.messagesSend({
        chatId,
        message: 'Урок начался: https://vk.com/call/join/x',
        randomId: 7001,
      });
      const other = await m.messagesSend({ chatId, message: 'Второе сообщение', randomId: 7002 });
      assert.equal(again.messageId, first.messageId);
      assert.notEqual(other.messageId, first.messageId);
      assert.equal(p.emulator.snapshot().messages.length, 2);
    });
  });

  void it('startCall returns a UUID call id and a full join link, whichever link form the platform sends', async () => {
    await withClient(async (p, m) => {
      const call = await m.callsStart();
      assert.match(call.callId, /^[0-9a-f-]{36}$/);
      assert.match(call.joinLink, /^https:\/\/vk\.com\/call\/join\/[\w-]+$/);
      p.emulator.setOptions({ joinLinkShape: 'token' });
      const bare = await m.callsStart();
      assert.match(bare.joinLink, /^https:\/\/vk\.com\/call\/join\/[\w-]+$/);
      const state = p.emulator.snapshot().calls;
      assert.deepEqual(
        state.map((c) => [c.status, c.joinLink]),
        [
          ['active', call.joinLink],
          ['active', bare.joinLink],
        ],
      );
    });
  });

  void it('callsForceFinish ends an active call, and reports alreadyEnded when it was ended in Sferum (V5)', async () => {
    await withClient(async (p, m) => {
      const a = await m.callsStart();
      const b = await m.callsStart();
      assert.deepEqual(await m.callsForceFinish({ callId: a.callId }), { alreadyEnded: false });
      assert.deepEqual(await m.callsForceFinish({ callId: a.callId }), { alreadyEnded: true });
      await control(p.emulator, 'calls/finish', { callId: b.callId });
      assert.deepEqual(await m.callsForceFinish({ callId: b.callId }), { alreadyEnded: true });
      assert.deepEqual(
        p.emulator.snapshot().calls.map((c) => c.finishedBy),
        ['api', 'platform'],
      );
      await rejectsTyped(m.callsForceFinish({ callId: 'short' }), ErrorType.InvalidInput);
    });
  });
});

void describe('VK client against the emulator: error classes', () => {
  let p: Platform;
  let m: Messenger;
  let chatId: number;
  before(async () => {
    p = await startPlatform();
    m = createVkMessenger(p.settings);
    chatId = (await m.createChat({ title: 'Чат', userIds: [1, 2] })).chatId;
  });
  after(async () => {
    await m.close();
    await p.emulator.close();
  });

  void it('a refused token is MessengerAuth (5), with the token nowhere in the error', async () => {
    const bad = createVkMessenger({ ...p.settings, token: 'vk1.a.this-token-was-revoked' });
    try {
      const err = await rejectsTyped(bad.listChats(), ErrorType.MessengerAuth, 5);
      assert.equal(err.nonRetryable, true);
      const dump = JSON.stringify({ message: err.message, details: err.details, stack: err.stack });
      assert.ok(!dump.includes('this-token-was-revoked'));
      assert.ok(err instanceof VkApiError);
      assert.ok(!err.requestParams.some((x) => x.key === 'access_token'));
    } finally {
      await bad.close();
    }
  });

  void it('a method a community token may not call is MessengerAuth (27) per item', async () => {
    p.emulator.setOptions({ groupTokenCanAddMembers: false });
    try {
      const [r] = await m.addMembers({ ops: [{ chatId, userId: 3 }] });
      assert.deepEqual(r?.ok === false && [r.code, r.type], [27, ErrorType.MessengerAuth]);
    } finally {
      p.emulator.setOptions({ groupTokenCanAddMembers: true });
    }
  });

  void it('a rejected parameter is MessengerBadRequest (100)', async () => {
    const err = await rejectsTyped(
      m.createChat({ title: '   ', userIds: [] }),
      ErrorType.MessengerBadRequest,
      100,
    );
    assert.match(err.message, /title is undefined/);
  });

  void it('not admin is MessengerForbidden (925); a chat we cannot read is 917', async () => {
    const { chatId: foreign } = (await control(p.emulator, 'chats', {
      communityId: COMMUNITY_ID,
      title: 'Чужой чат',
      ownerId: 50,
      memberIds: [50, 51],
      communityRole: 'member',
    })) as { chatId: number };
    const [r] = await m.removeMembers({ ops: [{ chatId: foreign, userId: 51 }] });
    assert.deepEqual(r?.ok === false && [r.code, r.type], [925, ErrorType.MessengerForbidden]);
    const read = (await readMembers(m, [foreign])).get(foreign);
    assert.deepEqual(read?.ok === false && [read.code, read.type], [
      917,
      ErrorType.MessengerForbidden,
    ]);
    assert.ok(!(await m.listChats()).some((c) => c.chatId === foreign));
  });

  void it('a missing, disabled or deleted chat is MessengerNotFound (927, 945, 1017)', async () => {
    await rejectsTyped(
      m.messagesSend({ chatId: 31337, message: 'x', randomId: 1 }),
      ErrorType.MessengerNotFound,
      927,
    );
    const { chatId: doomed } = await m.createChat({ title: 'Скоро удалят', userIds: [1] });
    await control(p.emulator, 'chats/update', {
      communityId: COMMUNITY_ID,
      chatId: doomed,
      disabled: true,
    });
    const [disabled] = await m.addMembers({ ops: [{ chatId: doomed, userId: 5 }] });
    assert.equal(disabled?.ok === false && disabled.code, 945);
    await control(p.emulator, 'chats/update', {
      communityId: COMMUNITY_ID,
      chatId: doomed,
      disabled: false,
      deleted: true,
    });
    assert.equal(membersOf(await readMembers(m, [doomed]), doomed), null);
    const [deleted] = await m.removeMembers({ ops: [{ chatId: doomed, userId: 1 }] });
    assert.deepEqual(deleted?.ok === false && [deleted.code, deleted.type], [
      1017,
      ErrorType.MessengerNotFound,
    ]);
  });

  void it('over the rate limit is MessengerRateLimited (6), retryable with a short back-off', async () => {
    // A private limiter far above the emulator's 20/s: the platform, not the client, says no.
    const greedy = createVkMessenger(p.settings, { limiter: new SlidingWindowLimiter(1000) });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, () => greedy.listChats()),
      );
      const refused = results
        .filter((r) => r.status === 'rejected')
        .map((r) => r.reason as VkApiError);
      assert.ok(refused.length >= 10, `expected refusals, got ${refused.length}`);
      for (const err of refused) {
        assert.equal(err.code, 6);
        assert.equal(err.type, ErrorType.MessengerRateLimited);
        assert.equal(err.nonRetryable, false);
        assert.equal(err.retryDelayMs, 1200);
      }
    } finally {
      await greedy.close();
      await new Promise((r) => setTimeout(r, 1100));
    }
  });

  void it('flood control is MessengerRateLimited (9) with a long back-off hint', async () => {
    p.emulator.setOptions({ floodActionsPerMinute: 1 });
    try {
      await m.messagesSend({ chatId, message: 'one', randomId: 501 });
      const err = await rejectsTyped(
        m.messagesSend({ chatId, message: 'two', randomId: 502 }),
        ErrorType.MessengerRateLimited,
        9,
      );
      assert.ok(err instanceof VkApiError);
      assert.equal(err.retryDelayMs, 60_000);
    } finally {
      p.emulator.setOptions({ floodActionsPerMinute: 0 });
    }
  });

  void it('error 10, HTTP 502 and dropped connections are MessengerUnavailable and retryable', async () => {
    try {
      p.emulator.setFaults({ errorRate10: 1 });
      const e10 = await rejectsTyped(m.listChats(), ErrorType.MessengerUnavailable, 10);
      assert.equal(e10.nonRetryable, false);
      p.emulator.setFaults({ errorRate10: 0, http502Rate: 1 });
      assert.match(
        (await rejectsTyped(m.listChats(), ErrorType.MessengerUnavailable)).message,
        /HTTP 502/,
      );
      p.emulator.setFaults({ http502Rate: 0, dropBeforeRate: 1 });
      assert.match(
        (await rejectsTyped(m.listChats(), ErrorType.MessengerUnavailable)).message,
        /network error/,
      );
      p.emulator.setFaults({ dropBeforeRate: 0, dropAfterRate: 1 });
      await rejectsTyped(
        m.messagesSend({ chatId, message: 'lost reply', randomId: 9001 }),
        ErrorType.MessengerUnavailable,
      );
      p.emulator.setFaults({ dropAfterRate: 0 });
      // The action happened although the reply was lost; the retry with the same random_id finds it.
      const retried = await m.messagesSend({ chatId, message: 'lost reply', randomId: 9001 });
      const sent = p.emulator.snapshot().messages.filter((x) => x.randomId === '9001');
      assert.equal(sent.length, 1);
      assert.equal(retried.messageId, sent[0]?.conversationMessageId);
    } finally {
      p.emulator.setFaults({ errorRate10: 0, http502Rate: 0, dropBeforeRate: 0, dropAfterRate: 0 });
    }
  });

  void it('an unreachable API is MessengerUnavailable', async () => {
    const dead = createVkMessenger({ ...p.settings, baseUrl: 'http://127.0.0.1:1' });
    try {
      await rejectsTyped(dead.listChats(), ErrorType.MessengerUnavailable);
    } finally {
      await dead.close();
    }
  });
});

void describe('VK client against the emulator: rate limit', () => {
  void it('a raw burst over 20/s gets error 6 from the emulator', async () => {
    const p = await startPlatform();
    try {
      const replies = await Promise.all(
        Array.from({ length: 30 }, () =>
          rawCall(p.emulator, 'messages.getConversations', { v: '5.199', access_token: p.token }),
        ),
      );
      const codes = replies.map(
        (r) => (r.json.error as { error_code?: number } | undefined)?.error_code ?? 0,
      );
      assert.equal(codes.filter((c) => c === 0).length, 20);
      assert.equal(codes.filter((c) => c === 6).length, 10);
    } finally {
      await p.emulator.close();
    }
  });

  void it('the client limiter keeps a long run (70 requests, several windows) free of error 6', async () => {
    const p = await startPlatform();
    const m = createVkMessenger(p.settings);
    try {
      const started = Date.now();
      await Promise.all(Array.from({ length: 70 }, () => m.listChats()));
      const elapsed = Date.now() - started;
      assert.equal(p.emulator.stats.errors['6'] ?? 0, 0);
      assert.equal(p.emulator.stats.requests, 70);
      // 70 requests at 20 per sliding second need at least three full windows after the first burst.
      assert.ok(elapsed >= 3000, `finished too fast for the limit: ${elapsed} ms`);
    } finally {
      await m.close();
      await p.emulator.close();
    }
  });
});
