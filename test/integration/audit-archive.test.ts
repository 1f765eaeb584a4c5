import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createArchiveActivities } from '../../activities/archive';
import { createHistoryArchive } from '../../src/store/history-archive';
import { runAudit } from '../../src/audit/replay-audit';
import { ARCHIVER_SCHEDULE_ID, ensureArchiveSchedule } from '../../src/client/archive-schedule';
import { addDays, epochToZonedDate } from '../../src/domain/time';
import { importSnapshot } from '../../src/store/roster-import';
import { JOURNAL_CALLS_WORKFLOW } from '../../src/contracts/ids';
import { createWorkflowGateway, journalCallsStartOptions } from '../../src/client/workflow-gateway';
import {
  CAN_JOURNAL,
  SCHOOL_ID,
  TIME_ZONE,
  dayRoster,
  lessonId,
  scenarioCallActivities,
} from '../replay/scenarios';
import { openTestDb, useServices, workflowBundle } from '../support/services';
import { until } from '../support/until';

/**
 * The archive on the dev server, the way production runs it: the `history-archiver` Temporal
 * Schedule starts the archiver workflow, whose activity lists journal runs through visibility and
 * archives every run of a chain that continued-as-new; a second pass fetches only the open run.
 */
const services = useServices();

void test('the scheduled archiver archives every run of a continued-as-new journal chain, idempotently', async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { mongoUri, temporalAddress } = services();
  const mongo = await openTestDb(mongoUri);
  const native = await NativeConnection.connect({ address: temporalAddress });
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection });
  const taskQueue = `audit-it-${Date.now()}`;
  try {
    // Tomorrow's lessons: the workflow plans them and then sleeps, as it would overnight.
    const day = addDays(epochToZonedDate(Date.now(), TIME_ZONE), 1);
    await importSnapshot({
      db: mongo.db,
      input: dayRoster(day),
      events: { rosterChanged: () => Promise.resolve() },
    });
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: {
        ...scenarioCallActivities({ db: mongo.db, day }),
        ...createArchiveActivities({ db: mongo.db }),
      },
    });
    await worker.runUntil(async () => {
      const gateway = createWorkflowGateway(client, { taskQueue });
      const workflowId = journalCallsStartOptions(SCHOOL_ID, CAN_JOURNAL).workflowId;
      await client.workflow.start(JOURNAL_CALLS_WORKFLOW, {
        ...journalCallsStartOptions(SCHOOL_ID, CAN_JOURNAL, taskQueue),
        args: [
          {
            schoolId: SCHOOL_ID,
            journalId: CAN_JOURNAL,
            continueAsNewAfterEvents: 20,
          },
        ],
      });
      // Each lesson change costs a re-plan (an activity, an upsert, a timer): enough to continue-as-new.
      for (let i = 0; i < 4; i++) {
        await gateway.lessonsChanged({
          schoolId: SCHOOL_ID,
          journalId: CAN_JOURNAL,
          lessonIds: [lessonId(CAN_JOURNAL, 1)],
        });
        await delay(300);
      }
      const firstRunId = await until('a continue-as-new', async () => {
        const latest = await client.workflow.getHandle(workflowId).describe();
        const first = await client.workflow.getHandle(workflowId, latest.runId).fetchHistory();
        const from =
          first.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
        return from ? from : null;
      });

      await ensureArchiveSchedule(client, { taskQueue, every: '1 hour' });
      const schedule = client.schedule.getHandle(ARCHIVER_SCHEDULE_ID);
      try {
        const archive = createHistoryArchive(mongo.db);
        const archivedChain = async () => {
          const runs = await archive.list({ schoolId: SCHOOL_ID, journalId: CAN_JOURNAL });
          return runs.some((r) => r.runId === firstRunId && r.closed) && runs.some((r) => !r.closed)
            ? runs
            : null;
        };
        // Visibility lags the continue-as-new by a moment: trigger passes until it shows both runs.
        const runs = await until('the scheduled archiver to archive both runs', async () => {
          await schedule.trigger();
          await delay(2_000);
          return archivedChain();
        });
        assert.equal(runs[runs.length - 1]?.continuedFromRunId !== null, true);
        const described = await schedule.describe();
        assert.ok(described.info.recentActions.length >= 1, 'the schedule started the archiver');

        const closedBefore = await archive.getMeta(workflowId, firstRunId);
        await schedule.trigger();
        await delay(2_000);
        const closedAfter = await archive.getMeta(workflowId, firstRunId);
        assert.deepEqual(
          closedAfter?.archivedAt,
          closedBefore?.archivedAt,
          'a closed run is never rewritten',
        );

        const report = await runAudit({
          db: mongo.db,
          client,
          schoolId: SCHOOL_ID,
          journalId: CAN_JOURNAL,
          from: day,
          to: day,
          workflows: { workflowBundle: await workflowBundle() },
        });
        assert.deepEqual(report.failures, []);
        assert.ok(report.histories >= 2, `${report.histories} histories replayed`);
        // The lessons are tomorrow: no call yet, nothing decided against them either.
        assert.deepEqual(
          report.rows.map((r) => r.lessonId),
          [1, 3, 5].map((n) => lessonId(CAN_JOURNAL, n)),
        );
      } finally {
        await schedule.delete();
      }
      await client.workflow.getHandle(workflowId).terminate('test over');
    });
  } finally {
    await connection.close();
    await native.close();
    await mongo.drop();
  }
});
