import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import {
  NativeConnection,
  Runtime,
  DefaultLogger,
  makeTelemetryFilterString,
} from '@temporalio/worker';
import type { MongoClient, Db } from 'mongodb';
import { workflowIds } from '../src/contracts/ids';
import type { RosterSnapshot, Student } from '../src/contracts/roster';
import type { SyncStatus } from '../src/contracts/school-sync';
import { planChats, type DesiredChat } from '../src/domain/chat-plan';
import { generateRoster } from '../src/demo/roster-generator';
import { createEmulator, type Emulator } from '../src/emulator/vk';
import { createLogger } from '../src/process/logger';
import { createMessengerProvider, type MessengerProvider } from '../src/messenger/provider';
import { connectMongo, ensureIndexes } from '../src/store/db';
import { importChangeSet, importSnapshot } from '../src/store/roster-import';
import { createSecretBox, DEV_SECRETS_KEY } from '../src/store/secrets';
import { createSettingsStore } from '../src/store/settings-store';
import { createWorkflowGateway, type WorkflowGateway } from '../src/client/workflow-gateway';
import { createSferumWorker } from '../src/process/worker';
import { bundleWorkflows } from '../src/workflow-code/bundle';
import { quantile, report } from './support/report';
import { benchServices, stopBenchServices } from './support/services';

/**
 * The chat sync of issue 9 on the real stack: the Temporal dev server, the MongoDB-compatible
 * server, the production activities and workflow in an in-process worker, and the VK API emulator
 * at the platform's real limit of 20 requests/s per token (the client is configured to the same
 * 20/s, as a deployment may).
 *
 * - sync-initial: the large generated school (33 classes, ~1,000 students, ~1,700 parents, ~120
 *   staff) synced from nothing. The floor counts the API method calls the plan itself needs: one
 *   `messages.createChat` per planned chat (it carries every member in `user_ids`, so no
 *   `messages.addChatUser` is needed) and one `messages.setMemberRole` per planned admin (the
 *   community is the only admin of a chat it creates). Nothing else is needed: no reads (nothing
 *   exists yet), and call links are posted by the journal workflows when a call starts, not by
 *   the sync. `execute` carries 25 calls, chat creation included, so the request floor is
 *   ceil(calls / 25) and the time floor is that many requests at 20 requests/s. Time runs from the
 *   signal that starts the sync until the last platform request of the run, after which the
 *   emulator equals the plan (every chat, member and admin); the table also shows how much of it
 *   the plan and apply activities took (from the workflow's history) and the span of the
 *   platform requests themselves.
 * - sync-steady: a run with nothing to change right after; it must read every chat's members
 *   (one `messages.getConversationMembers` per chat of up to 1,000 members), so its floor is
 *   ceil(chats / 25) requests.
 * - sync-change-latency: 50 roster changes one after another (a student leaves the school, then
 *   comes back), each from the moment the change set is submitted until the platform request that
 *   takes the student out of, or puts them back in, the class's students' chat; against DESIGN.md
 *   §6's minute. The next change waits until the run is over. The import itself (it writes a new
 *   roster version) is part of the latency; the table also gives the latency from its commit.
 */

const RATE = 20;
const CALLS_PER_EXECUTE = 25;
const COMMUNITY = 7001;
const CHANGES = 50;
/** DESIGN.md §6: roster changes reach the chats within a minute. */
const CHANGE_BOUND_S = 60;
/** A change not on the platform by then is reported as missing, and the scenario stops. */
const CHANGE_WAIT_MS = 120_000;
/**
 * Lessons far from the real date, so the journal workflows the sync starts have no call to make
 * while the benchmark runs (a Tuesday, so the timetable publishes online lessons and the plan has
 * its subject chats).
 */
const TODAY = '2030-12-03';
/** The emulator is read in-process, so it is polled often; a status query costs the worker a workflow task. */
const POLL_MS = 20;
const STATUS_POLL_MS = 250;

interface Bench {
  readonly db: Db;
  readonly emulator: Emulator;
  readonly client: Client;
  readonly gateway: WorkflowGateway;
  readonly schoolId: string;
  readonly roster: RosterSnapshot;
  /** When each platform request arrived (performance.now()), in order. */
  readonly requestTimes: number[];
  stop(): Promise<void>;
}

const progress = (line: string): void => {
  process.stderr.write(`  [sync] ${line}\n`);
};

/** Temporal's runtime logs every worker state change at INFO; another benchmark may have installed it. */
function quietTemporal(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
      },
    });
  } catch {
    // Installed already, by an earlier benchmark of this run.
  }
}

async function setUp(): Promise<Bench> {
  quietTemporal();
  const services = await benchServices();
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const mongo: { client: MongoClient; db: Db } = await connectMongo(
      services.mongoUri,
      `bench_sync_${randomBytes(4).toString('hex')}`,
    );
    cleanups.push(() => mongo.client.close());
    cleanups.push(() => mongo.db.dropDatabase());
    await ensureIndexes(mongo.db);

    const token = `vk1.a.${randomBytes(24).toString('base64url')}`;
    const requestTimes: number[] = [];
    const emulator = await createEmulator({
      communities: [{ communityId: COMMUNITY, token }],
      options: { rateLimitPerSecond: RATE },
      // The emulator reads its clock once per API request, as it arrives: that is the timestamp.
      now: () => {
        requestTimes.push(performance.now());
        return Date.now();
      },
    });
    cleanups.push(() => emulator.close());

    const logger = createLogger('error');
    const settings = createSettingsStore({ db: mongo.db, box: createSecretBox(DEV_SECRETS_KEY) });
    const messengers: MessengerProvider = createMessengerProvider({
      settings,
      baseUrl: emulator.url,
      apiVersion: '5.199',
      rateLimitPerSecond: RATE,
    });
    cleanups.push(() => messengers.close());

    const connection = await Connection.connect({ address: services.temporalAddress });
    cleanups.push(() => connection.close());
    const taskQueue = `bench-sync-${randomBytes(4).toString('hex')}`;
    const client = new Client({ connection });
    const gateway = createWorkflowGateway(client, { taskQueue });

    progress('bundling the workflows');
    const bundle = await bundleWorkflows();
    const native = await NativeConnection.connect({ address: services.temporalAddress });
    cleanups.push(() => native.close());
    const worker = await createSferumWorker({
      connection: native,
      namespace: 'default',
      db: mongo.db,
      logger,
      deps: { settings, messengers, gateway },
      workflows: { workflowBundle: bundle },
      taskQueue,
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    // A deployed worker has long loaded the workflow bundle; the first workflow task would. One
    // archiver pass over a school with no histories is a workflow task and nearly nothing else.
    await client.workflow.execute('historyArchiverWorkflow', {
      taskQueue,
      workflowId: `bench-sync-warm-up-${randomBytes(4).toString('hex')}`,
      args: [{ schoolId: 'bench-warm-up' }],
    });

    const roster = generateRoster({
      seed: 'bench',
      size: 'large',
      schoolId: 'bench-sync',
      today: TODAY,
    });
    const schoolId = roster.school.id;
    await settings.save({ schoolId, input: { communityId: COMMUNITY, token, period: '30' } });
    progress('importing the large school');
    // Written without the rosterChanged signal, so the timed part starts with the signal itself.
    await importSnapshot({
      db: mongo.db,
      input: roster,
      events: { rosterChanged: () => Promise.resolve() },
    });
    return { db: mongo.db, emulator, client, gateway, schoolId, roster, requestTimes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The community's live chats by title, with member and admin sets, the community left out. */
function emulatorChats(
  emulator: Emulator,
): Map<string, { chatId: number; members: Set<number>; admins: Set<number> }> {
  const chats = new Map<string, { chatId: number; members: Set<number>; admins: Set<number> }>();
  for (const chat of emulator.state.chats) {
    if (chat.communityId !== COMMUNITY || chat.deleted) continue;
    const members = new Set<number>();
    const admins = new Set<number>();
    for (const m of chat.members) {
      if (m.memberId === -COMMUNITY) continue;
      members.add(m.memberId);
      if (m.isAdmin) admins.add(m.memberId);
    }
    chats.set(chat.title, { chatId: chat.chatId, members, admins });
  }
  return chats;
}

/** Whether every planned chat is on the platform with exactly its members and admins. */
function matchesPlan(emulator: Emulator, plan: readonly DesiredChat[]): boolean {
  const chats = emulatorChats(emulator);
  if (chats.size !== plan.length) return false;
  return plan.every((want) => {
    const have = chats.get(want.title);
    return (
      have !== undefined &&
      have.members.size === want.members.length &&
      want.members.every((m) => have.members.has(m)) &&
      have.admins.size === want.admins.length &&
      want.admins.every((m) => have.admins.has(m))
    );
  });
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms: number,
  pollMs = POLL_MS,
): Promise<T> {
  const deadline = Date.now() + ms;
  let lastProgress = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    if (Date.now() - lastProgress > 5_000) {
      progress(`still waiting for ${what}`);
      lastProgress = Date.now();
    }
    await sleep(pollMs);
  }
}

async function idleAfter(
  bench: Bench,
  match: (s: SyncStatus) => boolean,
  what: string,
): Promise<SyncStatus> {
  return waitFor(
    what,
    async () => {
      const s = await bench.gateway.syncStatus(bench.schoolId);
      return s && s.currentRunId === null && match(s) ? s : undefined;
    },
    180_000,
    STATUS_POLL_MS,
  );
}

function lastRequestTime(bench: Bench): number {
  return bench.requestTimes[bench.requestTimes.length - 1] ?? Number.NaN;
}

/**
 * Waits until every journal workflow the first sync started has nothing in progress: it starts a
 * hundred, and on FerretDB's SQLite backend each one's first load scans whole collections. Left
 * running they would slow the next measured run with work that is not its own. (Later runs wake
 * only the journals whose lessons changed, none in these scenarios.)
 */
async function journalsSettled(bench: Bench): Promise<void> {
  const ids = bench.roster.journals
    .filter((j) => j.subjectChat && j.kind === 'general')
    .map((j) => workflowIds.journalCalls({ schoolId: bench.roster.school.id, journalId: j.id }));
  const busy = async (id: string): Promise<boolean> => {
    const { raw } = await bench.client.workflow.getHandle(id).describe();
    return (raw.pendingActivities?.length ?? 0) > 0 || raw.pendingWorkflowTask != null;
  };
  await waitFor(
    'the journal workflows to settle',
    async () => {
      for (const id of ids) if (await busy(id)) return undefined;
      return true;
    },
    180_000,
    STATUS_POLL_MS,
  );
}

/** Where the school's workflow stands and the last failures of its activities, for a timeout. */
async function statusLine(bench: Bench): Promise<string> {
  const handle = bench.client.workflow.getHandle(workflowIds.schoolSync(bench.schoolId));
  const status = await bench.gateway.syncStatus(bench.schoolId).catch(String);
  const { raw } = await handle.describe();
  const pending = (raw.pendingActivities ?? []).map(
    (a) =>
      `${a.activityType?.name ?? '?'} attempt ${a.attempt ?? '?'}: ${a.lastFailure?.message ?? ''}`,
  );
  return JSON.stringify({ status, pending });
}

/** Requests, and API calls counted the platform's way: direct requests plus the calls inside each `execute`. */
function counters(emulator: Emulator): { requests: number; calls: number; error6: number } {
  const { stats } = emulator;
  const executes = stats.byMethod.execute ?? 0;
  // The school's events listener (V5, C3), started with the sync, asks for its long-poll server:
  // a request of the listener's, not of the sync's.
  const listener = stats.byMethod['groups.getLongPollServer'] ?? 0;
  return {
    requests: stats.requests - listener,
    calls: stats.requests - listener - executes + stats.innerCalls,
    error6: stats.errors['6'] ?? 0,
  };
}

/** How long each activity of the school's workflow took, scheduled to completed, in history order. */
async function activityTimes(bench: Bench): Promise<{ name: string; seconds: number }[]> {
  const history = await bench.client.workflow
    .getHandle(workflowIds.schoolSync(bench.schoolId))
    .fetchHistory();
  const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
    Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, { name: string; at: number }>();
  const times: { name: string; seconds: number }[] = [];
  for (const event of history.events ?? []) {
    const at = millis(event.eventTime);
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(event.eventId), { name: s.activityType?.name ?? '?', at });
    const done = event.activityTaskCompletedEventAttributes;
    const from = done ? scheduled.get(String(done.scheduledEventId)) : undefined;
    if (from) times.push({ name: from.name, seconds: (at - from.at) / 1000 });
  }
  return times;
}

async function initial(bench: Bench): Promise<void> {
  const plan = planChats(bench.roster).chats;
  const creates = plan.length;
  const admins = plan.reduce((n, c) => n + c.admins.length, 0);
  const members = plan.reduce((n, c) => n + c.members.length, 0);
  const calls = creates + admins;
  const requestFloor = Math.ceil(calls / CALLS_PER_EXECUTE);
  const timeFloor = requestFloor / RATE;

  progress(`initial sync: ${plan.length} chats, ${members} members, ${admins} admins`);
  const before = counters(bench.emulator);
  const requestsBefore = bench.requestTimes.length;
  const load = loadavg()[0] ?? 0;
  const started = performance.now();
  await bench.gateway.ensureSchoolSync(bench.schoolId);
  await waitFor(
    'the emulator to equal the plan',
    () => (matchesPlan(bench.emulator, plan) ? true : undefined),
    180_000,
  );
  // Nothing reaches the platform after the run's last write, so the latest request is that write.
  const lastRequest = lastRequestTime(bench);
  const onPlatform = (lastRequest - started) / 1000;
  const requestSpan = (lastRequest - (bench.requestTimes[requestsBefore] ?? Number.NaN)) / 1000;
  const status = await idleAfter(bench, (s) => s.runCount >= 1, 'the first run to finish');
  const runSeconds = (performance.now() - started) / 1000;
  await journalsSettled(bench);
  const after = counters(bench.emulator);
  const requests = after.requests - before.requests;
  const times = await activityTimes(bench);
  const took = (name: string): number => times.find((t) => t.name === name)?.seconds ?? Number.NaN;

  report({
    scenario: 'sync-initial',
    description:
      `large school from nothing: ${plan.length} chats, ${members} members, ${admins} admins ` +
      `(run errors ${status.lastRun?.errors ?? '?'}); load average ${load.toFixed(1)}`,
    measures: [
      {
        metric: 'requests',
        value: requests,
        unit: 'req',
        bound: requestFloor,
        boundSource: `ceil(${calls} calls / 25)`,
        allowance: 1.1,
      },
      {
        metric: 'API calls (inside execute too)',
        value: after.calls - before.calls,
        unit: 'calls',
        bound: calls,
        boundSource: `${creates} createChat + ${admins} setMemberRole`,
      },
      {
        metric: 'time, signal to the plan on the platform',
        value: onPlatform,
        unit: 's',
        bound: timeFloor,
        boundSource: `${requestFloor} req at ${RATE}/s`,
        allowance: 1.25,
      },
      { metric: '  of which planSync activity', value: took('planSync'), unit: 's' },
      { metric: '  of which applyPlan activity', value: took('applyPlan'), unit: 's' },
      { metric: '  first to last platform request', value: requestSpan, unit: 's' },
      { metric: 'time to the run finished (journals ensured)', value: runSeconds, unit: 's' },
      { metric: 'error 6 replies', value: after.error6 - before.error6, unit: '' },
    ],
    seconds: runSeconds,
  });
}

async function steady(bench: Bench): Promise<void> {
  const chats = planChats(bench.roster).chats.length;
  const requestFloor = Math.ceil(chats / CALLS_PER_EXECUTE);
  const before = counters(bench.emulator);
  const load = loadavg()[0] ?? 0;
  const started = performance.now();
  const startedAt = Date.now();
  const { runId } = await bench.gateway.syncNow({ schoolId: bench.schoolId, requestedBy: 'bench' });
  const status = await idleAfter(bench, (s) => s.lastRun?.runId === runId, 'the no-change run');
  const seconds = (performance.now() - started) / 1000;
  const after = counters(bench.emulator);
  const last = status.lastRun;
  const changed =
    (last?.chatsCreated ?? 0) +
    (last?.membersAdded ?? 0) +
    (last?.membersRemoved ?? 0) +
    (last?.adminsChanged ?? 0);
  const recorded = last ? (Date.parse(last.finishedAt) - startedAt) / 1000 : Number.NaN;
  report({
    scenario: 'sync-steady',
    description: `no-change run right after the initial sync: ${chats} chats read, ${changed} changes made; load average ${load.toFixed(1)}`,
    measures: [
      {
        metric: 'requests',
        value: after.requests - before.requests,
        unit: 'req',
        bound: requestFloor,
        boundSource: `ceil(${chats} chats / 25)`,
      },
      {
        metric: 'API calls (inside execute too)',
        value: after.calls - before.calls,
        unit: 'calls',
        bound: chats,
        boundSource: 'a member read per chat',
      },
      { metric: 'time, syncNow to the run recorded', value: recorded, unit: 's' },
      { metric: 'time to the run finished (journals ensured)', value: seconds, unit: 's' },
    ],
    seconds,
  });
}

async function changeLatency(bench: Bench): Promise<void> {
  const { roster } = bench;
  const classNames = new Map(roster.classes.map((c) => [c.id, c.name]));
  const chatIds = new Map(
    [...emulatorChats(bench.emulator)].map(([title, c]) => [title, c.chatId]),
  );
  // Students with a VK ID, one per class, so every change is seen in a chat of its own.
  const picked: (Student & { vkId: number })[] = [];
  const seenClass = new Set<string>();
  for (const s of roster.students) {
    if (!s.active || s.vkId === null || seenClass.has(s.classId)) continue;
    seenClass.add(s.classId);
    picked.push({ ...s, vkId: s.vkId });
  }
  const fromSubmit: number[] = [];
  const fromCommit: number[] = [];
  const halt: { reason: string | null } = { reason: null };
  const load = loadavg()[0] ?? 0;
  const started = performance.now();
  for (let i = 0; i < CHANGES; i++) {
    const student = picked[Math.floor(i / 2) % picked.length];
    if (!student) throw new Error('no student with a VK ID');
    const leaving = i % 2 === 0;
    const chatId = chatIds.get(`${classNames.get(student.classId) ?? '?'} — ученики`);
    const chat = bench.emulator.state.chats.find(
      (c) => c.communityId === COMMUNITY && c.chatId === chatId,
    );
    if (!chat) throw new Error(`no students' chat for class ${student.classId}`);
    const runsBefore = (await bench.gateway.syncStatus(bench.schoolId))?.runCount ?? 0;

    const submitted = performance.now();
    await importChangeSet({
      db: bench.db,
      input: { schoolId: bench.schoolId, upsert: { students: [{ ...student, active: !leaving }] } },
      events: { rosterChanged: (e) => bench.gateway.rosterChanged(e) },
    });
    const committed = performance.now();
    const seen = await waitFor(
      `change ${i + 1} on the platform`,
      () => (chat.members.some((m) => m.memberId === student.vkId) !== leaving ? true : undefined),
      CHANGE_WAIT_MS,
    ).catch(async (error: unknown) => {
      // The changes that follow would start from a state nobody planned: stop, and say why.
      halt.reason = `change ${i + 1} not seen within ${CHANGE_WAIT_MS / 1000} s (${String(error)}); the school: ${await statusLine(bench)}`;
      progress(halt.reason);
      return false;
    });
    if (!seen) break;
    // The request that made the change is the latest one: nothing else reaches the platform now.
    fromSubmit.push((lastRequestTime(bench) - submitted) / 1000);
    fromCommit.push((lastRequestTime(bench) - committed) / 1000);
    await idleAfter(bench, (s) => s.runCount > runsBefore, `the run of change ${i + 1}`);
    if ((i + 1) % 10 === 0) {
      progress(
        `change latency: ${i + 1}/${CHANGES}, p50 so far ${quantile(fromSubmit, 0.5).toFixed(2)} s`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  report({
    scenario: 'sync-change-latency',
    description:
      `${CHANGES} change sets one after another (a student leaves the school, then comes back), ` +
      `until the platform request that moves them; load average ${load.toFixed(1)}` +
      (halt.reason === null ? '' : `; STOPPED: ${halt.reason}`),
    measures: [
      {
        metric: 'changes seen on the platform',
        value: fromSubmit.length,
        unit: '',
        bound: CHANGES,
        kind: 'atLeast',
        boundSource: `each within ${CHANGE_WAIT_MS / 1000} s`,
      },
      {
        metric: 'p50, change set submitted to chat changed',
        value: quantile(fromSubmit, 0.5),
        unit: 's',
        bound: CHANGE_BOUND_S,
        boundSource: 'DESIGN.md §6',
      },
      {
        metric: 'p95, change set submitted to chat changed',
        value: quantile(fromSubmit, 0.95),
        unit: 's',
        bound: CHANGE_BOUND_S,
        boundSource: 'DESIGN.md §6',
      },
      {
        metric: 'p50, import committed to chat changed',
        value: quantile(fromCommit, 0.5),
        unit: 's',
      },
      {
        metric: 'p95, import committed to chat changed',
        value: quantile(fromCommit, 0.95),
        unit: 's',
      },
    ],
    seconds,
  });
}

export async function run(): Promise<void> {
  const bench = await setUp();
  try {
    await initial(bench);
    await steady(bench);
    await changeLatency(bench);
  } finally {
    await bench.stop();
  }
}

if (require.main === module) {
  run()
    .finally(() => stopBenchServices())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
}
