import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import type { RosterSnapshot } from '../src/contracts/roster';
import { workflowIds } from '../src/contracts/ids';
import { addDays, epochToZonedDate, formatZonedTime, isoWeekday } from '../src/domain/time';
import { issueTeacherToken } from '../src/store/auth-store';
import { createCallStore } from '../src/store/call-store';
import {
  forEachLimit,
  progress,
  seedSchool,
  startCallsStack,
  type CallsStack,
} from './support/calls-stack';
import { cpuSpent, machineCpu, processCpu } from './support/process-cpu';
import { quantile, report, type Measure } from './support/report';
import { startPostgresMongo } from './support/postgres-mongo';
import { benchServices } from './support/services';

/**
 * Issue 9, video lessons. Two scenarios on the real call path (HTTP API, Temporal dev server, a
 * worker from `createSferumWorker` with the production activities, FerretDB/MongoDB, the VK API
 * emulator in its own process):
 *
 * - button-latency: a teacher presses «Начать видеоурок»; the `startCall` update's round trip as
 *   the HTTP client sees it, bound p99 < 500 ms. Every press is a real start: the call is ended
 *   (`endCall`, measured too) before the next one.
 * - timer-accuracy: 1,000 journals, each with a published online lesson a little over 20 minutes
 *   away; each automatic start's delay after its due time (lesson start − 20 min) as the platform
 *   sees it (`calls.start` received by the emulator), bound p99 < 1 s.
 */

const TZ = 'Europe/Moscow';
const MINUTE = 60_000;
const AUTO_START_LEAD_MS = 20 * MINUTE;
const TEACHER = 'stf-teacher';

const env = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
};

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** A school whose journals each have one published online lesson at the given start. */
function schoolRoster(args: {
  schoolId: string;
  journals: readonly { journalId: string; lessonStart: number }[];
}): RosterSnapshot {
  // Lessons start on the bell grid: one grid row per distinct start time, numbered in order.
  const times = [...new Set(args.journals.map((j) => formatZonedTime(j.lessonStart, TZ)))].sort();
  const numberOf = (lessonStart: number): number =>
    times.indexOf(formatZonedTime(lessonStart, TZ)) + 1;
  const endOf = (time: string): string => {
    const [h, m] = time.split(':').map(Number) as [number, number];
    const minutes = Math.min(h * 60 + m + 45, 23 * 60 + 59);
    return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  };
  const dates = args.journals.map((j) => epochToZonedDate(j.lessonStart, TZ));
  const anyDate = dates[0] ?? epochToZonedDate(Date.now(), TZ);
  return {
    school: { id: args.schoolId, name: `Школа ${args.schoolId}`, timeZone: TZ },
    staff: [
      {
        id: TEACHER,
        lastName: 'Ньютонова',
        firstName: 'Ирина',
        vkId: 500_001,
        active: true,
        positions: [{ title: 'Учитель', level: 'teacher', active: true }],
        actingHead: false,
        accessRoles: ['teacher'],
      },
    ],
    classes: [{ id: 'cls-1', name: '8Б', classTeacherId: TEACHER }],
    students: [1, 2, 3].map((n) => ({
      id: `stu-${n}`,
      classId: 'cls-1',
      lastName: `Ученик${n}`,
      firstName: 'Тест',
      vkId: 600_000 + n,
      active: true,
    })),
    parents: [],
    journals: args.journals.map((j, i) => ({
      id: j.journalId,
      classId: 'cls-1',
      subject: `Предмет ${i + 1}`,
      teacherIds: [TEACHER],
      kind: 'general' as const,
      subjectChat: true,
    })),
    lessons: args.journals.map((j, i) => ({
      id: `les-${j.journalId}`,
      journalId: j.journalId,
      date: dates[i] ?? anyDate,
      number: numberOf(j.lessonStart),
      online: true,
      status: 'published' as const,
    })),
    templates: [
      {
        id: 'tpl-main',
        validFrom: addDays(anyDate, -30),
        validTo: addDays(anyDate, 30),
        sendToPortal: true,
        grid: times.map((start, i) => ({ number: i + 1, start, end: endOf(start) })),
        entries: args.journals.map((j, i) => ({
          journalId: j.journalId,
          weekday: isoWeekday(dates[i] ?? anyDate),
          number: numberOf(j.lessonStart),
        })),
      },
    ],
  };
}

async function post(
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Press start, then end, 200 times on one journal. The presses are paced at least 200 ms apart:
 * a press costs three platform requests (calls.start, the link's messages.send, calls.forceFinish)
 * and the client keeps a community under 18 requests/s, so faster presses would measure the rate
 * limiter, not the button.
 */
async function buttonLatency(stack: CallsStack): Promise<void> {
  const presses = env('SFERUM_BENCH_PRESSES', 200);
  const warmUp = 5;
  const paceMs = 200;
  const suffix = randomBytes(4).toString('hex');
  const schoolId = `bench-button-${suffix}`;
  const journalId = `jr-button-${suffix}`;
  // Two hours ahead: far from its automatic start, so only the button starts calls.
  const lessonStart = Math.ceil((Date.now() + 120 * MINUTE) / MINUTE) * MINUTE;
  await seedSchool(stack, {
    roster: schoolRoster({ schoolId, journals: [{ journalId, lessonStart }] }),
    communityId: 900_001,
  });
  const lessonId = `les-${journalId}`;
  const token = (await issueTeacherToken({ db: stack.db, schoolId, staffId: TEACHER })).secret;
  await stack.gateway.ensureJournalCalls({ schoolId, journalId });
  const startUrl = `${stack.apiUrl}/journals/${journalId}/call/start`;
  const endUrl = `${stack.apiUrl}/journals/${journalId}/call/end`;

  const loadBefore = load();
  const started = performance.now();
  const starts: number[] = [];
  const ends: number[] = [];
  const tick = progress('button-latency');
  for (let i = 0; i < warmUp + presses; i++) {
    const t0 = performance.now();
    const start = await post(startUrl, token, { lessonId });
    const t1 = performance.now();
    if (start.status !== 200) {
      throw new Error(`press ${i}: start answered ${start.status} ${JSON.stringify(start.body)}`);
    }
    const end = await post(endUrl, token);
    const t2 = performance.now();
    if (end.status !== 200) {
      throw new Error(`press ${i}: end answered ${end.status} ${JSON.stringify(end.body)}`);
    }
    if (i >= warmUp) {
      starts.push(t1 - t0);
      ends.push(t2 - t1);
    }
    tick(`${Math.max(0, i + 1 - warmUp)}/${presses} presses`);
    const rest = paceMs - (performance.now() - t0);
    if (rest > 0) await sleep(rest);
  }
  const seconds = (performance.now() - started) / 1000;

  const platform = await stack.emulator.state();
  const callsStarted = platform.calls.length;
  const rateLimited = platform.stats.errors['6'] ?? 0;
  if (callsStarted !== warmUp + presses) {
    throw new Error(`expected ${warmUp + presses} calls on the platform, found ${callsStarted}`);
  }
  await stack.client.workflow
    .getHandle(workflowIds.journalCalls({ schoolId, journalId }))
    .terminate('bench over')
    .catch(() => undefined);

  const ms = (metric: string, value: number, bound?: number): Measure => ({
    metric,
    value,
    unit: 'ms',
    ...(bound === undefined ? {} : { bound, kind: 'atMost' as const, boundSource: 'issue 9' }),
  });
  report({
    scenario: 'calls: button-latency',
    description:
      `${presses} presses of «Начать видеоурок» (HTTP API → startCall update → calls.start and the ` +
      `link → reply), each followed by «Завершить», after ${warmUp} warm-up presses; ` +
      `${callsStarted} calls on the platform, ${rateLimited} rate-limit errors; ` +
      `load average ${loadBefore} before, ${load()} after`,
    measures: [
      ms('start p50', quantile(starts, 0.5)),
      ms('start p99', quantile(starts, 0.99), 500),
      ms('start max', Math.max(...starts)),
      ms('end p50', quantile(ends, 0.5)),
      ms('end p99', quantile(ends, 0.99)),
    ],
    seconds,
  });
}

interface PlannedJournal {
  readonly schoolId: string;
  readonly journalId: string;
  readonly dueAt: number;
}

/** Where one automatic start spent its time, from the journal workflow's history (ms). */
interface StartTrace {
  /**
   * The openCall activity's scheduling − due: negative when the start was armed ahead of its
   * due time (the activity then waits for it in the worker), positive when it was scheduled late.
   */
  readonly scheduledVsDue: number;
  /** The timer before it fired − due: the early wake-up, or the due time itself when not armed. */
  readonly timerLate: number;
  /** The workflow task that scheduled openCall: scheduled → started (waiting for a worker slot). */
  readonly taskWait: number;
  /** That workflow task: started → completed. */
  readonly taskRun: number;
  /** The openCall activity: scheduled → started. */
  readonly activityWait: number;
  /** The emulator receiving calls.start − due. */
  readonly platformVsDue: number;
  /**
   * The workflow task that scheduled openCall came from the worker's sticky queue: the workflow
   * was still in its cache. A normal-queue task means it was evicted and replayed its history.
   */
  readonly sticky: boolean;
  /** The openCall attempt that reached the platform (1 unless an earlier one failed or timed out). */
  readonly attempt: number;
}

type HistoryEvent = NonNullable<
  Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']
>[number];

function traceStart(
  events: readonly HistoryEvent[],
  dueAt: number,
  platformAt: number,
): StartTrace | undefined {
  const time = (e: HistoryEvent | undefined): number => (e ? tsToMs(e.eventTime) : Number.NaN);
  const scheduledIndex = events.findIndex(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'openCall',
  );
  if (scheduledIndex < 0) return undefined;
  const scheduled = events[scheduledIndex];
  const before = events.slice(0, scheduledIndex);
  const fired = before.findLast((e) => e.timerFiredEventAttributes);
  // The task whose completion scheduled the activity: the last one started before it.
  const taskScheduled = before.findLast((e) => e.workflowTaskScheduledEventAttributes);
  const taskStarted = before.findLast((e) => e.workflowTaskStartedEventAttributes);
  const taskCompleted = before.findLast((e) => e.workflowTaskCompletedEventAttributes);
  const scheduledId = scheduled?.eventId?.toString();
  const activityStarted = events.find(
    (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduledId,
  );
  return {
    scheduledVsDue: time(scheduled) - dueAt,
    timerLate: time(fired) - dueAt,
    taskWait: time(taskStarted) - time(taskScheduled),
    taskRun: time(taskCompleted) - time(taskStarted),
    activityWait: time(activityStarted) - time(scheduled),
    platformVsDue: platformAt - dueAt,
    attempt: activityStarted?.activityTaskStartedEventAttributes?.attempt ?? 1,
    sticky:
      taskScheduled?.workflowTaskScheduledEventAttributes?.taskQueue?.kind ===
      temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_STICKY,
  };
}

const summary = (values: readonly number[]): string =>
  `p50 ${quantile(values, 0.5).toFixed(0)} / p99 ${quantile(values, 0.99).toFixed(0)} / max ${Math.max(...values).toFixed(0)} ms`;

/**
 * 1,000 journals over several schools (each its own community token) and several whole minutes,
 * every one with a published online lesson 20 minutes after its due minute. The setup (rosters,
 * subject chats, the workflows planning their timers) is done before the first due minute; the
 * measure is each call's arrival at the platform after its due time.
 */
async function timerAccuracy(stack: CallsStack, store: string): Promise<void> {
  const schools = env('SFERUM_BENCH_TIMER_SCHOOLS', 50);
  const perSchool = env('SFERUM_BENCH_TIMER_JOURNALS_PER_SCHOOL', 20);
  const minutes = env('SFERUM_BENCH_TIMER_MINUTES', 3);
  const setupBudgetMs = env('SFERUM_BENCH_TIMER_SETUP_SECONDS', 45) * 1000;
  const total = schools * perSchool;
  const tick = progress('timer-accuracy');
  const setupStarted = performance.now();

  // The first due minute leaves the setup its budget; lessons start 20 minutes after their due.
  const firstDue = Math.ceil((Date.now() + setupBudgetMs) / MINUTE) * MINUTE;
  const suffix = randomBytes(3).toString('hex');
  const journals: PlannedJournal[] = [];
  const rosters: { roster: RosterSnapshot; communityId: number }[] = [];
  for (let s = 0; s < schools; s++) {
    const schoolId = `bench-timer-${suffix}-${s}`;
    const own: { journalId: string; lessonStart: number }[] = [];
    for (let j = 0; j < perSchool; j++) {
      const journalId = `jr-${suffix}-${s}-${j}`;
      // Each school's journals spread evenly over the minutes, so every minute has every school.
      const dueAt = firstDue + (j % minutes) * MINUTE;
      journals.push({ schoolId, journalId, dueAt });
      own.push({ journalId, lessonStart: dueAt + AUTO_START_LEAD_MS });
    }
    rosters.push({ roster: schoolRoster({ schoolId, journals: own }), communityId: 910_000 + s });
  }
  const lastDue = firstDue + (minutes - 1) * MINUTE;

  // Each school's workflows start as soon as it is seeded, while the next schools are seeded.
  let seeded = 0;
  let started = 0;
  await forEachLimit(rosters, 4, async (school) => {
    await seedSchool(stack, school);
    seeded++;
    await forEachLimit(school.roster.journals, 5, async (journal) => {
      await stack.gateway.ensureJournalCalls({
        schoolId: school.roster.school.id,
        journalId: journal.id,
      });
      started++;
    });
    tick(`schools seeded ${seeded}/${schools}, workflows started ${started}/${total}`);
  });
  const seededSeconds = (performance.now() - setupStarted) / 1000;
  // A workflow has planned once it published its next action (NextActionAt) to visibility.
  const plannedQuery = `TaskQueue = "${stack.taskQueue}" AND ExecutionStatus = "Running" AND NextActionAt IS NOT NULL`;
  for (;;) {
    const { count } = await stack.client.workflow.count(plannedQuery);
    tick(`workflows planned ${count}/${total}`, count >= total);
    if (count >= total) break;
    if (Date.now() > firstDue) break;
    await sleep(1_000);
  }
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const slackMs = firstDue - Date.now();
  if (slackMs < 2_000) {
    throw new Error(
      `setup took ${setupSeconds.toFixed(0)} s and ran into the first due minute; ` +
        `raise SFERUM_BENCH_TIMER_SETUP_SECONDS (now ${setupBudgetMs / 1000})`,
    );
  }
  tick(
    `setup done in ${setupSeconds.toFixed(0)} s (seeded and started in ${seededSeconds.toFixed(0)} s); ` +
      `first due in ${(slackMs / 1000).toFixed(0)} s`,
    true,
  );

  // The clock: from the first due minute until every call has arrived (or a minute after the last).
  const loadBefore = load();
  await sleep(firstDue - Date.now());
  const windowStarted = performance.now();
  const cpuBefore = processCpu();
  // The worker's main thread runs the activities and relays every workflow activation.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  if (process.env.SFERUM_BENCH_MARKS)
    process.stderr.write(`MARK start ${process.hrtime.bigint() / 1000n}\n`);
  const machineBefore = machineCpu();
  // Until every call has arrived, or none has for a minute after the last due minute (a loaded
  // worker can leave a wake-up waiting half a minute).
  let arrived = 0;
  let lastArrival = Date.now();
  while (arrived < total && (Date.now() < lastDue || Date.now() - lastArrival < MINUTE)) {
    await sleep(2_000);
    const now = (await stack.emulator.state()).calls.length;
    if (now > arrived) lastArrival = Date.now();
    arrived = now;
    tick(`${arrived}/${total} calls started`, true);
  }
  if (process.env.SFERUM_BENCH_MARKS)
    process.stderr.write(`MARK end ${process.hrtime.bigint() / 1000n}\n`);
  loopDelay.disable();
  const windowSeconds = (performance.now() - windowStarted) / 1000;
  const loadAfter = load();
  const cpuWindow = cpuSpent(cpuBefore, processCpu());
  const machineAfter = machineCpu();
  const machineBusy = machineAfter.busy - machineBefore.busy;
  const machineTotal = machineBusy + machineAfter.idle - machineBefore.idle;

  // A call is the journal's once its start recorded the platform's call ID, which follows the
  // platform's answer by a write: wait a little for the records of the last calls to arrive.
  const platform = await stack.emulator.state();
  const arrivedAt = new Map(platform.calls.map((c) => [c.callId, c.startedAt]));
  const callStore = createCallStore(stack.db);
  const platformAt = new Map<string, number>();
  for (let tries = 0; tries < 15 && platformAt.size < arrivedAt.size; tries++) {
    if (tries > 0) await sleep(2_000);
    for (const school of rosters) {
      for (const call of await callStore.listCalls({ schoolId: school.roster.school.id })) {
        const at = call.callId === null ? undefined : arrivedAt.get(call.callId);
        if (at !== undefined) platformAt.set(call.journalId, at);
      }
    }
  }
  const delays: number[] = [];
  const traces: StartTrace[] = [];
  let slowest: { journalId: string; delay: number; trace: StartTrace | undefined } | undefined;
  let traced = 0;
  await forEachLimit(journals, 16, async (j) => {
    const at = platformAt.get(j.journalId);
    if (at === undefined) return;
    delays.push(at - j.dueAt);
    const history = await stack.client.workflow
      .getHandle(workflowIds.journalCalls(j))
      .fetchHistory();
    const trace = traceStart(history.events ?? [], j.dueAt, at);
    if (trace) traces.push(trace);
    if (!slowest || at - j.dueAt > slowest.delay) {
      slowest = { journalId: j.journalId, delay: at - j.dueAt, trace };
    }
    traced++;
    tick(`histories read ${traced}/${platformAt.size}`);
  });
  const rateLimited = platform.stats.errors['6'] ?? 0;
  const missing = total - delays.length;
  // A journal without a call is named with what its workflow says, so the cause can be looked up.
  for (const j of journals.filter((j) => !platformAt.has(j.journalId)).slice(0, 5)) {
    const state = await stack.gateway.callState(j).catch(() => null);
    process.stderr.write(
      `timer-accuracy: no call for ${j.journalId} (due ${new Date(j.dueAt).toISOString()}): ` +
        `${JSON.stringify({ next: state?.next, running: state?.running?.callId ?? null, lastError: state?.lastError })}\n`,
    );
  }

  const breakdown = (name: string, pick: (t: StartTrace) => number): string =>
    `  ${name.padEnd(42)} ${summary(traces.map(pick))}`;
  process.stdout.write(
    `\ntimer-accuracy: where an automatic start spends its time (${traces.length} histories)\n` +
      [
        breakdown('timer before openCall fired − due', (t) => t.timerLate),
        breakdown('workflow task wait (scheduled → started)', (t) => t.taskWait),
        breakdown('workflow task run (started → completed)', (t) => t.taskRun),
        breakdown('openCall scheduled − due (armed: < 0)', (t) => t.scheduledVsDue),
        breakdown('openCall wait (scheduled → started)', (t) => t.activityWait),
        breakdown('calls.start received − due', (t) => t.platformVsDue),
      ].join('\n') +
      '\n' +
      (slowest
        ? `  slowest: ${slowest.journalId}, ${slowest.delay} ms: ${JSON.stringify(slowest.trace)}\n`
        : '') +
      `  the worker's event loop delay (main thread): p50 ${(loopDelay.percentile(50) / 1e6).toFixed(0)} / ` +
      `p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} / max ${(loopDelay.max / 1e6).toFixed(0)} ms\n` +
      `  starts armed ahead of their due time: ${traces.filter((t) => t.scheduledVsDue < 0).length} of ${traces.length}; ` +
      `scheduling tasks from the sticky cache: ${traces.filter((t) => t.sticky).length}; ` +
      `starts that needed more than one attempt: ${traces.filter((t) => t.attempt > 1).length}\n` +
      `  CPU in the window: the machine was busy ${machineBusy.toFixed(0)} of ${machineTotal.toFixed(0)} core-seconds; ` +
      `ours: ${cpuWindow.total.toFixed(0)} s (${cpuWindow.text}), ` +
      `${((cpuWindow.total * 1000) / Math.max(1, delays.length)).toFixed(0)} ms a start\n`,
  );

  // Terminated so the sleeping workflows (their auto-ends are an hour away) leave the shared server.
  await forEachLimit(journals, 16, async (j) => {
    await stack.client.workflow
      .getHandle(workflowIds.journalCalls(j))
      .terminate('bench over')
      .catch(() => undefined);
  });

  const ms = (metric: string, value: number, bound?: number): Measure => ({
    metric,
    value,
    unit: 'ms',
    ...(bound === undefined ? {} : { bound, kind: 'atMost' as const, boundSource: 'issue 9' }),
  });
  report({
    scenario: 'calls: timer-accuracy',
    description:
      `${total} journals in ${schools} schools (own community token each) due over ${minutes} whole ` +
      `minutes (up to ${Math.ceil(perSchool / minutes) * schools} at one bell, ` +
      `${Math.ceil(perSchool / minutes)} per school); delay of ` +
      `calls.start at the platform after lesson start − 20 min; ${delays.length} started, ` +
      `${missing} missing, ${rateLimited} rate-limit errors; setup ${setupSeconds.toFixed(0)} s ` +
      `(not timed); store ${store}; load average ${loadBefore} at the first due minute, ${loadAfter} after`,
    measures: [
      ms('start delay p50', quantile(delays, 0.5)),
      ms('start delay p99', quantile(delays, 0.99), 1000),
      ms('start delay max', Math.max(...delays)),
      ms(
        'armed ahead of due, p50 (due − openCall scheduled)',
        -quantile(
          traces.map((t) => t.scheduledVsDue),
          0.5,
        ),
      ),
      {
        metric: 'calls started',
        value: delays.length,
        unit: 'calls',
        bound: total,
        kind: 'atLeast',
        boundSource: 'every journal',
      },
    ],
    seconds: windowSeconds,
  });
}

export async function run(): Promise<void> {
  const services = await benchServices();
  const only = process.env.SFERUM_BENCH_CALLS;
  if (!only || only === 'button') {
    const stack = await startCallsStack(services);
    try {
      await buttonLatency(stack);
    } finally {
      await stack.stop();
    }
  }
  if (!only || only === 'timer') {
    // FerretDB's SQLite backend scans a whole collection for every roster read (only `_id` lookups
    // are pushed down): 1,000 journal loads would take minutes. Its PostgreSQL backend pushes
    // equality filters down, as MongoDB's indexes do in production.
    const mongo = await startPostgresMongo((line) => process.stderr.write(`${line}\n`));
    if (!mongo) {
      process.stderr.write(
        'timer-accuracy: no PostgreSQL here (Debian package `postgresql`); on FerretDB/SQLite\n',
      );
    }
    const stack = await startCallsStack(mongo ? { ...services, mongoUri: mongo.uri } : services);
    try {
      await timerAccuracy(stack, mongo ? mongo.kind : 'ferretdb-sqlite');
    } finally {
      await stack.stop();
      await mongo?.stop();
    }
  }
}
