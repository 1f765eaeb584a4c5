import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  sleep,
  uuid4,
} from '@temporalio/workflow';
import {
  approvePlanArgsSchema,
  approvePlanUpdate,
  rosterChangedSignal,
  setPeriodArgsSchema,
  setPeriodUpdate,
  settingsChangedSignal,
  syncNowArgsSchema,
  syncNowUpdate,
  syncPeriods,
  syncStatusQuery,
  type SchoolSyncInput,
} from '../src/contracts/school-sync';
import { PATCH_SETTLE_ON_QUIET, ROSTER_QUIET_MS, ROSTER_SETTLE_MS } from './school-sync/rules';
import { journalStep, publishState, runOnce } from './school-sync/run';
import { SchoolSyncState, type CarriedState } from './school-sync/state';
import { answerQuery, continueAsNewDue, continueAsNewLimit, continueAsNewOption } from './support';

/**
 * One per school: keeps its chats, members and admins equal to the plan (C1–C5, S1–S4). Runs on
 * its period, and within seconds of a `rosterChanged` signal. The state and its rules are in
 * `school-sync/state.ts`, a run's steps in `school-sync/run.ts`; this function wires the
 * handlers and the timers.
 */
export async function schoolSyncWorkflow(
  input: SchoolSyncInput & { carried?: CarriedState },
): Promise<void> {
  const historyLimit = continueAsNewLimit(input);
  const state = new SchoolSyncState(input.schoolId, input.carried, {
    now: () => Date.now(),
    patched,
    newRunId: () => `run-${uuid4()}`,
    continueAsNewDue: () => continueAsNewDue(historyLimit),
  });
  setHandlers(state);
  publishState(state);
  let runNow = state.runsAtStart();
  for (;;) {
    if (runNow) {
      await runOnce(state, state.takeRun());
      state.scheduleNext();
    }
    runNow = true;
    await nextWake(state);
    if (state.settleFirst()) {
      // Imports often come as a burst of change sets: wait a moment so they make one run.
      if (patched(PATCH_SETTLE_ON_QUIET)) await rosterQuiet(state);
      else await sleep(ROSTER_SETTLE_MS, { summary: 'let a burst of roster changes settle' });
    }
    if (state.journalsOnly()) {
      await journalStep(state);
      runNow = false;
    }
    if (continueAsNewDue(historyLimit)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof schoolSyncWorkflow>({
        schoolId: state.schoolId,
        carried: state.carry(),
        ...continueAsNewOption(historyLimit),
      });
    }
  }
}

/** Sleeps until the next periodic run, or until something wants the loop first. */
async function nextWake(state: SchoolSyncState): Promise<void> {
  const woken = (): boolean => state.woken();
  if (state.blocked || state.nextRunAt === null) {
    await condition(woken);
  } else if (state.nextRunAt > Date.now()) {
    await condition(woken, state.nextRunAt - Date.now(), {
      summary: `next sync in ${state.period === 'continuous' ? '1' : state.period} min`,
    });
  }
}

/**
 * Waits until no roster change has come for ROSTER_QUIET_MS, at most ROSTER_SETTLE_MS in all,
 * so a burst makes one run while a lone change is not held back for the whole window.
 */
async function rosterQuiet(state: SchoolSyncState): Promise<void> {
  const settleBy = Date.now() + ROSTER_SETTLE_MS;
  for (;;) {
    const seen = state.pendingChanges;
    const wait = Math.min(ROSTER_QUIET_MS, settleBy - Date.now());
    if (wait <= 0) return;
    const interrupted = await condition(
      () => state.pendingChanges !== seen || state.settleInterrupted(),
      wait,
      { summary: 'let a burst of roster changes settle' },
    );
    if (!interrupted || state.settleInterrupted()) return;
  }
}

function setHandlers(state: SchoolSyncState): void {
  setHandler(rosterChangedSignal, () => state.rosterChanged(), {
    description: 'The roster changed (import, VK ID link/unlink): sync within a minute.',
  });
  setHandler(settingsChangedSignal, (arg) => state.settingsChanged(arg), {
    description:
      'The school settings were saved: take their period (S3), clear a block and sync with the new settings.',
  });
  setHandler(syncNowUpdate, () => state.syncNow(), {
    description: 'Run a sync now. Returns the run ID as soon as the run is accepted.',
    validator: (arg) => {
      syncNowArgsSchema().parse(arg);
    },
  });
  setHandler(setPeriodUpdate, ({ period }) => state.setPeriod(period), {
    description: `Change the sync period: one of ${syncPeriods.join(', ')} (minutes or "continuous").`,
    validator: (arg) => {
      setPeriodArgsSchema().parse(arg);
    },
  });
  setHandler(approvePlanUpdate, ({ planId }) => state.approvePlan(planId), {
    description: 'Approve a held plan (mass removal or a chat removal): it is applied at once.',
    validator: (arg) => {
      approvePlanArgsSchema().parse(arg);
    },
  });
  answerQuery(syncStatusQuery, () => state.status(), {
    formerName: 'status',
    description: 'Last run summary, next run time, held plan, block and last error.',
  });
}
