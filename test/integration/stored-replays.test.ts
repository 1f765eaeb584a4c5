import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { Binary } from 'mongodb';
import { replayBuild, type ReplayBuild } from '../../src/audit/replay-build';
import { runAudit } from '../../src/audit/replay-audit';
import { auditReplays, replayArchived } from '../../src/audit/stored-replays';
import { createHistoryArchive, HISTORY_ARCHIVE } from '../../src/store/history-archive';
import { closedCopy, fixtureHistories, tampered } from '../replay/fixture-histories';
import { openTestDb, useServices, workflowBundle } from '../support/services';

/**
 * Replay once, keep the result (docs/audit.md "Stored replays"): a closed archived run replayed
 * by the archiver is answered from its stored replay while the workflow code's build is the
 * same, replayed again when the build differs, and a run that no longer replays is reported
 * either way, exactly as a fresh replay reports it.
 */
let mongo: Awaited<ReturnType<typeof openTestDb>>;
let build: ReplayBuild;
/** The same workflow code under another build ID, as after a deploy that changed something. */
let otherBuild: ReplayBuild;
const SCHOOL = 'school-audit';

// Registered before useServices() so it runs first: the database must go before its server does.
after(async () => {
  await mongo?.drop();
});
const services = useServices();

before(() => {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
    },
  });
});

let setup: Promise<void> | undefined;

/** On first use: the services hook has finished by the time a test body runs, not another hook. */
function ready(): Promise<void> {
  setup ??= prepare();
  return setup;
}

async function prepare(): Promise<void> {
  mongo = await openTestDb(services().mongoUri);
  const bundle = await workflowBundle();
  build = await replayBuild({ workflowBundle: bundle });
  // Prepended: the bundle ends in its inline source map, which the SDK reads as the last line.
  otherBuild = await replayBuild({ workflowBundle: { code: `// next build\n${bundle.code}` } });
  const archive = createHistoryArchive(mongo.db);
  await archive.ensureIndexes();
  const journals = await fixtureHistories((e) => e.workflowType === 'journalCallsWorkflow');
  for (const { entry, json } of journals) {
    await archive.put({
      workflowId: entry.workflowId,
      runId: entry.runId,
      schoolId: SCHOOL,
      journalId: entry.workflowId.replace('journal-calls-', ''),
      json: closedCopy(json),
    });
  }
}

async function archivedRuns() {
  await ready();
  return createHistoryArchive(mongo.db).list({ schoolId: SCHOOL });
}

/** What the audit would get from the archive: stored replays of `b` where they exist. */
async function audited(b: ReplayBuild) {
  await ready();
  return auditReplays({
    archive: createHistoryArchive(mongo.db),
    build: b,
    runs: await archivedRuns(),
    fresh: new Map(),
    extra: [],
    processes: 1,
  });
}

void test('the archiver replays each closed run once and keeps the result beside it', async () => {
  await ready();
  const fresh = await audited({ ...build, buildId: 'never-stored' });
  const first = await replayArchived({
    db: mongo.db,
    workflows: { workflowBundle: { code: build.code } },
    budgetMs: 60_000,
    processes: 1,
  });
  assert.equal(first.replayed, (await archivedRuns()).length);
  assert.equal(first.pending, 0);
  const again = await replayArchived({
    db: mongo.db,
    workflows: { workflowBundle: { code: build.code } },
    budgetMs: 60_000,
  });
  assert.equal(again.replayed, 0, 'a run with a replay by this build is not replayed again');

  const stored = await audited(build);
  assert.equal(stored.stored, first.replayed, 'every run answered from its stored replay');
  assert.deepEqual(stored.outcome, fresh.outcome, 'the stored replays say what a replay says');
});

void test('a stored replay of the same build is used: the history is not replayed again', async () => {
  // Swap one run's archived history for one that no longer replays: only a replay would notice.
  const [fixture] = await fixtureHistories((e) => e.workflowId === 'journal-calls-j1');
  assert.ok(fixture);
  await mongo.db
    .collection(HISTORY_ARCHIVE)
    .updateOne(
      { _id: `${fixture.entry.workflowId}/${fixture.entry.runId}` as never },
      { $set: { history: new Binary(gzipSync(closedCopy(tampered(fixture.json)))) } },
    );
  const stored = await audited(build);
  assert.deepEqual(stored.outcome.failures, []);
  assert.ok(stored.outcome.decisions.has(`${fixture.entry.workflowId}/${fixture.entry.runId}`));
});

void test('another build replays again, and a history that no longer replays is still reported', async () => {
  const replayed = await audited(otherBuild);
  assert.equal(replayed.stored, 0, 'nothing stored by the other build is trusted');
  assert.equal(replayed.outcome.failures.length, 1);
  assert.equal(replayed.outcome.failures[0]?.workflowId, 'journal-calls-j1');
  assert.equal(replayed.outcome.failures[0]?.errorType, 'DeterminismViolationError');
  assert.equal(
    replayed.outcome.decisions.has(`journal-calls-j1/${replayed.outcome.failures[0]?.runId}`),
    false,
  );

  // The audit kept the new build's replays: the failure now comes from the store, the same.
  const storedNow = await audited(otherBuild);
  assert.equal(storedNow.stored, (await archivedRuns()).length);
  assert.deepEqual(storedNow.outcome, replayed.outcome);
});

void test('runAudit answers from stored replays and reports the run that no longer replays', async () => {
  const report = await runAudit({
    db: mongo.db,
    schoolId: SCHOOL,
    from: '2026-01-01',
    to: '2027-12-31',
    workflows: { workflowBundle: { code: otherBuild.code } },
  });
  assert.equal(report.storedReplays, report.histories);
  assert.deepEqual(
    report.failures.map((f) => [f.workflowId, f.errorType]),
    [['journal-calls-j1', 'DeterminismViolationError']],
  );
});
