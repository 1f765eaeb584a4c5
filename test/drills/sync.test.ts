import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { describeIncident, historyIncidents, type Incident } from '../../src/audit/incidents';
import { workflowIds } from '../../src/contracts/ids';
import type { RosterSnapshot } from '../../src/contracts/roster';
import type { SyncStatus } from '../../src/contracts/school-sync';
import { SchoolIdKey } from '../../src/contracts/search-attributes';
import { planChats } from '../../src/domain/chat-plan';
import { generateRoster } from '../../src/demo/roster-generator';
import { importSnapshot } from '../../src/store/roster-import';
import { createSyncStore } from '../../src/store/sync-store';
import {
  countEmulatorWrites,
  duplicateTitles,
  emulatorChats,
  GENERATED_TODAY,
  mediumRoster,
  planVsEmulator,
  runFinished,
  until,
} from '../integration/school-sync-support';
import { useServices, type TestServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';
import {
  spawnWorkerProcess,
  writeWorkflowBundle,
  type WorkerProcess,
} from '../support/worker-process';
import { drillScale, startDrillServices, type DrillServices } from './services';

/**
 * School-sync fault drills (issue 9): an initial sync of a whole school is interrupted by a worker
 * SIGKILL, a MongoDB outage, VK faults or a Temporal server restart. After each the platform equals
 * the plan (every chat, member and admin right), no chat exists twice, and the sync's own history
 * names the outage and its cause through the audit's incidents. CI runs a reduced school;
 * `npm run drills` the large generated one.
 */

const services = useServices();
const writes = countEmulatorWrites();
const full = drillScale() === 'full';

let drillServices: Promise<DrillServices> | undefined;
/** The restartable MongoDB and Temporal of the drills that stop them; started on first use. */
function ownServices(): Promise<DrillServices> {
  drillServices ??= startDrillServices();
  return drillServices;
}

let bundleDir: Promise<{ dir: string; bundlePath: string }> | undefined;
function bundle(): Promise<{ dir: string; bundlePath: string }> {
  bundleDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sync-drills-'));
    return { dir, bundlePath: await writeWorkflowBundle(dir) };
  })();
  return bundleDir;
}

after(async () => {
  writes.onApplied = null;
  if (drillServices) await (await drillServices).stop();
  if (bundleDir) await rm((await bundleDir).dir, { recursive: true, force: true });
});

/** The school a drill syncs: the large generated school at full size, a medium one in CI. */
function drillRoster(schoolId: string): RosterSnapshot {
  return full
    ? generateRoster({ seed: `drill-${schoolId}`, size: 'large', schoolId, today: GENERATED_TODAY })
    : mediumRoster(schoolId, [5, 6]);
}

interface Drill {
  readonly stack: Stack;
  readonly schoolId: string;
  readonly communityId: number;
  readonly roster: RosterSnapshot;
  /** Chats the first plan creates: what "40% of the chats" counts against. */
  readonly plannedChats: number;
  readonly workers: WorkerProcess[];
  /** Titles in the order the platform applied their createChat. */
  readonly created: string[];
  spawnWorker(): Promise<WorkerProcess>;
  /** Imports the roster, which starts the school's workflow and its first run. */
  importRoster(): Promise<void>;
}

let nextCommunityId = 9100;

/**
 * Sets up a school on its own stack (database, emulator, task queue) against `on`, runs `body`,
 * and on failure prints what the workers said and where the workflow stands.
 */
async function drill(
  t: TestContext,
  args: { schoolId: string; on: TestServices },
  body: (d: Drill) => Promise<void>,
): Promise<void> {
  const stack = await startStack({ services: args.on });
  const { bundlePath } = await bundle();
  const { schoolId } = args;
  const roster = drillRoster(schoolId);
  const communityId = nextCommunityId++;
  const token = `drill-token-${randomBytes(12).toString('hex')}`;
  stack.emulator.addCommunity(communityId, token);
  await stack.settings.save({ schoolId, input: { communityId, token, period: '30' } });
  const workers: WorkerProcess[] = [];
  const created: string[] = [];
  writes.reset();
  writes.onApplied = (method, params) => {
    if (method === 'messages.createChat') created.push(params.title ?? '');
  };
  const d: Drill = {
    stack,
    schoolId,
    communityId,
    roster,
    plannedChats: planChats(roster, { existingSubjectChatJournalIds: [] }).chats.length,
    workers,
    created,
    async spawnWorker() {
      const worker = await spawnWorkerProcess({
        temporalAddress: args.on.temporalAddress,
        mongoUri: args.on.mongoUri,
        dbName: stack.db.databaseName,
        taskQueue: stack.taskQueue,
        emulatorUrl: stack.emulator.url,
        bundlePath,
        logLevel: 'warn',
      });
      workers.push(worker);
      return worker;
    },
    async importRoster() {
      await importSnapshot({
        db: stack.db,
        input: roster,
        events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
      });
    },
  };
  try {
    await body(d);
  } catch (error) {
    for (const [i, w] of workers.entries()) {
      t.diagnostic(`worker ${i} stderr (tail): ${w.stderr.join('').slice(-3000)}`);
    }
    const status = await stack.gateway.syncStatus(schoolId).catch((e: unknown) => String(e));
    t.diagnostic(`status: ${JSON.stringify(status)}`);
    throw error;
  } finally {
    writes.onApplied = null;
    await endWorkflows(stack, schoolId, roster);
    for (const w of workers) await w.stop();
    await stack.stop();
  }
}

/**
 * Terminates the school's workflows: generated rosters share journal IDs, so a drill's journal
 * workflows left running on the run's shared server would hold those IDs for other tests' schools.
 */
async function endWorkflows(stack: Stack, schoolId: string, roster: RosterSnapshot): Promise<void> {
  const ids = [
    workflowIds.schoolSync(schoolId),
    ...roster.journals.map((j) => workflowIds.journalCalls({ schoolId, journalId: j.id })),
  ];
  for (const id of ids) {
    try {
      const handle = stack.client.workflow.getHandle(id);
      const described = await handle.describe();
      if (described.status.name !== 'RUNNING') continue;
      if (described.typedSearchAttributes.get(SchoolIdKey) !== schoolId) continue;
      await handle.terminate('drill over');
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
}

/** Calls `fire` once, synchronously, right after the platform applied the n-th createChat. */
function afterCreatedChat(d: Drill, n: number, fire: (title: string) => void): void {
  writes.onApplied = (method, params) => {
    if (method !== 'messages.createChat') return;
    d.created.push(params.title ?? '');
    if (d.created.length === n) fire(params.title ?? '');
  };
}

interface Converged {
  readonly status: SyncStatus;
  readonly chats: number;
  readonly members: number;
  readonly admins: number;
}

/**
 * The platform equals the plan: every chat, member and admin right, each chat once, no createChat
 * applied twice for one chat, and our records pointing at the platform's chats.
 */
async function platformEqualsPlan(d: Drill): Promise<Omit<Converged, 'status'>> {
  const problems = await planVsEmulator(d.stack, d.schoolId, d.communityId);
  assert.deepEqual(problems.slice(0, 20), [], 'the platform differs from the plan');
  const chats = emulatorChats(d.stack.emulator, d.communityId);
  assert.deepEqual(duplicateTitles(chats), [], 'a chat exists twice');
  assert.deepEqual(
    duplicateTitles(d.created.map((title) => ({ chatId: 0, title, members: [], admins: [] }))),
    [],
    'createChat was applied twice for one chat',
  );
  assert.equal(chats.length, d.plannedChats, 'chats on the platform');
  const managed = await createSyncStore(d.stack.db).listChats(d.schoolId);
  assert.equal(
    new Set(managed.map((c) => c.chatId)).size,
    managed.length,
    'two records share a chat',
  );
  return {
    chats: chats.length,
    members: chats.reduce((n, c) => n + c.members.length, 0),
    admins: chats.reduce((n, c) => n + c.admins.length, 0),
  };
}

/** Waits for the school's first run to finish; then the platform must equal the plan. */
async function assertConverged(d: Drill, ms: number): Promise<Converged> {
  const status = await runFinished(d.stack, d.schoolId, { runCountAtLeast: 1 }, ms);
  return { status, ...(await platformEqualsPlan(d)) };
}

/** The audit's incidents of the school's sync, read from its history on the server. */
async function syncIncidents(d: Drill): Promise<Incident[]> {
  const workflowId = workflowIds.schoolSync(d.schoolId);
  const handle = d.stack.client.workflow.getHandle(workflowId);
  const { runId } = await handle.describe();
  const history: unknown = JSON.parse(historyToJSON(await handle.fetchHistory()));
  return historyIncidents({ workflowId, runId, history });
}

/**
 * The incidents matching `pattern` (seen at or after `since`); fails listing every incident when
 * there is none.
 */
function assertIncident(
  all: readonly Incident[],
  pattern: RegExp,
  what: string,
  since = 0,
): Incident[] {
  const incidents = all.filter((i) => i.at >= since);
  const lines = incidents.map(describeIncident);
  const hits = incidents.filter((_, i) => pattern.test(lines[i] ?? ''));
  assert.ok(
    hits.length > 0,
    `the audit does not show ${what} (${pattern}); it shows:\n  ${lines.join('\n  ') || '(nothing)'}`,
  );
  return hits;
}

/**
 * The run's own record shows the outage too: its summary in the status query and in `sync_runs`
 * carries the incident, so an operator sees it without opening the history.
 */
async function assertRunShows(
  d: Drill,
  status: SyncStatus,
  pattern: RegExp,
  what: string,
): Promise<string> {
  const fromStatus = (status.lastRun?.incidents ?? []).map((i) => i.text);
  assert.ok(
    fromStatus.some((text) => pattern.test(text)),
    `the run's status does not show ${what} (${pattern}): ${JSON.stringify(fromStatus)}`,
  );
  const stored = await createSyncStore(d.stack.db).latestRun(d.schoolId);
  assert.equal(stored?.runId, status.lastRun?.runId, 'the stored run is not the last run');
  assert.deepEqual(
    stored?.incidents,
    status.lastRun?.incidents,
    'sync_runs differs from the status',
  );
  return `run record: ${fromStatus.length} incident(s)`;
}

/** What the audit says of a worker killed mid-run: its activity's timeout, or its task's. */
const LOST_WORKER =
  /TIMEOUT_TYPE_(HEARTBEAT|START_TO_CLOSE)|no worker completed|waited .* for a worker/;

const pct = (part: number, whole: number): string => `${Math.round((100 * part) / whole)}%`;

void test('C1–C5 drill: a worker SIGKILLed at 40% of an initial sync leaves, after a restart, the plan on the platform with no duplicate chat, and the audit shows the lost worker', async (t) => {
  await drill(t, { schoolId: 'drill-kill', on: services() }, async (d) => {
    const killAt = Math.ceil(d.plannedChats * 0.4);
    const first = await d.spawnWorker();
    let killedAfter: string | undefined;
    let writesAtKill = 0;
    afterCreatedChat(d, killAt, (title) => {
      killedAfter = title;
      writesAtKill = writes.total();
      first.child.kill('SIGKILL');
    });
    const started = Date.now();
    await d.importRoster();
    await until('the worker is killed mid-run', () => killedAfter !== undefined, 300_000);
    await first.kill();
    assert.equal(await createSyncStore(d.stack.db).latestRun(d.schoolId), null, 'a run finished');
    const beforeRestart = (await planVsEmulator(d.stack, d.schoolId, d.communityId)).length;
    assert.ok(beforeRestart > 0, 'the sync was complete when the worker was killed');

    await d.spawnWorker();
    const done = await assertConverged(d, 600_000);
    const tookMs = Date.now() - started;
    const totalWrites = writes.total();

    const incidents = await syncIncidents(d);
    const lost = assertIncident(incidents, LOST_WORKER, 'the killed worker');
    const run = done.status.lastRun;
    assert.ok(run, 'no run summary');
    assert.equal(run.errors, 0, 'the run reports errors');
    assert.ok(run.chatsAdopted >= 1, 'the chat whose reply died with the worker was not adopted');
    assert.equal(run.chatsCreated + run.chatsAdopted, done.chats);
    const recorded = await assertRunShows(d, done.status, LOST_WORKER, 'the killed worker');

    t.diagnostic(
      `checked: ${done.chats} chats = plan, 0 duplicates, ${done.members} members, ${done.admins} admins; ` +
        `worker killed after createChat ${killAt}/${d.plannedChats} ("${killedAfter}") at ${pct(writesAtKill, totalWrites)} of ${totalWrites} writes; ` +
        `run: ${run.chatsCreated} created, ${run.chatsAdopted} adopted, ${run.errors} errors; ${recorded}; ${(tookMs / 1000).toFixed(0)} s`,
    );
    for (const i of lost) t.diagnostic(`audit: ${describeIncident(i)}`);
  });
});

void test('C1–C5 drill: MongoDB stopped for 30 s in the middle of an initial sync: the run waits it out and reaches the plan with no duplicate chat, and the audit names the MongoDB error', async (t) => {
  const own = await ownServices();
  const on = {
    mongoUri: own.mongoUri,
    temporalAddress: own.temporalAddress,
    temporalUiUrl: undefined,
  };
  await drill(t, { schoolId: 'drill-mongo', on }, async (d) => {
    const stopAt = Math.ceil(d.plannedChats * 0.3);
    await d.spawnWorker();
    let outage: Promise<{ stopMs: number; chatsAtStop: number; downMs: number }> | undefined;
    afterCreatedChat(d, stopAt, () => {
      // A medium school's sync outruns a graceful shutdown: VK answers are held while MongoDB
      // stops, so the outage lands on the chats in flight rather than after them.
      d.stack.emulator.setFaults({ latencyMs: 15_000 });
      outage = (async () => {
        const stopping = Date.now();
        await own.stopMongo();
        const stoppedAt = Date.now();
        const chatsAtStop = d.created.length;
        d.stack.emulator.setFaults({ latencyMs: 0 });
        await delay(30_000);
        await own.startMongo();
        return { stopMs: stoppedAt - stopping, chatsAtStop, downMs: Date.now() - stoppedAt };
      })();
    });
    const started = Date.now();
    await d.importRoster();
    const { stopMs, chatsAtStop, downMs } = await until(
      'the MongoDB outage',
      () => outage,
      300_000,
    );
    const done = await assertConverged(d, 600_000);

    const incidents = await syncIncidents(d);
    const mongo = assertIncident(incidents, /Mongo/, 'the MongoDB outage');
    const run = done.status.lastRun;
    assert.ok(run, 'no run summary');
    assert.equal(run.errors, 0, 'the run reports errors');
    const recorded = await assertRunShows(d, done.status, /Mongo/, 'the MongoDB outage');

    t.diagnostic(
      `checked: ${done.chats} chats = plan, 0 duplicates, ${done.members} members, ${done.admins} admins; ` +
        `MongoDB stopped at createChat ${stopAt}/${d.plannedChats} (down after ${stopMs} ms, at ${chatsAtStop} chats) for ${(downMs / 1000).toFixed(0)} s; ` +
        `run: ${run.chatsCreated} created, ${run.chatsAdopted} adopted, ${run.errors} errors; ${recorded}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    for (const i of mongo) t.diagnostic(`audit: ${describeIncident(i)}`);
  });
});

/**
 * Takes `perChat` members (not admins) out of the `chats` largest chats on the platform, as a
 * member leaving by hand would: the next run has adds to make, so a fault can strike its writes.
 */
function removeMembersByHand(d: Drill, chats: number, perChat: number): number {
  const self = -d.communityId;
  const largest = d.stack.emulator.state.chats
    .filter((c) => c.communityId === d.communityId && !c.deleted)
    .sort((a, b) => b.members.length - a.members.length)
    .slice(0, chats);
  let removed = 0;
  for (const chat of largest) {
    const gone = new Set(
      chat.members
        .filter((m) => m.memberId !== self && !m.isAdmin)
        .slice(0, perChat)
        .map((m) => m.memberId),
    );
    chat.members = chat.members.filter((m) => !gone.has(m.memberId));
    removed += gone.size;
  }
  return removed;
}

interface VkFault {
  readonly name: string;
  /** What the audit must show for it. */
  readonly pattern: RegExp;
  /** Sets the fault up before the run; returns what undoes it once the run is over. */
  arm(d: Drill): () => void;
}

const vkFaults: readonly VkFault[] = [
  {
    name: "VK error 10 on the run's first request",
    pattern: /error 10\b/,
    arm(d) {
      void d.stack.emulator.strikeNext('error10');
      return () => undefined;
    },
  },
  {
    name: "HTTP 502 on the run's first request",
    pattern: /HTTP 502/,
    arm(d) {
      void d.stack.emulator.strikeNext('http502');
      return () => undefined;
    },
  },
  {
    name: 'the rate limit (error 6) at 1 request/s until it refused one',
    pattern: /error 6\b/,
    arm(d) {
      const refused = d.stack.emulator.stats.errors['6'] ?? 0;
      d.stack.emulator.setFaults({ rateLimitPerSecond: 1 });
      const timer = setInterval(() => {
        if ((d.stack.emulator.stats.errors['6'] ?? 0) > refused) {
          d.stack.emulator.setFaults({ rateLimitPerSecond: null });
          clearInterval(timer);
        }
      }, 5);
      return () => {
        clearInterval(timer);
        d.stack.emulator.setFaults({ rateLimitPerSecond: null });
      };
    },
  },
  {
    name: 'flood control (error 9) after 3 writes a minute',
    pattern: /error 9\b/,
    arm(d) {
      d.stack.emulator.setOptions({ floodActionsPerMinute: 3 });
      return () => d.stack.emulator.setOptions({ floodActionsPerMinute: 0 });
    },
  },
];

void test('C1–C5 drill: VK faults, one per sync run (a reply dropped after createChat applied, error 10, HTTP 502, rate limit 6, flood control 9): each run reaches the plan with no duplicate chat and the audit names its fault', async (t) => {
  await drill(t, { schoolId: 'drill-vk', on: services() }, async (d) => {
    await d.spawnWorker();
    const dropAt = Math.ceil(d.plannedChats * 0.3);
    let dropped: string | undefined;
    afterCreatedChat(d, dropAt, (title) => {
      dropped = title;
      // The request that applied this createChat loses its answer, and only that one.
      d.stack.emulator.setFaults({ dropAfterRate: 1 });
      queueMicrotask(() => d.stack.emulator.setFaults({ dropAfterRate: 0 }));
    });
    const started = Date.now();
    await d.importRoster();
    const first = await assertConverged(d, 300_000);
    assert.ok(dropped, 'no createChat reply was dropped');
    const run = first.status.lastRun;
    assert.ok(run, 'no run summary');
    assert.ok(run.chatsAdopted >= 1, 'the chat whose reply was dropped was not adopted');
    const lostReply = assertIncident(
      await syncIncidents(d),
      /network error|other side closed|socket/i,
      'the dropped reply',
      started,
    );
    await assertRunShows(
      d,
      first.status,
      /network error|other side closed|socket/i,
      'the dropped reply',
    );
    t.diagnostic(
      `checked run 1 (initial sync): ${first.chats} chats = plan, 0 duplicates, ${first.members} members, ${first.admins} admins; ` +
        `reply of createChat ${dropAt}/${d.plannedChats} ("${dropped}") dropped after it applied, ${run.chatsAdopted} adopted; ` +
        `audit: ${describeIncident(lostReply[0]!)}`,
    );

    for (const [i, fault] of vkFaults.entries()) {
      const removed = removeMembersByHand(d, 2, 3);
      const disarm = fault.arm(d);
      const runStart = Date.now();
      try {
        const { runId } = await d.stack.gateway.syncNow({
          schoolId: d.schoolId,
          requestedBy: 'drill',
        });
        const status = await runFinished(d.stack, d.schoolId, { runId }, 300_000);
        const now = await platformEqualsPlan(d);
        const hits = assertIncident(await syncIncidents(d), fault.pattern, fault.name, runStart);
        await assertRunShows(d, status, fault.pattern, fault.name);
        t.diagnostic(
          `checked run ${i + 2} (${fault.name}): ${now.chats} chats = plan, ${now.members} members, ` +
            `${removed} members removed by hand put back (${status.lastRun?.membersAdded ?? '?'} added), ` +
            `${((Date.now() - runStart) / 1000).toFixed(0)} s; audit: ${describeIncident(hits[0]!)}`,
        );
      } finally {
        disarm();
      }
    }
    t.diagnostic(
      `emulator errors ${JSON.stringify(d.stack.emulator.stats.errors)}, inner ${JSON.stringify(d.stack.emulator.stats.innerErrors)}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  });
});

void test('C1–C5 drill: the Temporal dev server restarted (persistent database) in the middle of an initial sync: the run resumes and reaches the plan with no duplicate chat, and the audit shows the outage', async (t) => {
  const own = await ownServices();
  const on = {
    mongoUri: own.mongoUri,
    temporalAddress: own.temporalAddress,
    temporalUiUrl: undefined,
  };
  await drill(t, { schoolId: 'drill-temporal', on }, async (d) => {
    const stopAt = Math.ceil(d.plannedChats * 0.3);
    await d.spawnWorker();
    let outage: Promise<{ stopMs: number; chatsAtStop: number; downMs: number }> | undefined;
    afterCreatedChat(d, stopAt, () => {
      d.stack.emulator.setFaults({ latencyMs: 15_000 });
      outage = (async () => {
        const stopping = Date.now();
        await own.stopTemporal();
        const stoppedAt = Date.now();
        const chatsAtStop = d.created.length;
        d.stack.emulator.setFaults({ latencyMs: 0 });
        await delay(15_000);
        await own.startTemporal();
        return { stopMs: stoppedAt - stopping, chatsAtStop, downMs: Date.now() - stoppedAt };
      })();
    });
    const started = Date.now();
    await d.importRoster();
    const { stopMs, chatsAtStop, downMs } = await until(
      'the Temporal outage',
      () => outage,
      300_000,
    );
    const done = await assertConverged(d, 600_000);

    const restarted = assertIncident(
      await syncIncidents(d),
      /Temporal server restarted/,
      'the Temporal restart',
      started,
    );
    const run = done.status.lastRun;
    assert.ok(run, 'no run summary');
    const recorded = await assertRunShows(
      d,
      done.status,
      /Temporal server restarted/,
      'the restart',
    );
    t.diagnostic(
      `checked: ${done.chats} chats = plan, 0 duplicates, ${done.members} members, ${done.admins} admins; ` +
        `Temporal stopped at createChat ${stopAt}/${d.plannedChats} (down after ${stopMs} ms, at ${chatsAtStop} chats) for ${(downMs / 1000).toFixed(0)} s; ` +
        `run: ${run.chatsCreated} created, ${run.chatsAdopted} adopted, ${run.errors} errors; ${recorded}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    for (const i of restarted) t.diagnostic(`audit: ${describeIncident(i)}`);
  });
});
