import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorType, TypedError } from '../../src/contracts/errors';
import type { RawPlatformEvent } from '../../src/contracts/platform-events';
import {
  createLongPollClient,
  type LongPollCheck,
  type LongPollClient,
} from '../../src/messenger/long-poll';
import { interpretPlatformEvent } from '../../src/messenger/platform-events';
import { createVkMessenger } from '../../src/messenger/vk-client';
import { COMMUNITY_ID, control, startPlatform, type Platform } from './vk-harness';

/**
 * C3, V5: the product's Bots Long Poll client against the emulator over HTTP: ts resumption,
 * failed 1/2/3, the wait hold, a malformed answer, the LP server down, a redelivery, the school's
 * proxy; and a call ended by hand reaching us as the facts the interpretation gives.
 */

const TEACHER = 501;

async function newChat(p: Platform, memberIds: number[] = [TEACHER]): Promise<number> {
  const chat = await control(p.emulator, 'chats', {
    communityId: COMMUNITY_ID,
    title: 'Физика 7А',
    ownerId: TEACHER,
    memberIds,
    communityRole: 'admin',
  });
  return chat.chatId as number;
}

/** A person adds someone by hand: one `message_new` with chat_invite_user. */
async function addByHand(p: Platform, chatId: number, userId: number): Promise<void> {
  await control(p.emulator, 'person/members/add', { communityId: COMMUNITY_ID, chatId, userId });
}

function updates(check: LongPollCheck): readonly RawPlatformEvent[] {
  assert.equal(check.kind, 'updates', JSON.stringify(check));
  return check.kind === 'updates' ? check.events : [];
}

async function typed(promise: Promise<unknown>, type: string): Promise<TypedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TypedError, String(err));
    assert.equal(err.type, type, err.message);
    return err;
  }
  assert.fail(`expected ${type}`);
}

void describe('Bots Long Poll client against the emulator (C3, V5)', () => {
  let p: Platform;
  let lp: LongPollClient;
  before(async () => {
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
    lp = createLongPollClient(p.settings);
  });
  after(async () => {
    await lp.close();
    await p.emulator.close();
  });

  void it("C3: getLongPollServer gives a key, the emulator's LP URL and the ts to start from", async () => {
    const server = await lp.getServer({ groupId: COMMUNITY_ID });
    assert.equal(server.server, `${p.emulator.url}/__lp/${COMMUNITY_ID}`);
    assert.match(server.key, /^[0-9a-f]{40}$/);
    assert.match(server.ts, /^\d+$/);
    const other = await typed(
      lp.getServer({ groupId: COMMUNITY_ID + 1 }),
      ErrorType.MessengerBadRequest,
    );
    assert.match(other.message, /group_id/);
  });

  void it('C3: ts resumption hands out every event once, in order, across checks', async () => {
    const chatId = await newChat(p);
    const { server, key, ts: start } = await lp.getServer({ groupId: COMMUNITY_ID });
    let ts = start;
    const seen: RawPlatformEvent[] = [];
    const expected: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < round + 1; i++) {
        const userId = 1000 + round * 10 + i;
        expected.push(userId);
        await addByHand(p, chatId, userId);
      }
      const check = await lp.check({ server, key, ts, wait: 1 });
      seen.push(...updates(check));
      assert.equal(check.kind === 'updates' && check.dropped, 0);
      if (check.kind === 'updates') ts = check.ts;
    }
    const empty = await lp.check({ server, key, ts, wait: 1 });
    assert.deepEqual(updates(empty), []);
    assert.equal(empty.kind === 'updates' && empty.ts, ts, 'an empty answer keeps the ts');
    const ids = seen.map((e) => e.event_id);
    assert.equal(new Set(ids).size, ids.length, 'no event handed out twice');
    const members = seen.map((e) => {
      const facts = interpretPlatformEvent(e);
      assert.equal(facts[0]?.kind, 'membersChanged');
      return facts[0]?.kind === 'membersChanged' ? facts[0].memberId : undefined;
    });
    assert.deepEqual(members, expected);
  });

  void it('C3: a check with no events waits until one comes, then answers at once with it', async () => {
    const chatId = await newChat(p);
    const { server, key, ts } = await lp.getServer({ groupId: COMMUNITY_ID });
    let answered = false;
    const pending = lp.check({ server, key, ts, wait: 60 }).finally(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(answered, false, 'the server held the request');
    await addByHand(p, chatId, 2001);
    const events = updates(await pending);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'message_new');
  });

  void it('C3: the client gives up a held check when its signal aborts', async () => {
    const { server, key, ts } = await lp.getServer({ groupId: COMMUNITY_ID });
    const abort = new AbortController();
    const pending = lp.check({ server, key, ts, wait: 60, signal: abort.signal });
    abort.abort();
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
  });

  void it('C3: failed 1 when the ts is older than the history kept; the answer ts goes on', async () => {
    const q = await startPlatform({ options: { rateLimitPerSecond: 1000, longPollHistory: 3 } });
    const client = createLongPollClient(q.settings);
    try {
      const chatId = await newChat(q);
      const { server, key, ts } = await client.getServer({ groupId: COMMUNITY_ID });
      for (let i = 0; i < 5; i++) await addByHand(q, chatId, 3000 + i);
      const lost = await client.check({ server, key, ts, wait: 1 });
      assert.equal(lost.kind, 'historyLost');
      const from = lost.kind === 'historyLost' ? lost.ts : ts;
      await addByHand(q, chatId, 3100);
      const after = updates(await client.check({ server, key, ts: from, wait: 1 }));
      assert.equal(after.length, 1, 'only what came after the failed answer');
    } finally {
      await client.close();
      await q.emulator.close();
    }
  });

  void it('C3: failed 2 when the key expired; a new key goes on from our ts without loss', async () => {
    const chatId = await newChat(p);
    const first = await lp.getServer({ groupId: COMMUNITY_ID });
    p.emulator.setOptions({ longPollKeyTtlMs: 1 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await addByHand(p, chatId, 4001);
      const expired = await lp.check({ ...first, wait: 1 });
      assert.deepEqual(expired, { kind: 'keyExpired' });
    } finally {
      p.emulator.setOptions({ longPollKeyTtlMs: 3_600_000 });
    }
    const fresh = await lp.getServer({ groupId: COMMUNITY_ID });
    const events = updates(await lp.check({ ...fresh, ts: first.ts, wait: 1 }));
    assert.equal(events.length, 1, 'the event of the expired key is still handed out');
  });

  void it('C3: failed 3 when the ts is ahead of the platform (its history was lost)', async () => {
    const { server, key, ts } = await lp.getServer({ groupId: COMMUNITY_ID });
    const ahead = String(Number(ts) + 50);
    assert.deepEqual(await lp.check({ server, key, ts: ahead, wait: 1 }), { kind: 'infoLost' });
  });

  void it('C3: each failed answer can be forced once, through the control endpoint', async () => {
    const s = await lp.getServer({ groupId: COMMUNITY_ID });
    for (const fault of ['failed1', 'failed2', 'failed3'] as const) {
      await control(p.emulator, 'longpoll/strike', { fault });
    }
    assert.equal((await lp.check({ ...s, wait: 1 })).kind, 'historyLost');
    assert.equal((await lp.check({ ...s, wait: 1 })).kind, 'keyExpired');
    assert.equal((await lp.check({ ...s, wait: 1 })).kind, 'infoLost');
    assert.equal((await lp.check({ ...s, wait: 0 })).kind, 'updates');
  });

  void it('C3: a malformed answer is a LongPollMalformed error that never shows the key', async () => {
    const s = await lp.getServer({ groupId: COMMUNITY_ID });
    p.emulator.strikeLongPoll('malformed');
    const err = await typed(lp.check({ ...s, wait: 1 }), ErrorType.LongPollMalformed);
    const dump = JSON.stringify({ m: err.message, d: err.details, s: err.stack });
    assert.equal(dump.includes(s.key), false, 'the LP key leaked into the error');
    assert.equal(dump.includes(p.token), false, 'the token leaked into the error');
  });

  void it('C3: the LP server down (502 or a dropped connection) is MessengerUnavailable', async () => {
    const s = await lp.getServer({ groupId: COMMUNITY_ID });
    for (const down of ['http502', 'drop'] as const) {
      p.emulator.setFaults({ longPollDown: down });
      try {
        const err = await typed(lp.check({ ...s, wait: 1 }), ErrorType.MessengerUnavailable);
        assert.equal(err.message.includes(s.key), false);
      } finally {
        p.emulator.setFaults({ longPollDown: null });
      }
    }
    assert.equal((await lp.check({ ...s, wait: 0 })).kind, 'updates', 'back once it is up');
  });

  void it('C3: a redelivery hands the same event_id out twice; event_id is the key to drop it by', async () => {
    const chatId = await newChat(p);
    const s = await lp.getServer({ groupId: COMMUNITY_ID });
    p.emulator.strikeLongPoll('duplicate');
    await addByHand(p, chatId, 5001);
    const first = await lp.check({ ...s, wait: 1 });
    const again = await lp.check({ ...s, ts: first.kind === 'updates' ? first.ts : s.ts, wait: 1 });
    assert.deepEqual(
      updates(again).map((e) => e.event_id),
      updates(first).map((e) => e.event_id),
    );
  });

  void it('V5: a call ended by hand reaches us as callEnded facts; forceFinish then finds it ended', async () => {
    const chatId = await newChat(p);
    const m = createVkMessenger(p.settings);
    try {
      const s = await lp.getServer({ groupId: COMMUNITY_ID });
      const call = await m.callsStart();
      await m.messagesSend({ chatId, message: `Подключиться: ${call.joinLink}`, randomId: 77 });
      const posted = updates(await lp.check({ ...s, wait: 1 }));
      const ts = String(Number(s.ts) + posted.length);
      assert.equal(posted.length, 1);
      assert.deepEqual(interpretPlatformEvent(posted[0]), [], 'our own post is no fact');
      assert.match(JSON.stringify(posted[0]), /group_call_in_progress/);

      await control(p.emulator, 'person/calls/end', { callId: call.callId });
      const ended = updates(await lp.check({ ...s, ts, wait: 1 }));
      assert.deepEqual(
        ended.map((e) => e.type),
        ['message_edit', 'message_new'],
      );
      const facts = ended.flatMap((e) => interpretPlatformEvent(e));
      assert.deepEqual(
        facts.map((f) => f.kind === 'callEnded' && [f.signal, f.peerId]),
        [
          ['inProgressGone', 2_000_000_000 + chatId],
          ['callMessage', 2_000_000_000 + chatId],
        ],
      );
      assert.equal(facts[0]?.kind === 'callEnded' && facts[0].joinLink, call.joinLink);
      assert.deepEqual(await m.callsForceFinish({ callId: call.callId }), { alreadyEnded: true });
    } finally {
      await m.close();
    }
  });
});

void describe('Bots Long Poll client through the school proxy (S2, C3)', () => {
  let p: Platform;
  let proxy: Server;
  let connects = 0;
  before(async () => {
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
    const { createProxy } = await import('proxy');
    proxy = createProxy(createServer());
    proxy.on('connect', () => connects++);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await p.emulator.close();
    await new Promise<void>((resolve) => {
      proxy.close(() => resolve());
      proxy.closeAllConnections();
    });
  });

  void it('S2: getServer and a held check go through the proxy; no proxy, no platform', async () => {
    const port = (proxy.address() as AddressInfo).port;
    const settings = { ...p.settings, proxy: { server: '127.0.0.1', port, auth: false } };
    const client = createLongPollClient(settings);
    try {
      const chatId = await newChat(p);
      const s = await client.getServer({ groupId: COMMUNITY_ID });
      const pending = client.check({ ...s, wait: 30 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await addByHand(p, chatId, 6001);
      assert.equal(updates(await pending).length, 1);
      assert.ok(connects >= 1, 'no tunnel was opened through the proxy');
    } finally {
      await client.close();
    }
    const unreachable = createLongPollClient({
      ...settings,
      proxy: { server: '127.0.0.1', port: 1, auth: false },
    });
    try {
      await typed(unreachable.getServer({ groupId: COMMUNITY_ID }), ErrorType.ProxyFailure);
    } finally {
      await unreachable.close();
    }
  });
});
