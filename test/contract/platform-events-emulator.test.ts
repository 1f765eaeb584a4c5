import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { CallEndSignal } from '../../src/contracts/platform-events';
import { createEmulator } from '../../src/emulator/vk';
import { interpretPlatformEvent } from '../../src/messenger/platform-events';
import { createVkMessenger } from '../../src/messenger/vk-client';
import {
  COMMUNITY_ID,
  control,
  newToken,
  rawCall,
  startPlatform,
  type Platform,
} from './vk-harness';

/**
 * V5, C3: the emulator as the platform that tells us what happened: a person's actions in the
 * Sferum app (members, title, a call ended by hand), the echoes of our own changes, the call-end
 * signal switch, and Callback API delivery (confirmation, secret, retries, redelivery).
 */

const TEACHER = 501;
const PEER = (chatId: number): number => 2_000_000_000 + chatId;

async function newChat(p: Platform): Promise<number> {
  const chat = await control(p.emulator, 'chats', {
    communityId: COMMUNITY_ID,
    title: 'Физика 7А',
    ownerId: TEACHER,
    memberIds: [TEACHER, 502],
    communityRole: 'admin',
  });
  return chat.chatId as number;
}

type Event = Record<string, unknown> & { type: string; event_id: string };

/** The events of the community since `from` (a count of events seen before). */
function eventsSince(p: Platform, from: number): Event[] {
  return p.emulator
    .events(COMMUNITY_ID)
    .slice(from)
    .map((e) => e.event as Event);
}

function messageOf(event: Event | undefined): Record<string, unknown> {
  const object = event?.object as Record<string, unknown>;
  return (object.message ?? object) as Record<string, unknown>;
}

async function controlStatus(p: Platform, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${p.emulator.url}/__emulator/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

void describe("Emulator: a person's actions in the Sferum app (C3)", () => {
  let p: Platform;
  before(async () => {
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
  });
  after(async () => {
    await p.emulator.close();
  });

  void it('C3: a member added by hand is in the chat, and the event comes from the person', async () => {
    const chatId = await newChat(p);
    const from = p.emulator.events(COMMUNITY_ID).length;
    await control(p.emulator, 'person/members/add', {
      communityId: COMMUNITY_ID,
      chatId,
      userId: 777,
    });
    const chat = p.emulator.snapshot().chats.find((c) => c.chatId === chatId);
    assert.equal(chat?.members.find((m) => m.memberId === 777)?.invitedBy, TEACHER);
    const [event] = eventsSince(p, from);
    assert.equal(event?.type, 'message_new');
    assert.deepEqual(messageOf(event).action, { type: 'chat_invite_user', member_id: 777 });
    assert.equal(messageOf(event).from_id, TEACHER);
    assert.deepEqual(
      interpretPlatformEvent(event).map((f) => f.kind === 'membersChanged' && f.memberId),
      [777],
    );
  });

  void it('C3: a member removed by hand leaves the chat; a rename changes the title', async () => {
    const chatId = await newChat(p);
    const from = p.emulator.events(COMMUNITY_ID).length;
    await control(p.emulator, 'person/members/remove', {
      communityId: COMMUNITY_ID,
      chatId,
      userId: 502,
      by: TEACHER,
    });
    await control(p.emulator, 'person/chats/rename', {
      communityId: COMMUNITY_ID,
      chatId,
      title: 'Физика 7Б',
    });
    const chat = p.emulator.snapshot().chats.find((c) => c.chatId === chatId);
    assert.equal(chat?.title, 'Физика 7Б');
    assert.equal(
      chat?.members.some((m) => m.memberId === 502),
      false,
    );
    const events = eventsSince(p, from);
    assert.deepEqual(
      events.map((e) => messageOf(e).action),
      [
        { type: 'chat_kick_user', member_id: 502 },
        { type: 'chat_title_update', text: 'Физика 7Б' },
      ],
    );
    assert.deepEqual(
      events.flatMap((e) => interpretPlatformEvent(e)).map((f) => f.kind),
      ['membersChanged', 'chatChanged'],
    );
    const cmids = events.map((e) => messageOf(e).conversation_message_id);
    assert.deepEqual(cmids, [1, 2], 'service messages take the chat’s message numbers');
  });

  void it('C3: our own changes come back from the community and are no facts', async () => {
    const chatId = await newChat(p);
    const from = p.emulator.events(COMMUNITY_ID).length;
    const m = createVkMessenger(p.settings);
    try {
      await m.addMembers({ ops: [{ chatId, userId: 900 }] });
      await m.removeMembers({ ops: [{ chatId, userId: 900 }] });
      await m.messagesSend({ chatId, message: 'Здравствуйте', randomId: 4 });
    } finally {
      await m.close();
    }
    const events = eventsSince(p, from);
    assert.deepEqual(
      events.map((e) => [messageOf(e).from_id, (messageOf(e).action as { type?: string })?.type]),
      [
        [-COMMUNITY_ID, 'chat_invite_user'],
        [-COMMUNITY_ID, 'chat_kick_user'],
        [-COMMUNITY_ID, undefined],
      ],
    );
    assert.deepEqual(
      events.flatMap((e) => interpretPlatformEvent(e)),
      [],
    );
  });

  void it('C3: a bad request changes nothing and sends nothing', async () => {
    const chatId = await newChat(p);
    const from = p.emulator.events(COMMUNITY_ID).length;
    const add = (body: Record<string, unknown>): Promise<number> =>
      controlStatus(p, 'person/members/add', { communityId: COMMUNITY_ID, chatId, ...body });
    assert.equal(await add({ userId: TEACHER }), 409, 'already a member');
    assert.equal(await add({ chatId: 9999, userId: 1 }), 404);
    assert.equal(await add({}), 400);
    assert.equal(
      await controlStatus(p, 'person/members/remove', {
        communityId: COMMUNITY_ID,
        chatId,
        userId: 4,
      }),
      404,
    );
    assert.equal(
      await controlStatus(p, 'person/members/remove', {
        communityId: COMMUNITY_ID,
        chatId,
        userId: TEACHER,
        by: 502,
      }),
      409,
      'the owner cannot be removed by someone else',
    );
    assert.equal(await controlStatus(p, 'person/calls/end', { callId: 'nope' }), 404);
    assert.equal(p.emulator.events(COMMUNITY_ID).length, from);
  });
});

void describe('Emulator: a call ended in Sferum, by the call-end signal (V5)', () => {
  let p: Platform;
  beforeEach(async () => {
    await p?.emulator.close();
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
  });
  after(async () => {
    await p.emulator.close();
  });

  /** Starts a call, posts its link, ends it (by hand or through the API); the events after the post. */
  async function endedCall(
    by: 'person' | 'api',
  ): Promise<{ events: Event[]; chatId: number; joinLink: string }> {
    const chatId = await newChat(p);
    const m = createVkMessenger(p.settings);
    try {
      const call = await m.callsStart();
      await m.messagesSend({ chatId, message: `Подключиться: ${call.joinLink}`, randomId: 5 });
      const from = p.emulator.events(COMMUNITY_ID).length;
      if (by === 'person') await control(p.emulator, 'person/calls/end', { callId: call.callId });
      else
        assert.deepEqual(await m.callsForceFinish({ callId: call.callId }), {
          alreadyEnded: false,
        });
      return { events: eventsSince(p, from), chatId, joinLink: call.joinLink };
    } finally {
      await m.close();
    }
  }

  const signals = (events: Event[], callEndSignal: CallEndSignal): unknown[] =>
    events
      .flatMap((e) => interpretPlatformEvent(e, { callEndSignal }))
      .map((f) => f.kind === 'callEnded' && f.signal);

  void it('V5: while the call runs, the link message carries group_call_in_progress', async () => {
    const chatId = await newChat(p);
    const m = createVkMessenger(p.settings);
    try {
      const call = await m.callsStart();
      const from = p.emulator.events(COMMUNITY_ID).length;
      await m.messagesSend({ chatId, message: `Подключиться: ${call.joinLink}`, randomId: 6 });
      const [posted] = eventsSince(p, from);
      const attachments = messageOf(posted).attachments as Record<string, unknown>[];
      assert.equal(attachments[0]?.type, 'group_call_in_progress');
      assert.deepEqual(interpretPlatformEvent(posted), []);
    } finally {
      await m.close();
    }
  });

  void it('V5: someone joining the call edits its message, which still carries the attachment: no end', async () => {
    const chatId = await newChat(p);
    const m = createVkMessenger(p.settings);
    try {
      const call = await m.callsStart();
      await m.messagesSend({ chatId, message: `Подключиться: ${call.joinLink}`, randomId: 8 });
      const from = p.emulator.events(COMMUNITY_ID).length;
      await control(p.emulator, 'person/calls/join', { callId: call.callId, userId: 502 });
      const [edit] = eventsSince(p, from);
      assert.equal(edit?.type, 'message_edit');
      const attachment = (messageOf(edit).attachments as Record<string, unknown>[])[0];
      assert.deepEqual(
        (attachment?.group_call_in_progress as { participants?: unknown }).participants,
        { list: [502], count: 1 },
      );
      assert.deepEqual(interpretPlatformEvent(edit), []);
      await control(p.emulator, 'person/calls/end', { callId: call.callId });
      assert.equal(
        await controlStatus(p, 'person/calls/join', { callId: call.callId, userId: 503 }),
        409,
      );
    } finally {
      await m.close();
    }
  });

  void it("V5: 'both' sends the edit without the attachment and the call message", async () => {
    const { events, chatId, joinLink } = await endedCall('person');
    assert.deepEqual(
      events.map((e) => e.type),
      ['message_edit', 'message_new'],
    );
    assert.deepEqual(signals(events, 'either'), ['inProgressGone', 'callMessage']);
    const facts = events.flatMap((e) => interpretPlatformEvent(e));
    assert.ok(facts.every((f) => f.peerId === PEER(chatId)));
    assert.equal(facts[0]?.kind === 'callEnded' && facts[0].joinLink, joinLink);
  });

  void it("V5: 'callMessage' sends only the message with a call attachment", async () => {
    p.emulator.setOptions({ callEndSignal: 'callMessage' });
    const { events } = await endedCall('person');
    assert.deepEqual(signals(events, 'either'), ['callMessage']);
    assert.deepEqual(signals(events, 'inProgressGone'), [], 'the other reading sees nothing');
  });

  void it("V5: 'inProgressGone' sends only the edit of the call message", async () => {
    p.emulator.setOptions({ callEndSignal: 'inProgressGone' });
    const { events } = await endedCall('person');
    assert.deepEqual(signals(events, 'either'), ['inProgressGone']);
    assert.deepEqual(signals(events, 'callMessage'), []);
  });

  void it('V5: a call we end through the API sends the same events (the product must expect its echo)', async () => {
    const { events } = await endedCall('api');
    assert.deepEqual(signals(events, 'either'), ['inProgressGone', 'callMessage']);
  });

  void it('V5: a call ended twice by hand sends its events once; forceFinish then gets 104', async () => {
    const m = createVkMessenger(p.settings);
    try {
      const call = await m.callsStart();
      const first = await control(p.emulator, 'person/calls/end', { callId: call.callId });
      const from = p.emulator.events(COMMUNITY_ID).length;
      const second = await control(p.emulator, 'person/calls/end', { callId: call.callId });
      assert.deepEqual([first.ended, second.ended], [true, false]);
      assert.equal(p.emulator.events(COMMUNITY_ID).length, from);
      assert.equal(p.emulator.snapshot().calls[0]?.finishedBy, 'platform');
      assert.deepEqual(await m.callsForceFinish({ callId: call.callId }), { alreadyEnded: true });
    } finally {
      await m.close();
    }
  });

  void it('V5: VK_EMULATOR_CALL_END_SIGNAL sets the default; a wrong value stops the start', async () => {
    const saved = process.env.VK_EMULATOR_CALL_END_SIGNAL;
    try {
      process.env.VK_EMULATOR_CALL_END_SIGNAL = 'callMessage';
      const e = await createEmulator();
      assert.equal(e.options.callEndSignal, 'callMessage');
      await e.close();
      process.env.VK_EMULATOR_CALL_END_SIGNAL = 'sometimes';
      await assert.rejects(createEmulator(), /VK_EMULATOR_CALL_END_SIGNAL/);
    } finally {
      if (saved === undefined) delete process.env.VK_EMULATOR_CALL_END_SIGNAL;
      else process.env.VK_EMULATOR_CALL_END_SIGNAL = saved;
    }
  });
});

interface Received {
  readonly body: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

/** Our side of the Callback API: answers the code to `confirmation`, then `answers` in turn, then "ok". */
async function startReceiver(
  code: () => string,
  answers: string[] = [],
): Promise<{
  url: string;
  received: Received[];
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      received.push({ body, headers: req.headers });
      res.end(body.type === 'confirmation' ? code() : (answers.shift() ?? 'ok'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vk/callback`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

void describe('Emulator: Callback API delivery (C3)', () => {
  let p: Platform;
  let code = '';
  const SECRET = 'cb-secret-0123456789';
  before(async () => {
    p = await startPlatform({ options: { rateLimitPerSecond: 1000, callbackRetryDelayMs: 10 } });
    const reply = await rawCall(p.emulator, 'groups.getCallbackConfirmationCode', {
      access_token: p.token,
      v: '5.199',
      group_id: String(COMMUNITY_ID),
    });
    code = (reply.json.response as { code: string }).code;
  });
  after(async () => {
    await p.emulator.close();
  });

  async function addServer(url: string, title = 'sferum-sync'): Promise<number> {
    const reply = await rawCall(p.emulator, 'groups.addCallbackServer', {
      access_token: p.token,
      v: '5.199',
      group_id: String(COMMUNITY_ID),
      url,
      title,
      secret_key: SECRET,
    });
    const id = (reply.json.response as { server_id?: number } | undefined)?.server_id;
    assert.ok(id, JSON.stringify(reply.json));
    await p.emulator.callbacksIdle();
    return id;
  }

  async function removeServer(serverId: number): Promise<void> {
    await rawCall(p.emulator, 'groups.deleteCallbackServer', {
      access_token: p.token,
      v: '5.199',
      group_id: String(COMMUNITY_ID),
      server_id: String(serverId),
    });
  }

  void it('C3: a server is confirmed with the code, then gets each event with the secret', async () => {
    const receiver = await startReceiver(() => code);
    try {
      const serverId = await addServer(receiver.url);
      assert.deepEqual(receiver.received[0]?.body, {
        type: 'confirmation',
        group_id: COMMUNITY_ID,
        secret: SECRET,
      });
      const listed = p.emulator.snapshot().platformEvents.callbackServers;
      assert.equal(listed.find((s) => s.serverId === serverId)?.status, 'ok');
      assert.equal(
        JSON.stringify(p.emulator.snapshot()).includes(SECRET),
        false,
        'secret in the dump',
      );

      const chatId = await newChat(p);
      await control(p.emulator, 'person/members/add', {
        communityId: COMMUNITY_ID,
        chatId,
        userId: 31,
      });
      await p.emulator.callbacksIdle();
      const event = receiver.received[1]?.body;
      assert.equal(event?.type, 'message_new');
      assert.equal(event?.secret, SECRET);
      assert.equal(event?.group_id, COMMUNITY_ID);
      assert.equal(typeof event?.event_id, 'string');
      assert.equal(event?.v, '5.199');
      assert.deepEqual(
        interpretPlatformEvent(event).map((f) => f.kind),
        ['membersChanged'],
      );
      await removeServer(serverId);
    } finally {
      await receiver.close();
    }
  });

  void it('C3: an event not answered "ok" is sent again, same event_id, with X-Retry-Counter', async () => {
    const receiver = await startReceiver(() => code, ['busy', 'error']);
    try {
      const serverId = await addServer(receiver.url);
      const chatId = await newChat(p);
      await control(p.emulator, 'person/chats/rename', {
        communityId: COMMUNITY_ID,
        chatId,
        title: 'X',
      });
      await p.emulator.callbacksIdle();
      const tries = receiver.received.slice(1);
      assert.equal(tries.length, 3);
      assert.equal(new Set(tries.map((t) => t.body.event_id)).size, 1);
      assert.deepEqual(
        tries.map((t) => t.headers['x-retry-counter']),
        [undefined, '1', '2'],
      );
      const recorded = p.emulator
        .snapshot()
        .platformEvents.callbackDeliveries.filter(
          (d) => d.serverId === serverId && d.type !== 'confirmation',
        );
      assert.deepEqual(
        recorded.map((d) => [d.attempt, d.ok]),
        [
          [1, false],
          [2, false],
          [3, true],
        ],
      );
      await removeServer(serverId);
    } finally {
      await receiver.close();
    }
  });

  void it('C3: a server that answers the wrong code is not confirmed and gets no events', async () => {
    const receiver = await startReceiver(() => 'wrong');
    try {
      const serverId = await addServer(receiver.url);
      const chatId = await newChat(p);
      await control(p.emulator, 'person/members/add', {
        communityId: COMMUNITY_ID,
        chatId,
        userId: 32,
      });
      await p.emulator.callbacksIdle();
      assert.equal(receiver.received.length, 1, 'only the confirmation');
      const listed = p.emulator.snapshot().platformEvents.callbackServers;
      assert.equal(listed.find((s) => s.serverId === serverId)?.status, 'failed');
      await removeServer(serverId);
    } finally {
      await receiver.close();
    }
  });

  void it('C3: a duplicate delivery posts the same event twice', async () => {
    const receiver = await startReceiver(() => code);
    try {
      const serverId = await addServer(receiver.url);
      const chatId = await newChat(p);
      await control(p.emulator, 'callback/strike', { fault: 'duplicate' });
      await control(p.emulator, 'person/members/add', {
        communityId: COMMUNITY_ID,
        chatId,
        userId: 33,
      });
      await p.emulator.callbacksIdle();
      const ids = receiver.received.slice(1).map((r) => r.body.event_id);
      assert.equal(ids.length, 2);
      assert.equal(ids[0], ids[1]);
      await removeServer(serverId);
    } finally {
      await receiver.close();
    }
  });

  void it('C3: the callback methods check their input like VK', async () => {
    const call = (method: string, params: Record<string, string>) =>
      rawCall(p.emulator, method, {
        access_token: p.token,
        v: '5.199',
        group_id: String(COMMUNITY_ID),
        ...params,
      });
    const noUrl = await call('groups.addCallbackServer', { title: 'x' });
    assert.equal((noUrl.json.error as { error_code: number }).error_code, 100);
    const longTitle = await call('groups.addCallbackServer', {
      url: 'http://127.0.0.1:1/',
      title: 'a'.repeat(15),
    });
    assert.equal((longTitle.json.error as { error_code: number }).error_code, 100);
    const otherGroup = await call('groups.getCallbackConfirmationCode', { group_id: '1' });
    assert.equal((otherGroup.json.error as { error_code: number }).error_code, 100);
    const unknown = await call('groups.setCallbackSettings', {
      server_id: '999',
      message_new: '1',
    });
    assert.equal((unknown.json.error as { error_code: number }).error_code, 104);
  });
});

void describe('Emulator state file with the platform events (C3)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'emu-events-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('C3: a state file from before the events loads; events and servers survive a restart', async () => {
    const stateFile = join(dir, 'emulator.json');
    const old = {
      communities: [{ communityId: 9, tokenHashes: [], nextChatId: 2 }],
      users: [],
      chats: [
        {
          communityId: 9,
          chatId: 1,
          title: 'Старый чат',
          ownerId: 501,
          createdAt: 0,
          disabled: false,
          deleted: false,
          lastConversationMessageId: 0,
          members: [{ memberId: 501, invitedBy: 501, joinDate: 0, isAdmin: true, isOwner: true }],
        },
      ],
      calls: [],
      messages: [],
      nextMessageId: 1,
    };
    await writeFile(stateFile, JSON.stringify(old));
    const token = newToken();
    const first = await createEmulator({ stateFile, communities: [{ communityId: 9, token }] });
    await control(first, 'person/members/add', { communityId: 9, chatId: 1, userId: 77 });
    const added = await rawCall(first, 'groups.addCallbackServer', {
      access_token: token,
      v: '5.199',
      group_id: '9',
      url: 'http://127.0.0.1:1/cb',
      title: 'cb',
      secret_key: 'persisted-secret',
    });
    assert.ok(added.json.response);
    await first.callbacksIdle();
    await first.close();
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { eventLogs: unknown[] };
    assert.equal(saved.eventLogs.length, 1);

    const second = await createEmulator({ stateFile });
    try {
      assert.equal(second.events(9).length, 1);
      assert.equal(second.snapshot().platformEvents.callbackServers.length, 1);
      assert.equal(second.snapshot().platformEvents.logs[0]?.nextTs, 2);
    } finally {
      await second.close();
    }
  });
});
