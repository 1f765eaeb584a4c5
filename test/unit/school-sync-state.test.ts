import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { ReadyPlan } from '../../src/contracts/sync-activities';
import type { HeldPlan } from '../../src/contracts/sync-records';
import { PATCH_JOURNALS_ON_ROSTER_CHANGE } from '../../workflows/school-sync/rules';
import {
  SchoolSyncState,
  type CarriedState,
  type SchoolSyncEnv,
} from '../../workflows/school-sync/state';

/** The school sync's state without Temporal: a clock, a set of patches, numbered run IDs. */

const SCHOOL = 'school-1';
const MINUTE = 60_000;
const NOW = Date.parse('2026-12-01T09:00:00Z');

function syncState(
  carried?: CarriedState,
  options: { patches?: readonly string[]; continueAsNewDue?: boolean } = {},
): SchoolSyncState {
  let runs = 0;
  const patches = new Set(options.patches ?? [PATCH_JOURNALS_ON_ROSTER_CHANGE]);
  const env: SchoolSyncEnv = {
    now: () => NOW,
    patched: (id) => patches.has(id),
    newRunId: () => `run-${++runs}`,
    continueAsNewDue: () => options.continueAsNewDue ?? false,
  };
  return new SchoolSyncState(SCHOOL, carried, env);
}

const carried = (extra: Partial<CarriedState> = {}): CarriedState => ({
  period: '30',
  lastRun: null,
  heldPlan: null,
  approvedPlanId: null,
  pendingChanges: 0,
  blocked: null,
  runCount: 3,
  nextRunAt: NOW + 10 * MINUTE,
  ...extra,
});

const held: HeldPlan = {
  planId: 'plan-7',
  reason: 'massRemoval',
  removals: 40,
  managedMembers: 100,
  chatsRemoved: 0,
};

const ready = (extra: Partial<ReadyPlan> = {}): ReadyPlan => ({
  status: 'ready',
  planId: 'plan-1',
  chatKeys: [],
  held: null,
  counts: { chats: 0, chatsToCreate: 0, chatsToRetire: 0, skippedNoVkId: 0 },
  ...extra,
});

describe('school sync state', () => {
  test('S3: the first execution runs at once, on the recommended 30-minute period', () => {
    const state = syncState();
    assert.equal(state.runsAtStart(), true);
    assert.equal(state.period, '30');
    state.takeRun();
    state.scheduleNext();
    assert.equal(state.nextRunAt, NOW + 30 * MINUTE);
  });

  test('S3: continuing as new is no reason to sync; a run that was due or asked for is', () => {
    assert.equal(syncState(carried()).runsAtStart(), false);
    assert.equal(syncState(carried({ nextRunAt: NOW - 1 })).runsAtStart(), true);
    assert.equal(syncState(carried({ pendingChanges: 2 })).runsAtStart(), true);
    assert.equal(syncState(carried({ runRequested: true })).runsAtStart(), true);
    assert.equal(syncState(carried({ requestedRunId: 'run-x' })).runsAtStart(), true);
  });

  test('S3: the saved period wins over a setPeriod override whenever the saved one changes', () => {
    const state = syncState();
    state.settingsChanged({ period: '15' });
    state.setPeriod('5');
    assert.equal(state.period, '5');
    // The plan reports the same saved period: the override stands.
    state.planned(ready({ period: '15' }), 'now');
    assert.equal(state.period, '5');
    state.planned(ready({ period: '60' }), 'now');
    assert.equal(state.period, '60');
  });

  test('S3: a malformed settings signal still clears the block, and takes no period', () => {
    const state = syncState();
    state.planned({ status: 'notConfigured' }, 'then');
    assert.equal(state.blocked?.reason, 'notConfigured');
    state.settingsChanged({ period: 'weekly' });
    assert.equal(state.blocked, null);
    assert.equal(state.wakeUp, true);
    assert.equal(state.period, '30');
  });

  test('S1: a school without settings or with the sync disabled is blocked, and schedules no run', () => {
    const state = syncState();
    assert.equal(state.planned({ status: 'disabled' }, 'then'), null);
    assert.deepEqual(state.blocked, {
      reason: 'disabled',
      since: 'then',
      message: 'sync is disabled in the school settings',
    });
    state.scheduleNext();
    assert.equal(state.nextRunAt, null);
    assert.equal(state.searchState(), 'blocked');
    assert.equal(state.status().state, 'blocked');
  });

  test('C3: a roster change wakes the loop and settles first; while blocked only the journals hear of it', () => {
    const state = syncState(carried());
    state.rosterChanged();
    assert.equal(state.woken(), true);
    assert.equal(state.settleFirst(), true);
    assert.equal(state.journalsOnly(), false);

    const blocked = syncState(
      carried({ blocked: { reason: 'auth', since: 'then', message: 'token revoked' } }),
    );
    blocked.rosterChanged();
    assert.equal(blocked.journalsOnly(), true);
    blocked.journalsPending = false;
    assert.equal(blocked.woken(), false, 'the change waits for new settings');
    assert.equal(blocked.pendingChanges, 1, 'and is kept');
  });

  test('C3: histories from before the journals had their own path do not tell them on a roster change', () => {
    const state = syncState(carried(), { patches: [] });
    state.rosterChanged();
    assert.equal(state.journalsPending, false);
    assert.equal(state.pendingChanges, 1);
  });

  test('C3: a held plan is approved only by its own ID, and the approval runs under the returned run ID', () => {
    const state = syncState(carried({ heldPlan: held }));
    assert.deepEqual(state.approvePlan('plan-6'), {
      accepted: false,
      reason: 'the held plan is plan-7, not plan-6',
    });
    assert.deepEqual(state.approvePlan('plan-7'), { accepted: true, runId: 'run-1' });
    assert.equal(state.approvedPlanId, 'plan-7');
    assert.equal(state.takeRun(), 'run-1');
    assert.deepEqual(syncState().approvePlan('plan-7'), {
      accepted: false,
      reason: 'no plan is held',
    });
  });

  test('syncNow returns one run ID until that run is taken; the run resets what asked for it', () => {
    const state = syncState(carried({ pendingChanges: 4 }));
    const first = state.syncNow();
    assert.deepEqual(state.syncNow(), first);
    assert.equal(state.takeRun(), first.runId);
    assert.equal(state.pendingChanges, 0);
    assert.equal(state.requestedRunId, null);
    assert.notEqual(state.syncNow().runId, first.runId);
  });

  test('a setPeriod on a blocked school does not run it: only new settings lift a block', () => {
    const state = syncState(
      carried({ blocked: { reason: 'auth', since: 'then', message: 'token revoked' } }),
    );
    assert.deepEqual(state.setPeriod('10'), { period: '10' });
    assert.equal(state.wakeUp, false);
    assert.equal(state.woken(), false);
  });

  test('a request or a due continue-as-new cuts a settling burst short', () => {
    const state = syncState(carried());
    state.rosterChanged();
    assert.equal(state.settleInterrupted(), false);
    state.syncNow();
    assert.equal(state.settleInterrupted(), true);
    assert.equal(state.settleFirst(), false);
    assert.equal(syncState(carried(), { continueAsNewDue: true }).settleInterrupted(), true);
  });

  test('what continue-as-new carries starts an equal state', () => {
    const state = syncState(carried({ heldPlan: held }));
    state.rosterChanged();
    state.settingsChanged({ period: '60' });
    const next = syncState(state.carry());
    assert.deepEqual(next.carry(), state.carry());
    assert.deepEqual(next.status(), state.status());
    assert.equal(next.runsAtStart(), true, 'the unserved settings change runs at once');
  });
});
