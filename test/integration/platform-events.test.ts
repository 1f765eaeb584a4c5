import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import { workflowIds } from '../../src/contracts/ids';
import type { PlatformEventsStatus } from '../../src/contracts/platform-listener';
import { createPortalEmulator, WEBHOOK_PATH, type PortalEmulator } from '../../src/emulator/portal';
import { createCallStore } from '../../src/store/call-store';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSyncStore, type ManagedChat } from '../../src/store/sync-store';
import { seedDemoJournal, until, type DemoJournal } from '../support/demo-school';
import { PLATFORM_EVENTS_WORKFLOW } from '../../src/contracts/ids';
import { platformEventsStartOptions } from '../../src/client/workflow-gateway';
import { readableHistories } from '../support/histories';
import { useServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/**
 * V5 and C3 with the platform's events: what a person does in the Sferum app (the emulator's
 * person controls) reaches the journal and the school sync within seconds through the school's
 * long-poll listener, which resumes where it was after a worker restart and waits out a
 * platform that is down.
 */

const services = useServices();

interface EventsSchool extends DemoJournal {
  readonly stack: Stack;
  readonly portal: PortalEmulator;
  readonly communityId: number;
  /** The first worker, so a test can stop it. */
  readonly worker: Worker;
}

async function eventsSchool(
  t: TestContext,
  opts: { sync?: boolean; continueAsNewAfterEvents?: number } = {},
): Promise<EventsSchool> {
  const stack = await startStack({ services: services() });
  const portal = await createPortalEmulator();
  const seeded: { school?: DemoJournal } = {};
  t.after(async () => {
    const { school } = seeded;
    const ids = school
      ? [
          workflowIds.journalCalls(school),
          workflowIds.diaryDelivery(school.schoolId),
          workflowIds.platformEvents(school.schoolId),
          workflowIds.schoolSync(school.schoolId),
        ]
      : [];
    for (const id of ids) {
      await stack.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
    await portal.close();
    await stack.stop();
  });
  const worker = await stack.startWorker();
  const school = await seedDemoJournal(stack, 'events');
  seeded.school = school;
  const secret = randomBytes(32).toString('hex');
  portal.addSchool(school.schoolId, secret);
  await stack.settings.diary.save({
    schoolId: school.schoolId,
    webhookUrl: `${portal.url}${WEBHOOK_PATH}`,
    secret,
  });
  const communityId = (await stack.settings.getPublic(school.schoolId))?.communityId;
  assert.ok(communityId);
  if (opts.sync) {
    // Unmanaged members are removed (C3), so a person added by hand is taken out again.
    const current = await stack.settings.messengerSettings({
      schoolId: school.schoolId,
      baseUrl: stack.emulator.url,
      apiVersion: '5.199',
      rateLimitPerSecond: 18,
    });
    const token = current?.token ?? assert.fail('no settings');
    await stack.settings.save({
      schoolId: school.schoolId,
      input: { communityId, token, period: '30', enabled: true, removeUnmanaged: true },
    });
    if (opts.continueAsNewAfterEvents !== undefined) {
      const options = platformEventsStartOptions(school.schoolId, stack.taskQueue);
      await stack.client.workflow.start(PLATFORM_EVENTS_WORKFLOW, {
        ...options,
        args: [
          { schoolId: school.schoolId, continueAsNewAfterEvents: opts.continueAsNewAfterEvents },
        ],
      });
    }
    // The production path: saving the settings starts the sync and the listener.
    await stack.gateway.settingsChanged({ schoolId: school.schoolId });
  } else {
    await stack.gateway.ensurePlatformEvents({ schoolId: school.schoolId });
  }
  await listening(stack, school.schoolId);
  return { stack, portal, communityId, worker, ...school };
}

async function status(stack: Stack, schoolId: string): Promise<PlatformEventsStatus | null> {
  return stack.gateway.platformEventsStatus(schoolId).catch(() => null);
}

/** The listener has its first long-poll answer: what happens from now on reaches it. */
async function listening(stack: Stack, schoolId: string): Promise<PlatformEventsStatus> {
  return until('the listener to poll', async () => {
    const s = await status(stack, schoolId);
    return s?.mode === 'longPoll' && s.ts !== null ? s : null;
  });
}

async function person(stack: Stack, action: string, body: object): Promise<unknown> {
  const res = await fetch(`${stack.emulator.url}/__emulator/person/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer: unknown = await res.json();
  assert.equal(res.status, 200, JSON.stringify(answer));
  return answer;
}

async function startCall(s: EventsSchool): Promise<string> {
  const started = await s.stack.gateway.startCall({
    schoolId: s.schoolId,
    journalId: s.journalId,
    lessonId: s.lessonId,
    requestedBy: s.teacherId,
  });
  assert.ok(started.accepted, JSON.stringify(started));
  return started.joinLink;
}

function platformCallOf(s: EventsSchool, joinLink: string): string {
  const call = s.stack.emulator.snapshot().calls.find((c) => c.joinLink === joinLink);
  assert.ok(call, 'the call is on the platform');
  return call.callId;
}

function membersOf(s: EventsSchool, chatId: number): number[] {
  const chat = s.stack.emulator
    .snapshot()
    .chats.find((c) => c.communityId === s.communityId && c.chatId === chatId);
  return (chat?.members ?? []).map((m) => m.memberId);
}

/** A chat the sync made, with a member it manages who is no admin there. */
async function syncedChat(s: EventsSchool): Promise<{ chat: ManagedChat; memberId: number }> {
  return until(
    'the sync to make the chats',
    async () => {
      const chats = await createSyncStore(s.stack.db).listChats(s.schoolId);
      for (const chat of chats) {
        const memberId = chat.managedMembers.find((m) => !chat.managedAdmins.includes(m));
        if (
          chat.chatId !== null &&
          memberId !== undefined &&
          membersOf(s, chat.chatId).includes(memberId)
        )
          return { chat, memberId };
      }
      return null;
    },
    60_000,
  );
}

void test('V5: a call ended by hand in Sferum ends in the journal within seconds, its e-diary link is withdrawn, no calls.forceFinish is sent, and the teacher can start again', async (t) => {
  const s = await eventsSchool(t);
  const joinLink = await startCall(s);
  await until('the link at the portal', () =>
    s.portal.deliveries().find((d) => d.event.kind === 'linkPublished'),
  );
  const forceFinishes = s.stack.emulator.stats.byMethod['calls.forceFinish'] ?? 0;

  await person(s.stack, 'calls/end', { callId: platformCallOf(s, joinLink) });
  const ended = await until('the journal to take the call as ended', async () => {
    const state = await s.stack.gateway.callState(s);
    return state?.running === null ? state : null;
  });
  assert.equal(ended.lastEnded?.endedBy, 'platform', 'ended in Sferum');
  assert.equal(ended.lastEnded?.lessonId, s.lessonId);
  const [call] = await createCallStore(s.stack.db).listCalls({
    schoolId: s.schoolId,
    journalId: s.journalId,
  });
  assert.equal(call?.status, 'ended');
  assert.equal(call?.endedBy, 'platform');
  assert.equal(call?.endedInSferum, true);
  const withdrawn = await until('the withdrawal at the portal', () =>
    s.portal.deliveries().find((d) => d.event.kind === 'linkWithdrawn'),
  );
  assert.equal(withdrawn.event.lessonId, s.lessonId);
  assert.equal(
    s.stack.emulator.stats.byMethod['calls.forceFinish'] ?? 0,
    forceFinishes,
    'the platform ended the call: no calls.forceFinish',
  );

  const again = await s.stack.gateway.startCall({
    schoolId: s.schoolId,
    journalId: s.journalId,
    lessonId: s.lessonId,
    requestedBy: s.teacherId,
  });
  assert.ok(again.accepted, JSON.stringify(again));
  assert.notEqual(again.joinLink, joinLink, 'a new call, not the dead link');
});

void test('C3: a member removed by hand is back in the chat within seconds; a person added by hand who is not on the roster is removed again', async (t) => {
  const s = await eventsSchoolWithSync(t);
  const { chat, memberId } = await syncedChat(s);
  const chatId = chat.chatId ?? assert.fail('no chat ID');

  await person(s.stack, 'members/remove', { communityId: s.communityId, chatId, userId: memberId });
  assert.ok(!membersOf(s, chatId).includes(memberId));
  await until('the member back in the chat', () => membersOf(s, chatId).includes(memberId) || null);

  const stranger = 990_000_000 + Math.floor(Math.random() * 1_000_000);
  await fetch(`${s.stack.emulator.url}/__emulator/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userIds: [stranger] }),
  });
  await person(s.stack, 'members/add', { communityId: s.communityId, chatId, userId: stranger });
  assert.ok(membersOf(s, chatId).includes(stranger));
  await until('the stranger removed', () => !membersOf(s, chatId).includes(stranger) || null);
  assert.ok(membersOf(s, chatId).includes(memberId), 'the managed member stays');
});

void test('V5, C3: the listener resumes from its ts after the worker is restarted: an event made meanwhile is applied once, none lost', async (t) => {
  const s = await eventsSchoolWithSync(t);
  const { chat, memberId } = await syncedChat(s);
  const chatId = chat.chatId ?? assert.fail('no chat ID');
  const before = await listening(s.stack, s.schoolId);

  s.worker.shutdown();
  await until(
    'the worker to stop',
    () => (s.worker.getState() === 'STOPPED' ? true : null),
    60_000,
  );
  await person(s.stack, 'members/remove', { communityId: s.communityId, chatId, userId: memberId });
  const removal = s.stack.emulator.events(s.communityId).at(-1)?.event;
  assert.equal(removal?.type, 'message_new', 'the removal is the last event');
  const eventId = String(removal.event_id);

  await s.stack.startWorker();
  await until(
    'the member back after the restart',
    () => membersOf(s, chatId).includes(memberId) || null,
    60_000,
  );
  const after = await until('the listener past the event', async () => {
    const now = await status(s.stack, s.schoolId);
    return now && now.applied > before.applied ? now : null;
  });
  assert.ok(Number(after.ts) > Number(before.ts), 'the stream moved on from where it was');
  const applies = await appliedWith(s.stack, s.schoolId, eventId);
  assert.equal(applies, 1, 'the event was applied once');
});

void test('V5, C3: while the platform is down the listener backs off, and once it is back an event reaches the sync', async (t) => {
  const s = await eventsSchoolWithSync(t);
  const { chat, memberId } = await syncedChat(s);
  const chatId = chat.chatId ?? assert.fail('no chat ID');
  s.stack.emulator.setFaults({ longPollDown: 'http502' });
  const handle = s.stack.client.workflow.getHandle(workflowIds.platformEvents(s.schoolId));
  const failing = await until(
    'the long poll to fail and back off',
    async () => {
      const { raw } = await handle.describe();
      const pending = (raw.pendingActivities ?? []).find(
        (a) => a.activityType?.name === 'pollPlatformEvents',
      );
      return (pending?.attempt ?? 0) >= 3 ? pending : null;
    },
    60_000,
  );
  assert.ok(failing.lastFailure?.message, 'the pending activity says what failed');
  await person(s.stack, 'members/remove', { communityId: s.communityId, chatId, userId: memberId });
  s.stack.emulator.setFaults({ longPollDown: null });
  await until(
    'the member back once the platform is',
    () => membersOf(s, chatId).includes(memberId) || null,
    90_000,
  );
});

async function eventsSchoolWithSync(t: TestContext): Promise<EventsSchool> {
  return eventsSchool(t, { sync: true });
}

/** How many applyPlatformFacts of the listener's history carried the event. */
async function appliedWith(stack: Stack, schoolId: string, eventId: string): Promise<number> {
  let count = 0;
  let runId: string | undefined;
  for (;;) {
    const handle = stack.client.workflow.getHandle(workflowIds.platformEvents(schoolId), runId);
    const history = await handle.fetchHistory();
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name !== 'applyPlatformFacts') continue;
      const input = (scheduled.input?.payloads ?? [])
        .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'))
        .join('');
      if (input.includes(eventId)) count += 1;
    }
    const first = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const previous = first?.continuedExecutionRunId;
    if (!previous) return count;
    runId = previous;
  }
}

void test('V5 — Callback API on the real stack: a forged callback changes nothing, the genuine one ends the call, its replay changes nothing; the planted callback secret and confirmation string are in no history, log line or clear document', async (t) => {
  const s = await eventsSchool(t);
  const secret = `PLANTEDCBSECRET${randomBytes(8).toString('hex')}`;
  const confirmation = `PLANTEDCONF${randomBytes(4).toString('hex')}`;
  await s.stack.settings.events.save({
    schoolId: s.schoolId,
    mode: 'callback',
    callbackSecret: secret,
    confirmation,
  });
  await s.stack.gateway.eventsSettingsChanged({ schoolId: s.schoolId });
  await until('the listener in callback mode', async () => {
    const now = await status(s.stack, s.schoolId);
    return now?.mode === 'callback' ? now : null;
  });
  const lines: string[] = [];
  const api = await buildApi({
    db: s.stack.db,
    gateway: s.stack.gateway,
    settings: s.stack.settings,
    logger: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }),
    secretsBox: createSecretBox(DEV_SECRETS_KEY),
    readiness: { temporal: () => Promise.resolve(true) },
  });
  t.after(() => api.close());
  const post = (body: object) =>
    api.inject({
      method: 'POST',
      url: `/vk/callback/${s.schoolId}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  const confirm = await post({ type: 'confirmation', group_id: s.communityId, secret });
  assert.equal(confirm.body, confirmation);
  const joinLink = await startCall(s);
  const logged = s.stack.emulator.events(s.communityId).length;
  await person(s.stack, 'calls/end', { callId: platformCallOf(s, joinLink) });
  const events = s.stack.emulator
    .events(s.communityId)
    .slice(logged)
    .map((e) => e.event);
  assert.ok(events.length > 0, 'the end made events');

  for (const event of events) {
    assert.equal((await post({ ...event, secret: `${secret}-forged` })).statusCode, 403);
  }
  await new Promise((r) => setTimeout(r, 3_000));
  assert.notEqual(
    (await s.stack.gateway.callState(s))?.running,
    null,
    'a forged callback ends nothing',
  );

  for (const event of events) assert.equal((await post({ ...event, secret })).body, 'ok');
  const ended = await until('the journal to take the call as ended', async () => {
    const state = await s.stack.gateway.callState(s);
    return state?.running === null ? state : null;
  });
  assert.equal(ended.lastEnded?.endedBy, 'platform');
  const again = await s.stack.gateway.startCall({ ...s, requestedBy: s.teacherId });
  assert.ok(again.accepted);
  for (const event of events) assert.equal((await post({ ...event, secret })).body, 'ok');
  await new Promise((r) => setTimeout(r, 3_000));
  assert.notEqual((await s.stack.gateway.callState(s))?.running, null, 'a replay ends nothing');

  const histories = (await readableHistories(s.stack.client, s.stack.taskQueue)).join('\n');
  assert.match(histories, /platformEventsWorkflow/);
  const dump: string[] = [];
  for (const c of await s.stack.db.listCollections().toArray()) {
    dump.push(JSON.stringify(await s.stack.db.collection(c.name).find({}).toArray()));
  }
  for (const planted of [secret, confirmation]) {
    assert.ok(!histories.includes(planted), `${planted} in a workflow history`);
    assert.ok(!lines.join('\n').includes(planted), `${planted} in the logs`);
    assert.ok(!dump.join('\n').includes(planted), `${planted} in clear in MongoDB`);
  }
});

void test('V5, C3: the long poll failing 2 (key expired), 3 (information lost), 1 (history lost), malformed and duplicated: the listener renews its key, asks one catch-up sync for each loss, and applies a redelivered event once', async (t) => {
  const s = await eventsSchoolWithSync(t);
  const { chat, memberId } = await syncedChat(s);
  const chatId = chat.chatId ?? assert.fail('no chat ID');
  const before = await listening(s.stack, s.schoolId);
  const remove = async (): Promise<void> => {
    await person(s.stack, 'members/remove', {
      communityId: s.communityId,
      chatId,
      userId: memberId,
    });
    await until('the member back', () => membersOf(s, chatId).includes(memberId) || null, 60_000);
  };

  // A strike hits the next request to arrive, not the one the listener holds open now.
  const strike = async (fault: Parameters<Stack['emulator']['strikeLongPoll']>[0]) => {
    s.stack.emulator.strikeLongPoll(fault);
    await until(
      'the strike to be used',
      () => (s.stack.emulator.snapshot().platformEvents.longPollStrikes.length === 0 ? true : null),
      60_000,
    );
  };
  await strike('failed2');
  await remove();
  await strike('malformed');
  await remove();
  await strike('duplicate');
  await remove();
  const kick = s.stack.emulator
    .events(s.communityId)
    .map((e) => e.event)
    .findLast((e) => JSON.stringify(e).includes('chat_kick_user'));
  const eventId = String(kick?.event_id);
  await until('the redelivery dropped', async () => {
    const now = await status(s.stack, s.schoolId);
    return now && now.duplicates >= 1 ? now : null;
  });
  await strike('failed1');
  await strike('failed3');
  const after = await until('two catch-ups', async () => {
    const now = await status(s.stack, s.schoolId);
    return now && now.catchUps >= before.catchUps + 2 ? now : null;
  });
  assert.equal(after.catchUps, before.catchUps + 2, 'one catch-up for each loss');
  await remove();
  assert.equal(
    await appliedWith(s.stack, s.schoolId, eventId),
    1,
    'a redelivered event applied once',
  );
});

void test('V5, C3: the listener continues as new carrying its ts and the recent event IDs: events before and after the hand-over are each applied once, none lost', async (t) => {
  const s = await eventsSchool(t, { sync: true, continueAsNewAfterEvents: 40 });
  const { chat, memberId } = await syncedChat(s);
  const chatId = chat.chatId ?? assert.fail('no chat ID');
  const handle = s.stack.client.workflow.getHandle(workflowIds.platformEvents(s.schoolId));
  const firstRun = (await handle.describe()).runId;
  const kicks: string[] = [];
  for (let i = 0; i < 8; i++) {
    await person(s.stack, 'members/remove', {
      communityId: s.communityId,
      chatId,
      userId: memberId,
    });
    const kick = s.stack.emulator
      .events(s.communityId)
      .map((e) => e.event)
      .findLast((e) => JSON.stringify(e).includes('chat_kick_user'));
    kicks.push(String(kick?.event_id));
    await until('the member back', () => membersOf(s, chatId).includes(memberId) || null, 60_000);
  }
  const now = await handle.describe();
  assert.notEqual(now.runId, firstRun, 'the listener continued as new');
  for (const eventId of kicks) {
    assert.equal(await appliedWith(s.stack, s.schoolId, eventId), 1, `${eventId} applied once`);
  }
  const state = await status(s.stack, s.schoolId);
  assert.ok((state?.applied ?? 0) >= kicks.length, 'the count carried over');
});
