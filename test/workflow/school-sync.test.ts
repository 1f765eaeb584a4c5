import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowIds } from '../../src/contracts/ids';
import {
  rosterChangedSignal,
  setPeriodUpdate,
  settingsChangedSignal,
  syncNowUpdate,
  syncStatusQuery,
  type SyncPeriod,
  type SyncStatus,
} from '../../src/contracts/school-sync';
import type { HeldPlan, RunSummary } from '../../src/contracts/sync-records';
import { searchAttributeKeys } from '../../src/contracts/search-attributes';
import type {
  ChatApplyResult,
  PlanSyncResult,
  SyncActivities,
} from '../../src/contracts/sync-activities';
import type { schoolSyncWorkflow } from '../../workflows/school-sync';
import { ROSTER_SETTLE_MS } from '../../workflows/school-sync/rules';
import { testServerPath, workflowBundle } from '../support/services';
import { until } from '../support/until';

/**
 * The school sync workflow on the time-skipping server, with fake activities that record every
 * call: S3 (runs every period of simulated time, the period can change), §6 (roster changes are
 * synced at once and a burst makes one run), continue-as-new with a signal around it, and an
 * authentication failure that stops the runs until the settings change.
 */

const MINUTE = 60_000;
let env: TestWorkflowEnvironment;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await testServerPath() } },
  });
  // The workflow publishes its state as a search attribute; the server must know the key.
  await env.connection.operatorService
    .addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        searchAttributeKeys.map((k) => [k.name, k.type === 'DATETIME' ? 5 : 2]),
      ),
    })
    .catch(() => undefined);
});

after(async () => {
  await env?.teardown();
});

interface PlanCall {
  readonly runId: string;
  /** When the server scheduled the activity: simulated time. */
  readonly scheduledAt: number;
}

/** Fake sync activities: plain functions that record their calls. */
class FakeSync {
  readonly plans: PlanCall[] = [];
  readonly applies: string[] = [];
  readonly records: string[] = [];
  /** Every activity call in order, by name (applyPlan with the plan it applied). */
  readonly log: string[] = [];
  /** When each ensureJournalWorkflows was scheduled: simulated time. */
  readonly journals: number[] = [];
  /** The period planSync reports from the settings; unset: none (an older activity). */
  period: SyncPeriod | undefined;
  /** What the guard holds; while set, planSync answers `held` with the rest of the plan to apply. */
  held: HeldPlan | null = null;
  /** What applying a chat does (applyPlan applies each in turn); by default it succeeds. */
  applyBehaviour: 'ok' | 'auth' = 'ok';
  /** While set, recordRun waits for it: lets a test send messages in the middle of a run. */
  recordGate: Promise<void> | null = null;
  readonly chatKeys = ['staff-room', 'class-parents:c1', 'class-students:c1'];

  activities(): SyncActivities {
    const activities: SyncActivities = {
      planSync: ({ runId }): Promise<PlanSyncResult> => {
        this.plans.push({ runId, scheduledAt: Context.current().info.scheduledTimestampMs });
        this.log.push('plan');
        return Promise.resolve({
          status: this.held ? 'held' : 'ready',
          planId: `plan-${this.plans.length}`,
          chatKeys: this.chatKeys,
          held: this.held,
          counts: { chats: 3, chatsToCreate: 0, chatsToRetire: 0, skippedNoVkId: 0 },
          ...(this.period ? { period: this.period } : {}),
        });
      },
      applyChat: ({ chatKey }): Promise<ChatApplyResult> => {
        this.applies.push(chatKey);
        if (this.applyBehaviour === 'auth') {
          throw ApplicationFailure.create({
            type: 'MessengerAuth',
            message: 'the community token was refused',
            nonRetryable: true,
          });
        }
        return Promise.resolve({
          chatKey,
          created: false,
          adopted: false,
          added: 0,
          removed: 0,
          adminsChanged: 0,
          unmanaged: 0,
          failedOps: 0,
        });
      },
      applyPlan: async ({ schoolId, planId, runId }) => {
        this.log.push(`apply ${planId}`);
        const results: ChatApplyResult[] = [];
        for (const chatKey of this.chatKeys) {
          results.push(await activities.applyChat({ schoolId, planId, chatKey, runId }));
        }
        return { results, failed: [] };
      },
      recordRun: async ({ runId, planId, startedAt, errors }): Promise<RunSummary> => {
        this.records.push(runId);
        this.log.push('record');
        if (this.recordGate) await this.recordGate;
        return {
          runId,
          planId,
          startedAt,
          finishedAt: startedAt,
          chatsCreated: 0,
          chatsAdopted: 0,
          membersAdded: 0,
          membersRemoved: 0,
          adminsChanged: 0,
          skippedNoVkId: 0,
          unmanagedMembers: 0,
          errors,
        };
      },
      ensureJournalWorkflows: () => {
        this.journals.push(Context.current().info.scheduledTimestampMs);
        this.log.push('journals');
        return Promise.resolve({ journals: 0 });
      },
    };
    return activities;
  }
}

let counter = 0;

async function withSchool(
  fake: FakeSync,
  options: { continueAsNewAfterEvents?: number } | undefined,
  body: (h: WorkflowHandle<typeof schoolSyncWorkflow>, schoolId: string) => Promise<void>,
): Promise<void> {
  counter += 1;
  const taskQueue = `school-sync-wf-${counter}-${Date.now()}`;
  const schoolId = `school-${counter}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fake.activities(),
  });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof schoolSyncWorkflow>(
      'schoolSyncWorkflow',
      {
        taskQueue,
        workflowId: workflowIds.schoolSync(schoolId),
        args: [{ schoolId, ...options }],
      },
    );
    try {
      await body(handle, schoolId);
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  });
}

const status = (h: WorkflowHandle): Promise<SyncStatus> =>
  env.client.workflow.getHandle(h.workflowId).query(syncStatusQuery);

/** Waits until `n` runs have finished (planned, applied and recorded) and the workflow is idle again. */
async function runsFinished(fake: FakeSync, h: WorkflowHandle, n: number): Promise<SyncStatus> {
  let last: SyncStatus | undefined;
  await until(`${n} finished runs`, async () => {
    if (fake.plans.length < n) return false;
    last = await status(h);
    return last.runCount >= n && last.currentRunId === null;
  });
  assert.ok(last);
  return last;
}

void describe('school sync workflow (time-skipping)', () => {
  void test('S3: a run happens once every period of simulated time (30 min by default), and setPeriod changes it', async () => {
    const fake = new FakeSync();
    await withSchool(fake, undefined, async (h) => {
      const first = await runsFinished(fake, h, 1);
      assert.equal(first.period, '30');
      assert.deepEqual(
        fake.applies.sort(),
        [...fake.chatKeys].sort(),
        'every chat of the plan is applied',
      );
      assert.equal(first.lastRun?.runId, fake.plans[0]?.runId);
      const t0 = fake.plans[0]?.scheduledAt ?? 0;
      const due = Date.parse(first.nextRunAt ?? '') - t0;
      assert.ok(
        due >= 30 * MINUTE && due < 31 * MINUTE,
        `next run due ${due / MINUTE} min after the first`,
      );

      await env.sleep(29 * MINUTE);
      const before = await status(h);
      assert.equal(before.runCount, 1, 'no run before the period is over');
      assert.equal(fake.plans.length, 1);

      for (let n = 2; n <= 4; n++) {
        await env.sleep(30 * MINUTE - (n === 2 ? 29 * MINUTE : 0));
        await runsFinished(fake, h, n);
      }
      const times = fake.plans.map((p) => p.scheduledAt - t0);
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
        assert.ok(
          gap >= 30 * MINUTE && gap < 31 * MINUTE,
          `runs ${i} and ${i + 1} are ${gap / MINUTE} simulated minutes apart, not 30`,
        );
      }

      const changed = await h.executeUpdate(setPeriodUpdate, { args: [{ period: '5' }] });
      assert.deepEqual(changed, { period: '5' });
      // The new period takes effect at once (a run now), then every 5 minutes.
      await runsFinished(fake, h, 5);
      const t5 = fake.plans[4]?.scheduledAt ?? 0;
      await env.sleep(5 * MINUTE);
      await runsFinished(fake, h, 6);
      await env.sleep(5 * MINUTE);
      await runsFinished(fake, h, 7);
      const gap6 = (fake.plans[5]?.scheduledAt ?? 0) - t5;
      const gap7 = (fake.plans[6]?.scheduledAt ?? 0) - (fake.plans[5]?.scheduledAt ?? 0);
      assert.ok(
        gap6 >= 5 * MINUTE && gap6 < 6 * MINUTE,
        `gap after setPeriod: ${gap6 / MINUTE} min`,
      );
      assert.ok(gap7 >= 5 * MINUTE && gap7 < 6 * MINUTE, `second gap: ${gap7 / MINUTE} min`);
      assert.equal((await status(h)).period, '5');
    });
  });

  void test('C3/§6: several rosterChanged signals in a row make one run, within a minute, not at the period', async () => {
    const fake = new FakeSync();
    await withSchool(fake, undefined, async (h) => {
      await runsFinished(fake, h, 1);
      const t0 = fake.plans[0]?.scheduledAt ?? 0;
      for (let i = 0; i < 5; i++) await h.signal(rosterChangedSignal, { changeId: `change-${i}` });
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      const second = await runsFinished(fake, h, 2);
      const after = (fake.plans[1]?.scheduledAt ?? 0) - t0;
      assert.ok(after < MINUTE, `the change was synced ${after / 1000} simulated s later`);
      assert.equal(second.pendingChanges, 0);

      // Nothing else is due until the period: the burst made exactly one run.
      await env.sleep(20 * MINUTE);
      const idle = await status(h);
      assert.equal(idle.runCount, 2, 'five signals in a row made more than one run');
      assert.equal(fake.plans.length, 2);

      // A signal during a run is not folded into it: it makes one more run after.
      let release!: () => void;
      fake.recordGate = new Promise<void>((resolve) => (release = resolve));
      await h.executeUpdate(syncNowUpdate, { args: [{ requestedBy: 'test' }] });
      await until('the third run records', () => fake.records.length === 3);
      await h.signal(rosterChangedSignal, { changeId: 'during-run' });
      await h.signal(rosterChangedSignal, { changeId: 'during-run-2' });
      fake.recordGate = null;
      release();
      await runsFinished(fake, h, 3);
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      await runsFinished(fake, h, 4);
      await env.sleep(10 * MINUTE);
      assert.equal((await status(h)).runCount, 4);
    });
  });

  void test('continue-as-new (forced by a low history threshold) loses no roster change or syncNow arriving around it (the promised run ID is the run) and adds no run of its own', async () => {
    const fake = new FakeSync();
    await withSchool(fake, { continueAsNewAfterEvents: 20 }, async (h) => {
      // The first run is long enough to pass the threshold; a change arrives in its middle.
      let release!: () => void;
      fake.recordGate = new Promise<void>((resolve) => (release = resolve));
      await until('the first run records', () => fake.records.length === 1);
      const firstRunId = (await h.describe()).runId;
      await h.signal(rosterChangedSignal, { changeId: 'just-before-continue-as-new' });
      // So does a syncNow: the run ID it returns is the run that happens after continue-as-new.
      const requested = await h.executeUpdate(syncNowUpdate, { args: [{ requestedBy: 'test' }] });
      fake.recordGate = null;
      release();

      // The workflow continues as new and the carried change makes a run in the new execution.
      await until('a continued execution', async () => (await h.describe()).runId !== firstRunId);
      const continued = await env.client.workflow.getHandle(h.workflowId, firstRunId).describe();
      assert.equal(continued.status.name, 'CONTINUED_AS_NEW');
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      const afterCan = await runsFinished(fake, h, 2);
      assert.equal(afterCan.lastRun?.runId, fake.plans[1]?.runId);
      assert.equal(fake.plans[1]?.runId, requested.runId, 'the run syncNow promised was lost');

      // Continue-as-new by itself is not a reason to sync: no run until the next change or period.
      await env.sleep(10 * MINUTE);
      const quiet = await status(h);
      assert.equal(
        fake.plans.length,
        2,
        `continue-as-new started ${fake.plans.length - 2} extra runs`,
      );
      assert.equal(quiet.runCount, 2);

      // A change sent right as the workflow is about to continue as new again is not lost either.
      const secondRunId = (await h.describe()).runId;
      await h.signal(rosterChangedSignal, { changeId: 'around-continue-as-new' });
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      await runsFinished(fake, h, 3);
      await until(
        'another continued execution',
        async () => (await h.describe()).runId !== secondRunId,
      );
      const periodic = fake.plans.length;
      // The period still holds across the executions.
      await env.sleep(31 * MINUTE);
      await runsFinished(fake, h, periodic + 1);
      const s = await status(h);
      assert.equal(s.period, '30');
      assert.ok(s.runCount >= 4, `run count carried across continue-as-new: ${s.runCount}`);
    });
  });

  void test('S1: an authentication failure (MessengerAuth while applying the plan) blocks the runs until settingsChanged', async () => {
    const fake = new FakeSync();
    fake.applyBehaviour = 'auth';
    await withSchool(fake, undefined, async (h) => {
      const blocked = await runsFinished(fake, h, 1);
      assert.equal(blocked.state, 'blocked');
      assert.equal(blocked.blocked?.reason, 'auth');
      assert.equal(blocked.nextRunAt, null);
      assert.ok(fake.applies.length >= 1 && fake.applies.length <= fake.chatKeys.length);

      // Neither the period nor roster changes retry a refused token.
      await h.signal(rosterChangedSignal, { changeId: 'while-blocked' });
      await env.sleep(3 * 60 * MINUTE);
      const still = await status(h);
      assert.equal(still.state, 'blocked');
      assert.equal(fake.plans.length, 1, 'a blocked school was synced again without new settings');

      // New settings clear the block and sync at once; the change that arrived meanwhile is in it.
      fake.applyBehaviour = 'ok';
      await h.signal(settingsChangedSignal, { reason: 'token replaced' });
      const ok = await runsFinished(fake, h, 2);
      assert.equal(ok.blocked, null);
      assert.equal(ok.state, 'idle');
      assert.ok(ok.nextRunAt !== null);
      assert.equal(ok.lastRun?.errors, 0);
    });
  });

  void test('S3: the period saved in the settings reaches the running workflow at once (settingsChanged carries it; planSync reports it to a workflow that missed it)', async () => {
    const fake = new FakeSync();
    await withSchool(fake, undefined, async (h) => {
      const first = await runsFinished(fake, h, 1);
      assert.equal(first.period, '30', 'no settings period yet: the default');

      // Saved through the API: the signal carries the period, and the run it wakes uses it.
      await h.signal(settingsChangedSignal, { reason: 'settings saved', period: '5' });
      const saved = await runsFinished(fake, h, 2);
      assert.equal(saved.period, '5');
      const t2 = fake.plans[1]?.scheduledAt ?? 0;
      const due = Date.parse(saved.nextRunAt ?? '') - t2;
      assert.ok(due >= 5 * MINUTE && due < 6 * MINUTE, `next run ${due / MINUTE} min later`);
      await env.sleep(5 * MINUTE);
      await runsFinished(fake, h, 3);
      const gap = (fake.plans[2]?.scheduledAt ?? 0) - t2;
      assert.ok(gap >= 5 * MINUTE && gap < 6 * MINUTE, `runs ${gap / MINUTE} min apart, not 5`);

      // Saved by a sender that does not say the period (an older CLI): the run reads it.
      fake.period = '10';
      await h.signal(settingsChangedSignal, { reason: 'cli' });
      const read = await runsFinished(fake, h, 4);
      assert.equal(read.period, '10');
      const t4 = fake.plans[3]?.scheduledAt ?? 0;
      const next = Date.parse(read.nextRunAt ?? '') - t4;
      assert.ok(next >= 10 * MINUTE && next < 11 * MINUTE, `next run ${next / MINUTE} min later`);
    });
  });

  void test('S3: the saved period survives continue-as-new (runs stay 5 minutes apart across executions, then follow the period planSync reports)', async () => {
    const fake = new FakeSync();
    // Every run passes the threshold, so each continues as new. Only the fake's records are read
    // here: a query racing a continue-as-new can hang on the time-skipping server.
    await withSchool(fake, { continueAsNewAfterEvents: 20 }, async (h) => {
      let release!: () => void;
      fake.recordGate = new Promise<void>((resolve) => (release = resolve));
      await until('the first run records', () => fake.records.length === 1);
      const firstRunId = (await h.describe()).runId;
      await h.signal(settingsChangedSignal, { reason: 'settings saved', period: '5' });
      fake.recordGate = null;
      release();
      await until('a continued execution', async () => (await h.describe()).runId !== firstRunId);
      await until('the run the settings asked for', () => fake.records.length >= 2);
      const gaps = async (runs: number, minutes: number): Promise<void> => {
        for (let i = 0; i < runs; i++) {
          const n = fake.records.length;
          await env.sleep(minutes * MINUTE);
          await until(`run ${n + 1}`, () => fake.records.length > n);
          const [prev, last] = fake.plans.slice(-2).map((p) => p.scheduledAt);
          const gap = (last ?? 0) - (prev ?? 0);
          assert.ok(
            gap >= minutes * MINUTE && gap < (minutes + 1) * MINUTE,
            `runs ${gap / MINUTE} min apart across continue-as-new, not ${minutes}`,
          );
        }
      };
      await gaps(2, 5);
      // The school saves 10 through a sender that does not say it: the next run reads it.
      fake.period = '10';
      await gaps(1, 5);
      await gaps(2, 10);
    });
  });

  void test('C3: a plan held by the guard holds only its removals: the rest of the plan is applied in the same run, and the status says per chat what is held', async () => {
    const fake = new FakeSync();
    fake.held = {
      planId: 'plan-held',
      reason: 'massRemoval',
      removals: 40,
      managedMembers: 120,
      chatsRemoved: 0,
      people: 14,
      chats: [
        { chatKey: 'class-students:c1', kind: 'classStudents', removals: 25, retire: false },
        { chatKey: 'class-parents:c1', kind: 'classParents', removals: 15, retire: false },
      ],
    };
    await withSchool(fake, undefined, async (h) => {
      const s = await runsFinished(fake, h, 1);
      assert.deepEqual(fake.log.slice(0, 3), ['plan', 'apply plan-1', 'record']);
      assert.equal(s.state, 'held');
      assert.deepEqual(s.heldPlan, fake.held);
      assert.equal(s.lastRun?.planId, 'plan-1', 'the passed part was recorded as the run');

      // Approving runs the whole plan; the guard lets it through.
      fake.held = null;
      await h.signal(rosterChangedSignal, { changeId: 'after' });
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      const cleared = await runsFinished(fake, h, 2);
      assert.equal(cleared.heldPlan, null);
      assert.equal(cleared.state, 'idle');
    });
  });

  void test('C3/V2: a roster change reaches the journal workflows within seconds and before the chat plan, while the plan is held and while the token is refused (no chat run then)', async () => {
    const held = new FakeSync();
    held.held = {
      planId: 'plan-held',
      reason: 'chatRemoval',
      removals: 3,
      managedMembers: 50,
      chatsRemoved: 1,
    };
    await withSchool(held, undefined, async (h) => {
      await runsFinished(held, h, 1);
      held.log.length = 0;
      const t0 = await env.currentTimeMs();
      await h.signal(rosterChangedSignal, { changeId: 'lesson-published' });
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      await runsFinished(held, h, 2);
      assert.deepEqual(held.log, ['journals', 'plan', 'apply plan-2', 'record']);
      const after = (held.journals.at(-1) ?? 0) - t0;
      assert.ok(after <= ROSTER_SETTLE_MS + 1_000, `journals told ${after / 1000} s later`);
    });

    const blocked = new FakeSync();
    blocked.applyBehaviour = 'auth';
    await withSchool(blocked, undefined, async (h) => {
      const first = await runsFinished(blocked, h, 1);
      assert.equal(first.state, 'blocked');
      const journalsBefore = blocked.journals.length;
      const t0 = await env.currentTimeMs();
      await h.signal(rosterChangedSignal, { changeId: 'lesson-published' });
      await env.sleep(ROSTER_SETTLE_MS + 1_000);
      await until(
        'the journals hear of the change',
        () => blocked.journals.length > journalsBefore,
      );
      const after = (blocked.journals.at(-1) ?? 0) - t0;
      assert.ok(after <= ROSTER_SETTLE_MS + 1_000, `journals told ${after / 1000} s later`);
      // The chat sync itself stays blocked until new settings: no plan was made.
      await env.sleep(60 * MINUTE);
      const still = await status(h);
      assert.equal(still.state, 'blocked');
      assert.equal(blocked.plans.length, 1, 'a blocked school was planned again');
      assert.equal(blocked.journals.length, journalsBefore + 1, 'journals told more than once');
      assert.equal(still.pendingChanges, 1, 'the change still waits for the chat sync');
    });
  });
});
