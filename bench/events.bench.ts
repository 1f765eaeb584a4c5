import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { workflowIds } from '../src/contracts/ids';
import { createPortalEmulator, WEBHOOK_PATH } from '../src/emulator/portal';
import { createSyncStore } from '../src/store/sync-store';
import { seedDemoJournal, until } from '../test/support/demo-school';
import { startStack } from '../test/support/stack';
import { quantile, report, type Measure } from './support/report';
import { benchServices } from './support/services';

/**
 * Issue 15's measurements, on the real stack (Temporal, MongoDB-compatible server, a worker with
 * the production activities, the VK and portal emulators):
 *
 * - `events: diary-link`: the lesson's link at the portal emulator after the teacher's start,
 *   from the press to the portal's receipt, p99 over CALLS calls (bound 1 s);
 * - `events: ended-in-sferum`: each of those calls then ended by hand in the emulator (a person
 *   in the Sferum app) until the journal's state says it ended and the portal has the withdrawal,
 *   p99 (bound 5 s);
 * - `events: member-back`: a member removed by hand until the sync has put them back in the chat,
 *   p95 over REMOVALS removals (bound 10 s).
 */

/** A smoke run may ask for fewer (EVENTS_BENCH_CALLS, EVENTS_BENCH_REMOVALS); the figures are from the defaults. */
const CALLS = Number(process.env.EVENTS_BENCH_CALLS ?? 200);
const REMOVALS = Number(process.env.EVENTS_BENCH_REMOVALS ?? 20);

const load = (): string => loadavg()[0]?.toFixed(2) ?? '?';
const ms = (metric: string, value: number, bound?: number): Measure => ({
  metric,
  value,
  unit: 'ms',
  ...(bound === undefined ? {} : { bound, kind: 'atMost' as const, boundSource: 'issue 15' }),
});

async function post(url: string, body: object): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

export async function run(): Promise<void> {
  const { mongoUri, temporalAddress } = await benchServices();
  const stack = await startStack({
    services: { mongoUri, temporalAddress, temporalUiUrl: undefined },
  });
  const portal = await createPortalEmulator();
  try {
    await stack.startWorker();
    const school = await seedDemoJournal(stack, 'bench-events');
    const { schoolId } = school;
    const secret = randomBytes(32).toString('hex');
    portal.addSchool(schoolId, secret);
    await stack.settings.diary.save({
      schoolId,
      webhookUrl: `${portal.url}${WEBHOOK_PATH}`,
      secret,
    });
    await stack.gateway.settingsChanged({ schoolId });
    await until('the listener to poll', async () => {
      const s = await stack.gateway.platformEventsStatus(schoolId).catch(() => null);
      return s?.mode === 'longPoll' && s.ts !== null ? s : null;
    });
    await calls(stack, portal, school);
    await members(stack, school.schoolId);
    for (const id of [
      workflowIds.journalCalls(school),
      workflowIds.diaryDelivery(schoolId),
      workflowIds.platformEvents(schoolId),
      workflowIds.schoolSync(schoolId),
    ]) {
      await stack.client.workflow
        .getHandle(id)
        .terminate('bench over')
        .catch(() => undefined);
    }
  } finally {
    await portal.close();
    await stack.stop();
  }
}

type BenchStack = Awaited<ReturnType<typeof startStack>>;
type Portal = Awaited<ReturnType<typeof createPortalEmulator>>;

async function calls(
  stack: BenchStack,
  portal: Portal,
  school: Awaited<ReturnType<typeof seedDemoJournal>>,
): Promise<void> {
  const links: number[] = [];
  const ends: number[] = [];
  const loadBefore = load();
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const pressedAt = Date.now();
    const result = await stack.gateway.startCall({ ...school, requestedBy: school.teacherId });
    if (!result.accepted) throw new Error(`start ${i} refused: ${result.reason}`);
    const { joinLink } = result;
    const published = await until('the link at the portal', () =>
      portal
        .deliveries()
        .find((d) => d.event.kind !== 'linkWithdrawn' && d.event.joinLink === joinLink),
    );
    links.push(Date.parse(published.receivedAt) - pressedAt);
    const call = stack.emulator.snapshot().calls.find((c) => c.joinLink === joinLink);
    if (!call) throw new Error('the call is not on the platform');
    const withdrawnBefore = portal
      .deliveries()
      .filter((d) => d.event.kind === 'linkWithdrawn').length;
    const endedAt = Date.now();
    await post(`${stack.emulator.url}/__emulator/person/calls/end`, { callId: call.callId });
    await until('the journal to take the call as ended', async () => {
      const state = await stack.gateway.callState(school);
      return state?.running === null ? state : null;
    });
    const stateAt = Date.now();
    const withdrawn = await until('the withdrawal at the portal', () => {
      const all = portal.deliveries().filter((d) => d.event.kind === 'linkWithdrawn');
      return all.length > withdrawnBefore ? all : null;
    });
    const withdrawnAt = Math.max(...withdrawn.map((d) => Date.parse(d.receivedAt)));
    ends.push(Math.max(stateAt, withdrawnAt) - endedAt);
  }
  const seconds = (performance.now() - started) / 1000;
  report({
    scenario: 'events: diary-link',
    description:
      `${CALLS} teacher's starts of one journal's lesson, each one's link received by the portal ` +
      `emulator (press → portal's receipt); load average ${loadBefore} before, ${load()} after`,
    measures: [
      ms('link p50', quantile(links, 0.5)),
      ms('link p99', quantile(links, 0.99), 1_000),
      ms('link max', Math.max(...links)),
    ],
    seconds,
  });
  report({
    scenario: 'events: ended-in-sferum',
    description:
      `the same ${CALLS} calls each ended by hand in the emulator (a person in the Sferum app): ` +
      'until the journal state says ended and the portal has the withdrawal, through the long poll',
    measures: [
      ms('ended p50', quantile(ends, 0.5)),
      ms('ended p99', quantile(ends, 0.99), 5_000),
      ms('ended max', Math.max(...ends)),
    ],
    seconds,
  });
}

async function members(stack: BenchStack, schoolId: string): Promise<void> {
  const communityId = (await stack.settings.getPublic(schoolId))?.communityId ?? 0;
  const membersOf = (chatId: number): number[] =>
    stack.emulator
      .snapshot()
      .chats.find((c) => c.communityId === communityId && c.chatId === chatId)
      ?.members.map((m) => m.memberId) ?? [];
  const target = await until(
    'the sync to make the chats',
    async () => {
      for (const chat of await createSyncStore(stack.db).listChats(schoolId)) {
        const memberId = chat.managedMembers.find((m) => !chat.managedAdmins.includes(m));
        if (
          chat.chatId !== null &&
          memberId !== undefined &&
          membersOf(chat.chatId).includes(memberId)
        )
          return { chatId: chat.chatId, memberId };
      }
      return null;
    },
    120_000,
  );
  const backs: number[] = [];
  const loadBefore = load();
  const started = performance.now();
  for (let i = 0; i < REMOVALS; i++) {
    const removedAt = Date.now();
    await post(`${stack.emulator.url}/__emulator/person/members/remove`, {
      communityId,
      chatId: target.chatId,
      userId: target.memberId,
    });
    await until(
      'the member back',
      () => membersOf(target.chatId).includes(target.memberId) || null,
      60_000,
    );
    backs.push(Date.now() - removedAt);
  }
  report({
    scenario: 'events: member-back',
    description:
      `${REMOVALS} removals by hand of one managed member from a chat (a person in the Sferum app), ` +
      `each until the school sync, woken by the listener, put them back; load average ${loadBefore} before, ${load()} after`,
    measures: [
      ms('back p50', quantile(backs, 0.5)),
      ms('back p95', quantile(backs, 0.95), 10_000),
      ms('back max', Math.max(...backs)),
    ],
    seconds: (performance.now() - started) / 1000,
  });
}
