import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { replayBuild } from '../src/audit/replay-build';
import { runAudit } from '../src/audit/replay-audit';
import { replayInParallel, type PoolInput } from '../src/audit/replay-pool';
import { replayEach, type RunReplay } from '../src/audit/replay-runs';
import { toStored } from '../src/audit/stored-replays';
import { createHistoryArchive, HISTORY_ARCHIVE } from '../src/store/history-archive';
import type { StoredReplay } from '../src/contracts/replay-result';
import { bundleWorkflows } from '../src/workflow-code/bundle';
import { asInput, closedCopy, fixtureHistories } from '../test/replay/fixture-histories';
import { report } from './support/report';
import { benchServices } from './support/services';

/**
 * The audit at city scale (docs/audit.md "Stored replays"). Two measures:
 * - a school-month audit answered from stored replays: 3,500 archived closed journal-day runs
 *   (the committed journal histories, closed, cloned under their own IDs over 160 journals), each
 *   with its replay by this build stored beside it, audited for the month by `runAudit`;
 * - a fresh replay of 1,000 journal-day histories (the full-day fixture, as replay.bench.ts) on
 *   a pool of `availableParallelism()` replay processes, against the 6.3 histories/s of one
 *   replay worker measured before (issue 17), per core and in total.
 * `SFERUM_BENCH_AUDIT_RUNS` and `SFERUM_BENCH_POOL_HISTORIES` set other counts.
 */
const MONTH_RUNS = Number(process.env.SFERUM_BENCH_AUDIT_RUNS ?? 3_500);
const POOL_HISTORIES = Number(process.env.SFERUM_BENCH_POOL_HISTORIES ?? 1_000);
const JOURNALS = 160;
const SEQUENTIAL_PER_SECOND = 6.3;
const SCHOOL = 'bench-audit-school';

export async function run(): Promise<void> {
  const begun = performance.now();
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
      },
    });
  } catch {
    // An earlier scenario of the run already made the runtime; its logging settings stand.
  }
  const bundle = await bundleWorkflows();
  const build = await replayBuild({ workflowBundle: bundle });
  const fixtures = (await fixtureHistories((e) => e.workflowType === 'journalCallsWorkflow')).map(
    (f) => ({ ...f, json: closedCopy(f.json) }),
  );
  const replays: RunReplay[] = [];
  for await (const r of replayEach({
    workflows: { workflowBundle: { code: build.code } },
    histories: fixtures.map((f) => asInput(f.entry.workflowId, f.entry.runId, f.json)),
  }))
    replays.push(r);

  const { mongoUri } = await benchServices();
  const mongo = new MongoClient(mongoUri);
  await mongo.connect();
  const db = mongo.db(`bench_audit_${Date.now()}`);
  let month: { seconds: number; histories: number; stored: number };
  try {
    const archive = createHistoryArchive(db);
    await archive.ensureIndexes();
    // Each fixture archived once the real way, then cloned by bulk insert: FerretDB on SQLite
    // scans for every single-document write, and seeding is not what is measured.
    const templates: Record<string, unknown>[] = [];
    for (const [k, f] of fixtures.entries()) {
      const replay = replays[k];
      if (!replay) throw new Error('a fixture without its replay');
      await archive.put({
        workflowId: f.entry.workflowId,
        runId: f.entry.runId,
        schoolId: 'bench-template',
        journalId: 'bench-template',
        json: f.json,
      });
      await archive.putReplay(f.entry.workflowId, f.entry.runId, toStored(replay, build));
      const doc = await db
        .collection(HISTORY_ARCHIVE)
        .findOne({ _id: `${f.entry.workflowId}/${f.entry.runId}` as never });
      if (!doc) throw new Error('the template run was not archived');
      templates.push(doc);
    }
    await db.collection(HISTORY_ARCHIVE).deleteMany({ schoolId: 'bench-template' });
    const clones: Record<string, unknown>[] = [];
    for (let i = 0; i < MONTH_RUNS; i++) {
      const doc = templates[i % templates.length];
      const replay = doc?.replay as StoredReplay | undefined;
      if (!doc || !replay) throw new Error('no template');
      const workflowId = `journal-calls-bench-${i}`;
      const runId = `bench-run-${i}`;
      clones.push({
        ...doc,
        _id: `${workflowId}/${runId}`,
        workflowId,
        runId,
        schoolId: SCHOOL,
        journalId: `bench-j${i % JOURNALS}`,
        replay: {
          ...replay,
          incidents: replay.incidents.map((x) => ({ ...x, workflowId, runId })),
        },
      });
    }
    for (let i = 0; i < clones.length; i += 500)
      await db.collection(HISTORY_ARCHIVE).insertMany(clones.slice(i, i + 500));
    const started = performance.now();
    const audit = await runAudit({
      db,
      schoolId: SCHOOL,
      from: '2026-11-01',
      to: '2026-11-30',
      workflows: { workflowBundle: bundle },
    });
    month = {
      seconds: (performance.now() - started) / 1000,
      histories: audit.histories,
      stored: audit.storedReplays,
    };
    if (audit.storedReplays !== MONTH_RUNS)
      throw new Error(`${audit.storedReplays} of ${MONTH_RUNS} answered from stored replays`);
  } finally {
    await db.dropDatabase();
    await mongo.close();
  }

  const j1 = fixtures.find((f) => f.entry.workflowId === 'journal-calls-j1');
  if (!j1) throw new Error('the full-day fixture is missing');
  const fullDay = j1.json;
  const cores = availableParallelism();
  function* histories(): Generator<PoolInput> {
    for (let i = 0; i < POOL_HISTORIES; i++)
      yield { workflowId: `journal-calls-bench-${i}`, runId: `bench-${i}`, json: fullDay };
  }
  const poolStarted = performance.now();
  let replayed = 0;
  let failed = 0;
  for await (const r of replayInParallel({
    code: build.code,
    histories: histories(),
    processes: cores,
  })) {
    replayed += 1;
    if (r.failure) failed += 1;
  }
  const poolSeconds = (performance.now() - poolStarted) / 1000;
  if (failed > 0) throw new Error(`${failed} histories failed to replay`);
  const perSecond = replayed / poolSeconds;
  report({
    scenario: 'audit-scale',
    description:
      `a school-month audit of ${month.histories} archived journal-day runs, ${month.stored} ` +
      `answered from their stored replay, in ${month.seconds.toFixed(1)} s (no roster: the rows ` +
      `are not joined); ${replayed} histories replayed fresh on ${cores} replay processes in ` +
      `${poolSeconds.toFixed(1)} s, process start-up included; load average ` +
      (loadavg()[0] ?? 0).toFixed(1),
    measures: [
      {
        metric: 'school-month audit from stored replays',
        value: Number(month.seconds.toFixed(2)),
        unit: 's',
        bound: 5,
        kind: 'atMost',
        boundSource: 'issue 17: 3,500 histories under 5 s',
      },
      {
        metric: 'fresh replay, all processes',
        value: Number(perSecond.toFixed(1)),
        unit: 'histories/s',
        bound: Number((SEQUENTIAL_PER_SECOND * cores).toFixed(1)),
        kind: 'atLeast',
        boundSource: `6.3/s of one replay worker × ${cores} cores`,
      },
      {
        metric: 'fresh replay, per core',
        value: Number((perSecond / cores).toFixed(1)),
        unit: 'histories/s',
        bound: SEQUENTIAL_PER_SECOND,
        kind: 'atLeast',
        boundSource: 'one replay worker before (issue 17)',
      },
    ],
    seconds: (performance.now() - begun) / 1000,
  });
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
