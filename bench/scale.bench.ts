import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { TASK_QUEUE, workflowIds } from '../src/contracts/ids';
import type { RosterSnapshot } from '../src/contracts/roster';
import { freePort, waitUntil } from '../src/dev/processes';
import { projectRoot } from '../src/dev/tools';
import { ARCHIVER_SCHEDULE_ID } from '../src/client/archive-schedule';
import { addDays, epochToZonedDate } from '../src/domain/time';
import { generateRoster } from '../src/demo/roster-generator';
import { connectMongo, ensureIndexes } from '../src/store/db';
import { importSnapshot } from '../src/store/roster-import';
import { bundleWorkflows } from '../src/workflow-code/bundle';
import { createWorkflowGateway } from '../src/client/workflow-gateway';
import { JOURNAL_CALLS_WORKFLOW } from '../src/contracts/ids';
import { report, type Measure } from './support/report';
import { startPostgresMongo } from './support/postgres-mongo';
import { startOwnMongo, startOwnTemporal, stopBenchServices } from './support/services';

/**
 * Issue 9, scenario "scale": a city's 10,000 journal workflows started and asleep on one worker
 * and one dev server. The journals come from 25 generated large schools (411 journals each, IDs
 * made city-unique) imported through the roster import; each is started with the gateway's
 * `ensureJournalCalls`, as the school sync does, 25 at a time (one lane per school, as 25 school
 * syncs would). Every journal gets its workflow, where the sync starts only those with a subject
 * chat (116 of a large school's 411): the same 10,000 workflows from 25 schools rather than 87,
 * which the rosters' import and reads make much cheaper. A journal counts as asleep once its first
 * run has loaded the journal, planned, published its `CallState` and gone to sleep on its timer.
 * `SFERUM_BENCH_SCALE_WORKFLOWS` runs a smaller city, for a trial.
 *
 * The worker is the production one (`src/cli/main.ts worker`, with a prebuilt workflow bundle as the
 * Docker image has it) in a process of its own, so its RSS is its own; the dev server is private
 * to the scenario. Idle CPU is both processes' utime+stime over 20 s once all are asleep.
 *
 * The rosters' "today" is the school's tomorrow: the lessons lie tomorrow and the day after, so no
 * call falls due while the scenario runs, whatever the hour, and every journal sleeps until the
 * school's midnight or its first lesson.
 */
const WORKFLOWS = Number(process.env.SFERUM_BENCH_SCALE_WORKFLOWS ?? 10_000);
const JOURNALS_PER_SCHOOL = 411;
const SCHOOLS = Math.ceil(WORKFLOWS / JOURNALS_PER_SCHOOL);
const IDLE_SECONDS = 20;
const MAX_BACKLOG = Number(process.env.SFERUM_BENCH_SCALE_BACKLOG ?? 200);
const RSS_BOUND_MIB = 1024;
const TIME_ZONE = 'Europe/Moscow';
const MiB = 2 ** 20;

const progress = (line: string): void => {
  process.stderr.write(`scale: ${line}\n`);
};

interface ProcStatus {
  readonly rssMiB: number;
  readonly peakMiB: number;
}

async function procStatus(pid: number): Promise<ProcStatus> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  };
  return { rssMiB: kib('VmRSS'), peakMiB: kib('VmHWM') };
}

/** utime + stime of the process (all its threads), in clock ticks. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Linux reports CPU time in USER_HZ ticks, 100 per second on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** Journal IDs are the school system's, unique across the city; the generator numbers them per school. */
function citySchool(index: number, today: string): RosterSnapshot {
  const schoolId = `scale-${String(index + 1).padStart(2, '0')}`;
  const roster = generateRoster({ seed: schoolId, size: 'large', schoolId, today });
  const cityId = (journalId: string): string => `${schoolId}-${journalId}`;
  return {
    ...roster,
    journals: roster.journals.map((j) => ({ ...j, id: cityId(j.id) })),
    lessons: roster.lessons.map((l) => ({ ...l, journalId: cityId(l.journalId) })),
    templates: roster.templates.map((t) => ({
      ...t,
      entries: t.entries.map((e) => ({ ...e, journalId: cityId(e.journalId) })),
    })),
  };
}

async function scrape(url: string, metric: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(url)).text();
    const line = text.split('\n').find((l) => l.startsWith(metric));
    return line ? Number(line.split(' ').pop()) : undefined;
  } catch {
    return undefined;
  }
}

async function startWorkerProcess(args: {
  dir: string;
  env: NodeJS.ProcessEnv;
}): Promise<{ child: ChildProcess; pid: number; stop(): Promise<void> }> {
  const log = createWriteStream(join(args.dir, 'worker.log'));
  // TypeScript is compiled in the main thread only, as `require` hooks, not `--import` flags:
  // worker threads inherit the flags, and the workflow thread runs the prebuilt bundle, which
  // needs no compiler (production runs `node dist/src/cli/main.js worker`).
  const main = [
    "require('tsx/cjs/api').register();",
    "require('./bench/support/memory-probe.ts');",
    "process.argv.splice(1, 0, require.resolve('./src/cli/main.ts'));",
    "require('./src/cli/main.ts');",
  ].join(' ');
  const child = spawn(process.execPath, ['-e', main, 'worker'], {
    cwd: projectRoot,
    env: args.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the worker process has no PID');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The main thread's heap figures, from the probe preloaded into the worker. */
async function probe(
  pid: number,
  file: string,
): Promise<{ heapUsed: number; heapTotal: number; external: number; rss: number } | undefined> {
  await rm(file, { force: true });
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      return JSON.parse(await readFile(file, 'utf8')) as {
        heapUsed: number;
        heapTotal: number;
        external: number;
        rss: number;
      };
    } catch {
      // Not written yet.
    }
  }
  return undefined;
}

export async function run(): Promise<void> {
  const startedAt = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'sferum-bench-scale-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    progress('starting a private Temporal dev server and MongoDB-compatible server');
    const temporal = await startOwnTemporal();
    // Stopped with the scenario, not at the end of the run: its memory is not the next one's.
    cleanups.push(() => temporal.stop());
    const temporalPid = temporal.pid;
    if (temporalPid === undefined) throw new Error('the dev server has no PID');
    let mongo = await startPostgresMongo(progress);
    if (mongo) cleanups.push(() => mongo?.stop() ?? Promise.resolve());
    else {
      progress(
        'no PostgreSQL programs: falling back to FerretDB on SQLite, whose full-collection ' +
          'scans make each journal load slow at this size',
      );
      const own = await startOwnMongo();
      mongo = { uri: own.uri, pid: own.pid, kind: 'external', stop: () => Promise.resolve() };
    }
    const dbName = 'sferum-scale';
    const { client: mongoClient, db } = await connectMongo(mongo.uri, dbName);
    cleanups.push(() => mongoClient.close());
    await ensureIndexes(db);

    const today = addDays(epochToZonedDate(Date.now(), TIME_ZONE), 1);
    progress(`importing ${SCHOOLS} generated large schools (today = ${today})`);
    const journals: { schoolId: string; journalIds: string[] }[] = [];
    const importStarted = performance.now();
    for (let i = 0; i < SCHOOLS; i++) {
      const roster = citySchool(i, today);
      await importSnapshot({
        db,
        input: roster,
        events: { rosterChanged: () => Promise.resolve() },
      });
      journals.push({ schoolId: roster.school.id, journalIds: roster.journals.map((j) => j.id) });
      if ((i + 1) % 5 === 0 || i + 1 === SCHOOLS)
        progress(`  ${i + 1}/${SCHOOLS} schools imported`);
    }
    const importSeconds = (performance.now() - importStarted) / 1000;
    // Exactly WORKFLOWS journals, taken school by school.
    let budget = WORKFLOWS;
    for (const school of journals) {
      school.journalIds = school.journalIds.slice(0, Math.max(0, budget));
      budget -= school.journalIds.length;
    }

    progress('bundling the workflow code, as the production image does at build time');
    const bundlePath = join(dir, 'workflow-bundle.js');
    const { code } = await bundleWorkflows();
    await writeFile(bundlePath, code);

    const metricsPort = await freePort();
    const probeFile = join(dir, 'memory-probe.json');
    const worker = await startWorkerProcess({
      dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        SECRETS_KEY: randomBytes(32).toString('hex'),
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: temporal.namespace,
        MONGODB_URI: mongo.uri,
        MONGODB_DB: dbName,
        SFERUM_WORKFLOW_BUNDLE: bundlePath,
        // Nothing here should reach the platform; a closed local port makes sure it cannot.
        VK_API_BASE: `http://127.0.0.1:${await freePort()}`,
        METRICS_HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'info',
        SFERUM_MEMORY_PROBE_FILE: probeFile,
      },
    });
    cleanups.push(() => worker.stop());
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const gateway = createWorkflowGateway(client);

    progress(`worker PID ${worker.pid}, dev server PID ${temporalPid}; waiting for the worker`);
    await waitUntil(
      'the worker polling its task queue',
      async () => {
        if (worker.child.exitCode !== null) throw new Error(`the worker exited; see ${dir}`);
        const described = await connection.workflowService.describeTaskQueue({
          namespace: temporal.namespace,
          taskQueue: { name: TASK_QUEUE },
        });
        return described.pollers.length > 0;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    // The archive pass (every 15 minutes) copies every journal's history: a cost of its own, not
    // of sleeping. Paused so it cannot fall into the idle reading.
    await waitUntil(
      'the archive schedule',
      async () => {
        await client.schedule.getHandle(ARCHIVER_SCHEDULE_ID).describe();
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await client.schedule
      .getHandle(ARCHIVER_SCHEDULE_ID)
      .pause('scale benchmark: the idle reading is of the sleeping journals alone');
    await new Promise((r) => setTimeout(r, 3_000));
    const workerBefore = await procStatus(worker.pid);
    const serverBefore = await procStatus(temporalPid);
    const heapBefore = await probe(worker.pid, probeFile);
    progress(
      `worker ready: RSS ${workerBefore.rssMiB.toFixed(0)} MiB; dev server ${serverBefore.rssMiB.toFixed(0)} MiB`,
    );

    const asleepQuery = `WorkflowType = '${JOURNAL_CALLS_WORKFLOW}' AND CallState IS NOT NULL`;
    const countAsleep = async (): Promise<number> =>
      (await client.workflow.count(asleepQuery)).count;

    progress(`starting ${WORKFLOWS.toLocaleString('en-US')} journal workflows`);
    let started = 0;
    let failedStarts = 0;
    const loadStart = loadavg()[0] ?? 0;
    const t0 = performance.now();
    let startsDoneAt = t0;
    let asleep = 0;
    const lanes = journals.map(async ({ schoolId, journalIds }) => {
      for (const journalId of journalIds) {
        // Starts run at most MAX_BACKLOG ahead of the journals asleep: a first task that finds a
        // worker polling is handed over in memory, while a backlog is written to the dev server's
        // database and read back, which halves what it gets through.
        while (started - asleep >= MAX_BACKLOG) await new Promise((r) => setTimeout(r, 100));
        try {
          await gateway.ensureJournalCalls({ schoolId, journalId });
          started += 1;
        } catch (error) {
          failedStarts += 1;
          if (failedStarts <= 3) progress(`  start of ${journalId} failed: ${String(error)}`);
        }
      }
    });
    const allStarted = Promise.all(lanes).then(() => {
      startsDoneAt = performance.now();
    });

    const samples: { cached: number | undefined; rssMiB: number }[] = [];
    let lastLine = 0;
    // Far beyond what a quiet machine needs; on a crowded one the starts crawl, but they finish.
    const deadline = t0 + 60 * 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (worker.child.exitCode !== null) throw new Error(`the worker exited; see ${dir}`);
      asleep = await countAsleep();
      const cached = await scrape(metricsUrl, 'temporal_sticky_cache_size');
      const { rssMiB } = await procStatus(worker.pid);
      samples.push({ cached, rssMiB });
      const now = performance.now();
      if (now - lastLine > 5_000) {
        lastLine = now;
        progress(
          `  ${((now - t0) / 1000).toFixed(0)} s: ${started.toLocaleString('en-US')} started, ` +
            `${asleep.toLocaleString('en-US')} asleep, ${cached ?? '?'} cached, worker RSS ${rssMiB.toFixed(0)} MiB`,
        );
      }
      if (asleep >= WORKFLOWS - failedStarts && started + failedStarts >= WORKFLOWS) break;
      if (now > deadline) throw new Error(`only ${asleep} of ${WORKFLOWS} asleep after an hour`);
    }
    await allStarted;
    const t1 = performance.now();
    const startSeconds = (t1 - t0) / 1000;
    const requestSeconds = (startsDoneAt - t0) / 1000;

    // A few runs checked by their histories: the last event is the sleep's timer.
    const sample = journals
      .flatMap(({ schoolId, journalIds }) =>
        journalIds.map((journalId) => ({ schoolId, journalId })),
      )
      .filter((_, i) => i % 2_500 === 7);
    for (const journal of sample) {
      const history = await client.workflow
        .getHandle(workflowIds.journalCalls(journal))
        .fetchHistory();
      const last = history.events?.at(-1)?.eventType;
      if (last !== proto.api.enums.v1.EventType.EVENT_TYPE_TIMER_STARTED) {
        throw new Error(`journal ${journal.journalId} is not asleep on a timer`);
      }
    }

    await new Promise((r) => setTimeout(r, 5_000));
    const workerAsleep = await procStatus(worker.pid);
    const serverAsleep = await procStatus(temporalPid);
    const heapAsleep = await probe(worker.pid, probeFile);
    const cachedAsleep = await scrape(metricsUrl, 'temporal_sticky_cache_size');
    progress(
      `all asleep in ${startSeconds.toFixed(0)} s; worker RSS ${workerAsleep.rssMiB.toFixed(0)} MiB ` +
        `(peak ${workerAsleep.peakMiB.toFixed(0)}); measuring idle CPU for ${IDLE_SECONDS} s`,
    );

    const ticksBefore = [await cpuTicks(worker.pid), await cpuTicks(temporalPid)];
    const idleStarted = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1_000));
    const ticksAfter = [await cpuTicks(worker.pid), await cpuTicks(temporalPid)];
    const idleSeconds = (performance.now() - idleStarted) / 1000;
    const cpuPercent = (i: number): number =>
      (((ticksAfter[i] ?? 0) - (ticksBefore[i] ?? 0)) / TICKS_PER_SECOND / idleSeconds) * 100;
    const workerAfterIdle = await procStatus(worker.pid);
    const serverAfterIdle = await procStatus(temporalPid);

    // The slope of RSS over the runs the worker holds, while its cache fills: the cost of one
    // cached journal run.
    const fullest = Math.max(0, ...samples.map((s) => s.cached ?? 0));
    const from = samples.find((s) => (s.cached ?? 0) >= fullest * 0.1);
    const to = samples.find((s) => (s.cached ?? 0) >= fullest * 0.9);
    const perCachedKiB =
      from?.cached !== undefined && to?.cached !== undefined && to.cached > from.cached
        ? ((to.rssMiB - from.rssMiB) * 1024) / (to.cached - from.cached)
        : Number.NaN;

    const seconds = (performance.now() - startedAt) / 1000;
    const measures: Measure[] = [
      {
        metric: 'worker RSS, all asleep',
        value: Math.round(workerAsleep.rssMiB),
        unit: 'MiB',
        bound: RSS_BOUND_MIB,
        kind: 'atMost',
        boundSource: 'issue 9',
      },
      {
        metric: 'worker peak RSS (VmHWM)',
        value: Math.round(workerAsleep.peakMiB),
        unit: 'MiB',
        bound: RSS_BOUND_MIB,
        kind: 'atMost',
        boundSource: 'issue 9',
      },
      {
        metric: 'worker RSS before any workflow',
        value: Math.round(workerBefore.rssMiB),
        unit: 'MiB',
      },
      ...(heapAsleep
        ? [
            {
              metric: 'worker main-thread JS heap used, all asleep',
              value: Math.round(heapAsleep.heapUsed / MiB),
              unit: 'MiB',
            },
          ]
        : []),
      ...(heapBefore
        ? [
            {
              metric: 'worker main-thread JS heap used, before',
              value: Math.round(heapBefore.heapUsed / MiB),
              unit: 'MiB',
            },
          ]
        : []),
      {
        metric: 'worker RSS per cached journal run (slope)',
        value: Number(perCachedKiB.toFixed(0)),
        unit: 'KiB',
      },
      { metric: 'runs held in the worker cache', value: cachedAsleep ?? NaN, unit: 'runs' },
      {
        metric: `worker RSS after ${IDLE_SECONDS} s idle`,
        value: Math.round(workerAfterIdle.rssMiB),
        unit: 'MiB',
        bound: RSS_BOUND_MIB,
        kind: 'atMost',
        boundSource: 'issue 9',
      },
      { metric: 'dev server RSS, all asleep', value: Math.round(serverAsleep.rssMiB), unit: 'MiB' },
      {
        metric: 'dev server RSS before any workflow',
        value: Math.round(serverBefore.rssMiB),
        unit: 'MiB',
      },
      {
        metric: `dev server RSS after ${IDLE_SECONDS} s idle`,
        value: Math.round(serverAfterIdle.rssMiB),
        unit: 'MiB',
      },
      {
        metric: 'start rate (first request to all asleep)',
        value: Number((WORKFLOWS / startSeconds).toFixed(1)),
        unit: 'workflows/s',
      },
      {
        metric: 'start requests answered',
        value: Number((WORKFLOWS / requestSeconds).toFixed(1)),
        unit: 'requests/s',
      },
      { metric: 'failed starts', value: failedStarts, unit: 'starts', bound: 0, kind: 'atMost' },
      {
        metric: 'worker CPU while idle',
        value: Number(cpuPercent(0).toFixed(2)),
        unit: '% of a core',
      },
      {
        metric: 'dev server CPU while idle',
        value: Number(cpuPercent(1).toFixed(2)),
        unit: '% of a core',
      },
    ];
    report({
      scenario: 'scale',
      description:
        `${WORKFLOWS.toLocaleString('en-US')} journal workflows of ${SCHOOLS} large schools started ` +
        `and asleep on one worker process and one private dev server (MongoDB: ${mongo.kind}; ` +
        `rosters imported in ${importSeconds.toFixed(0)} s, not timed); ` +
        // Timings on a shared machine mean little without the load they were taken under.
        `load average ${loadStart.toFixed(1)} at the first start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end`,
      measures,
      seconds,
    });
  } catch (error) {
    const log = await readFile(join(dir, 'worker.log'), 'utf8').catch(() => '');
    if (log) progress(`worker log, last lines:\n${log.split('\n').slice(-30).join('\n')}`);
    throw error;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run()
    .then(() => stopBenchServices())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        void stopBenchServices().finally(() => process.exit(1));
      },
    );
}
