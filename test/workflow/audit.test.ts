import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { archiveWorkflowChain } from '../../src/client/archive-histories';
import { createHistoryArchive } from '../../src/store/history-archive';
import { describeReason } from '../../src/audit/explain';
import { replayDecisions, runAudit } from '../../src/audit/replay-audit';
import { formatCsv, formatText } from '../../src/audit/report';
import { openTestDb, testServerPath, useServices, workflowBundle } from '../support/services';
import {
  SCHOOL_ID,
  TEACHER_ID,
  lessonId,
  registerSearchAttributes,
  runSchoolDay,
  type DayRun,
} from '../replay/scenarios';

/**
 * The audit's must-show: a simulated school day on the time-skipping server with one missed
 * lesson of each kind (test/replay/scenarios.ts), archived by workflow ID and run chain (the
 * Java test server has no visibility list), then audited by replay. The audit must name exactly
 * those lessons, with exactly those reasons, and account for every call that did run.
 */
let env: TestWorkflowEnvironment;
let mongo: Awaited<ReturnType<typeof openTestDb>>;
let day: DayRun;

// Registered before useServices() so it runs first: the database must go before its server does.
after(async () => {
  await env?.teardown();
  await mongo?.drop();
});
const services = useServices();

let setup: Promise<void> | undefined;

/**
 * The day runs once, on first use: the services hook (useServices) has finished by the time a
 * test body runs, which is not guaranteed for another top-level `before`.
 */
function ready(): Promise<void> {
  setup ??= (async () => {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
      },
    });
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: await testServerPath() } },
    });
    await registerSearchAttributes(env);
    mongo = await openTestDb(services().mongoUri);
    day = await runSchoolDay({ env, db: mongo.db });
  })();
  return setup;
}

async function archiveDay(): Promise<{ archived: number; unchanged: number; failed: number }> {
  await ready();
  const archive = createHistoryArchive(mongo.db);
  await archive.ensureIndexes();
  const total = { archived: 0, unchanged: 0, failed: 0 };
  for (const workflowId of [...day.journalWorkflowIds, day.continueAsNewWorkflowId]) {
    const outcome = await archiveWorkflowChain({ archive, client: env.client, workflowId });
    total.archived += outcome.archived;
    total.unchanged += outcome.unchanged;
    total.failed += outcome.failed.length;
  }
  return total;
}

void test('archiving keeps every run of a chain, and a second pass refreshes only the open runs', async () => {
  const first = await archiveDay();
  // Five single-run journals plus J6's two runs (one closed by continue-as-new).
  assert.deepEqual(first, { archived: 7, unchanged: 0, failed: 0 });
  const second = await archiveDay();
  assert.deepEqual(second, { archived: 6, unchanged: 1, failed: 0 });
  const runs = await createHistoryArchive(mongo.db).list({ schoolId: SCHOOL_ID, journalId: 'j6' });
  assert.deepEqual(
    runs.map((r) => r.status),
    ['CONTINUED_AS_NEW', 'RUNNING'],
  );
  assert.equal(runs[1]?.continuedFromRunId, runs[0]?.runId);
});

void test('the audit names exactly the missed lessons, each with its reason', async () => {
  await ready();
  const report = await runAudit({
    db: mongo.db,
    schoolId: SCHOOL_ID,
    from: day.day,
    to: day.day,
    workflows: { workflowBundle: await workflowBundle() },
  });
  assert.deepEqual(report.failures, []);
  assert.equal(report.histories, 7);

  const missed = report.rows
    .filter((r) => r.missed !== null)
    .map((r) => ({ lessonId: r.lessonId, code: r.missed?.code }));
  assert.deepEqual(missed, [
    { lessonId: lessonId('j2', 2), code: 'templateIncomplete' },
    { lessonId: lessonId('j3', 1), code: 'earlierUnpublished' },
    { lessonId: lessonId('j4', 3), code: 'platformError' },
    { lessonId: lessonId('j5', 4), code: 'publishedTooLate' },
  ]);
  const reason = (id: string) => report.rows.find((r) => r.lessonId === id)?.missed;
  assert.deepEqual(reason(lessonId('j2', 2)), {
    code: 'templateIncomplete',
    missing: ['noEntryForJournal'],
  });
  assert.deepEqual(reason(lessonId('j3', 1)), {
    code: 'earlierUnpublished',
    chosenLessonId: lessonId('j3', 2),
  });
  assert.deepEqual(reason(lessonId('j5', 4)), { code: 'publishedTooLate', minutesAfterStart: 30 });
  const platform = reason(lessonId('j4', 3));
  assert.ok(platform?.code === 'platformError' && platform.attempts >= 2, JSON.stringify(platform));
  assert.match(
    describeReason(platform),
    /^platform error after retries \(\d+ failed starts; last: MessengerUnavailable/,
  );
});

void test('the audit accounts for every call that ran: how it started and ended, and by whom', async () => {
  await ready();
  const report = await runAudit({
    db: mongo.db,
    // With a client, open runs are taken fresh from the server (by ID here: no visibility list).
    client: env.client,
    schoolId: SCHOOL_ID,
    from: day.day,
    to: day.day,
    workflows: { workflowBundle: await workflowBundle() },
  });
  const calls = Object.fromEntries(
    report.rows
      .filter((r) => r.started !== null)
      .map((r) => [
        r.lessonId,
        `${r.started?.how}/${r.started?.by} → ${r.ended?.how ?? 'running'}/${r.ended?.by ?? ''}`,
      ]),
  );
  assert.deepEqual(calls, {
    [lessonId('j1', 1)]: 'auto/auto → auto/auto',
    [lessonId('j1', 3)]: `manual/${TEACHER_ID} → manual/${TEACHER_ID}`,
    [lessonId('j1', 5)]: 'auto/auto → auto/auto',
    [lessonId('j1', 7)]: 'auto/auto → inSferum/auto',
    [lessonId('j3', 2)]: 'auto/auto → auto/auto',
    [lessonId('j6', 1)]: 'auto/auto → auto/auto',
    [lessonId('j6', 3)]: 'auto/auto → auto/auto',
    [lessonId('j6', 5)]: 'auto/auto → auto/auto',
  });
  // Every timer fired on time on the time-skipping server: nothing is flagged as late.
  assert.ok(report.rows.every((r) => r.started?.lateMs == null && r.ended?.lateMs == null));
  assert.match(formatText(report), /4 missed; 7 histories replayed\./);
  assert.equal(formatCsv(report).trimEnd().split('\n').length, report.rows.length + 1);
});

void test('replay reproduces the decisions the workers made live', async () => {
  await ready();
  const archive = createHistoryArchive(mongo.db);
  const runs = await archive.list({ schoolId: SCHOOL_ID });
  const histories = await Promise.all(
    runs.map(async (r) => ({
      workflowId: r.workflowId,
      runId: r.runId,
      history: JSON.parse((await archive.readJson(r.workflowId, r.runId)) ?? 'null') as unknown,
    })),
  );
  const outcome = await replayDecisions({
    workflows: { workflowBundle: await workflowBundle() },
    histories,
  });
  const key = (d: { kind: string; lessonId?: string; reason?: string; at: number }): string =>
    `${d.kind}|${d.lessonId ?? ''}|${d.reason ?? ''}|${d.at}`;
  const replayed = [...outcome.decisions.values()].flat().map(key).sort();
  const live = day.liveDecisions.map(key).sort();
  assert.deepEqual(replayed, live);
});
