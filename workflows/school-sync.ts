import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import { ErrorType } from '../src/contracts/errors';
import {
  approvePlanArgsSchema,
  approvePlanUpdate,
  setPeriodArgsSchema,
  settingsChangedArgsSchema,
  syncNowArgsSchema,
  DEFAULT_SYNC_PERIOD,
  periodToMs,
  rosterChangedSignal,
  setPeriodUpdate,
  settingsChangedSignal,
  syncNowUpdate,
  syncPeriods,
  syncStatusQuery,
  type CarriedSyncState,
  type SchoolSyncInput,
  type SyncPeriod,
  type SyncStatus,
} from '../src/contracts/school-sync';
import type { HeldPlan, RunSummary, SyncBlock } from '../src/contracts/sync-records';
import { SyncStateKey } from '../src/contracts/search-attributes';
import type {
  ChatApplyResult,
  PlanSyncResult,
  ReadyPlan,
  SyncActivities,
} from '../src/contracts/sync-activities';
import { mapInLanes } from '../src/domain/lanes';
import {
  answerQuery,
  continueAsNewDue,
  continueAsNewLimit,
  continueAsNewOption,
  failureMessage,
  failureType,
} from './support';

const { planSync, recordRun, ensureJournalWorkflows } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
});

/** Applying chats: retried with a back-off long enough for a platform outage to pass. */
const APPLY_RETRY = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '2 minutes',
  maximumAttempts: 8,
} as const;

const { applyChat } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: APPLY_RETRY,
});

const { applyPlan } = proxyActivities<SyncActivities>({
  // A whole school in one activity: its requests are paced by the rate limit, not by chats.
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: APPLY_RETRY,
});

/**
 * Histories recorded before the whole plan was applied in one activity applied one activity per
 * chat, four at a time; they replay that way.
 */
const PLAN_IN_ONE_ACTIVITY = 'apply-plan-in-one-activity';
/** Chats applied at once by the per-chat path of older histories. */
const APPLY_CONCURRENCY = 4;
/**
 * Histories recorded before roster changes settled on a quiet moment waited this long after the
 * first change; it is also the longest a burst of changes can hold back its run.
 */
export const ROSTER_SETTLE_MS = 5_000;
/** A burst of roster changes is over once this long passes without another one. */
export const ROSTER_QUIET_MS = 1_000;
const SETTLE_ON_QUIET = 'roster-settle-on-quiet';
/**
 * Histories recorded before the guard split a held plan applied nothing of it; now the part the
 * guard lets through is applied in the same run (C3).
 */
const APPLY_PASSED_PART = 'apply-passed-part-of-held-plan';
/**
 * Histories recorded before journals had their own path told them of roster changes only after a
 * run that was neither held nor blocked; now a roster change re-plans them first, in any state.
 */
const JOURNALS_ON_ROSTER_CHANGE = 'journals-on-roster-change';

/**
 * What continue-as-new carries besides the shared contract: when the next periodic run is due
 * (so continuing is not itself a reason to sync) and whether a run was explicitly asked for.
 */
type CarriedState = CarriedSyncState & {
  readonly nextRunAt?: number | null;
  readonly runRequested?: boolean;
  /** The run ID syncNow or approvePlan already returned: the continued execution runs under it. */
  readonly requestedRunId?: string | null;
  /** The period last read from the school's settings: a setPeriod override lasts until it changes. */
  readonly settingsPeriod?: SyncPeriod | null;
  /** A roster change the journal workflows have not been told of yet. */
  readonly journalsPending?: boolean;
};

/**
 * One per school: keeps its chats, members and admins equal to the plan (C1–C5, S1–S4). Runs on
 * its period, and within seconds of a `rosterChanged` signal.
 */
export async function schoolSyncWorkflow(
  input: SchoolSyncInput & { carried?: CarriedState },
): Promise<void> {
  const { schoolId } = input;
  const carried: CarriedState | undefined = input.carried;
  let period: SyncPeriod = carried?.period ?? DEFAULT_SYNC_PERIOD;
  let lastRun: RunSummary | null = carried?.lastRun ?? null;
  let heldPlan: HeldPlan | null = carried?.heldPlan ?? null;
  let approvedPlanId: string | null = carried?.approvedPlanId ?? null;
  let pendingChanges = carried?.pendingChanges ?? 0;
  let blocked: SyncBlock | null = carried?.blocked ?? null;
  let runCount = carried?.runCount ?? 0;
  let requestedRunId: string | null = carried?.requestedRunId ?? null;
  /** Settings saved or the period changed: run at once (a block only lifts on new settings). */
  let wakeUp = carried?.runRequested ?? false;
  let currentRunId: string | null = null;
  let nextRunAt: number | null = carried?.nextRunAt ?? null;
  let lastError: string | null = null;
  let settingsPeriod: SyncPeriod | null = carried?.settingsPeriod ?? null;
  let journalsPending = carried?.journalsPending ?? false;

  const newRunId = (): string => `run-${uuid4()}`;

  /** The saved period wins over a setPeriod override whenever the saved one changes (S3). */
  const adoptSettingsPeriod = (saved: SyncPeriod): void => {
    period = saved;
    settingsPeriod = saved;
  };

  setHandler(
    rosterChangedSignal,
    () => {
      pendingChanges += 1;
      if (patched(JOURNALS_ON_ROSTER_CHANGE)) journalsPending = true;
    },
    { description: 'The roster changed (import, VK ID link/unlink): sync within a minute.' },
  );

  setHandler(
    settingsChangedSignal,
    (arg) => {
      blocked = null;
      wakeUp = true;
      // A malformed payload still clears the block; only a valid period is taken.
      const parsed = settingsChangedArgsSchema().safeParse(arg ?? {});
      if (parsed.success && parsed.data.period) adoptSettingsPeriod(parsed.data.period);
    },
    {
      description:
        'The school settings were saved: take their period (S3), clear a block and sync with the new settings.',
    },
  );

  setHandler(
    syncNowUpdate,
    () => {
      requestedRunId ??= newRunId();
      return { runId: requestedRunId };
    },
    {
      description: 'Run a sync now. Returns the run ID as soon as the run is accepted.',
      validator: (arg) => {
        syncNowArgsSchema().parse(arg);
      },
    },
  );

  setHandler(
    setPeriodUpdate,
    ({ period: next }) => {
      period = next;
      // The new period starts with a run now; a blocked school waits for new settings still.
      if (!blocked) wakeUp = true;
      return { period };
    },
    {
      description: `Change the sync period: one of ${syncPeriods.join(', ')} (minutes or "continuous").`,
      validator: (arg) => {
        setPeriodArgsSchema().parse(arg);
      },
    },
  );

  setHandler(
    approvePlanUpdate,
    ({ planId }) => {
      if (!heldPlan) return { accepted: false, reason: 'no plan is held' };
      if (heldPlan.planId !== planId) {
        return { accepted: false, reason: `the held plan is ${heldPlan.planId}, not ${planId}` };
      }
      approvedPlanId = planId;
      requestedRunId ??= newRunId();
      return { accepted: true, runId: requestedRunId };
    },
    {
      description: 'Approve a held plan (mass removal or a chat removal): it is applied at once.',
      validator: (arg) => {
        approvePlanArgsSchema().parse(arg);
      },
    },
  );

  answerQuery(
    syncStatusQuery,
    (): SyncStatus => ({
      schoolId,
      period,
      state: currentRunId ? 'running' : blocked ? 'blocked' : heldPlan ? 'held' : 'idle',
      currentRunId,
      lastRun,
      nextRunAt: nextRunAt === null ? null : new Date(nextRunAt).toISOString(),
      heldPlan,
      lastError,
      blocked,
      pendingChanges,
      runCount,
    }),
    {
      formerName: 'status',
      description: 'Last run summary, next run time, held plan, block and last error.',
    },
  );

  const publishState = (): void => {
    const state = blocked ? 'blocked' : heldPlan ? 'held' : 'ok';
    upsertSearchAttributes([{ key: SyncStateKey, value: state }]);
  };

  async function runOnce(runId: string): Promise<void> {
    currentRunId = runId;
    const startedAt = new Date().toISOString();
    try {
      // Journals first: their lessons must not wait for (or on) the chats' plan and apply.
      const journalsDone = journalsPending ? await journalStep() : false;
      const planned = await planSync({ schoolId, runId, approvedPlanId });
      approvedPlanId = null;
      if (isReady(planned) && planned.period && planned.period !== settingsPeriod) {
        adoptSettingsPeriod(planned.period);
      }
      if (isReady(planned)) blocked = null;
      else {
        blocked = {
          reason: planned.status,
          since: startedAt,
          message:
            planned.status === 'disabled'
              ? 'sync is disabled in the school settings'
              : 'the school has no community settings yet',
        };
        return;
      }
      const plan = planned;
      if (plan.status === 'held') {
        heldPlan = plan.held;
        log.warn('plan held for approval', { runId, planId: plan.held?.planId ?? plan.planId });
        if (!patched(APPLY_PASSED_PART)) return;
      } else heldPlan = null;
      let errors = 0;
      let authFailure: string | null = null;
      const failed = (what: string, error: unknown): void => {
        errors += 1;
        const type = failureType(error);
        if (type === ErrorType.MessengerAuth) authFailure = failureMessage(error);
        lastError = `${what}: ${type ?? 'error'}`;
      };
      let results: ChatApplyResult[] = [];
      if (patched(PLAN_IN_ONE_ACTIVITY)) {
        try {
          const applied = await applyPlan({ schoolId, planId: plan.planId, runId });
          results = [...applied.results];
          for (const f of applied.failed) {
            errors += 1;
            lastError = `${f.chatKey}: ${f.type}`;
          }
        } catch (error) {
          failed('apply', error);
        }
      } else {
        const perChat = await mapInLanes(plan.chatKeys, APPLY_CONCURRENCY, async (chatKey) => {
          if (authFailure) return null;
          try {
            return await applyChat({ schoolId, planId: plan.planId, chatKey, runId });
          } catch (error) {
            failed(chatKey, error);
            return null;
          }
        });
        results = perChat.filter((r): r is ChatApplyResult => r !== null);
      }
      lastRun = await recordRun({
        schoolId,
        runId,
        planId: plan.planId,
        startedAt,
        results,
        errors,
        skippedNoVkId: plan.counts.skippedNoVkId,
      });
      if (authFailure) {
        blocked = { reason: 'auth', since: startedAt, message: authFailure };
        return;
      }
      if (errors === 0) lastError = null;
      if (!journalsDone) await ensureJournalWorkflows({ schoolId });
    } catch (error) {
      lastError = failureMessage(error);
      log.error('sync run failed', { runId, error: lastError });
    } finally {
      runCount += 1;
      currentRunId = null;
      publishState();
    }
  }

  /**
   * Tells the journal workflows of the roster change: starts the missing ones and re-plans those
   * whose lessons or timetable changed. A failure is reported and left to the next run.
   */
  async function journalStep(): Promise<boolean> {
    journalsPending = false;
    try {
      await ensureJournalWorkflows({ schoolId });
      return true;
    } catch (error) {
      lastError = `journals: ${failureMessage(error)}`;
      log.error('journal workflows not told of the roster change', { error: lastError });
      return false;
    }
  }

  /**
   * Waits until no roster change has come for ROSTER_QUIET_MS, at most ROSTER_SETTLE_MS in all,
   * so a burst makes one run while a lone change is not held back for the whole window.
   */
  async function rosterQuiet(): Promise<void> {
    const settleBy = Date.now() + ROSTER_SETTLE_MS;
    for (;;) {
      const seen = pendingChanges;
      const wait = Math.min(ROSTER_QUIET_MS, settleBy - Date.now());
      if (wait <= 0) return;
      const interrupted = await condition(
        () => pendingChanges !== seen || requestedRunId !== null || shouldContinueAsNew(),
        wait,
        { summary: 'let a burst of roster changes settle' },
      );
      if (!interrupted || requestedRunId !== null || shouldContinueAsNew()) return;
    }
  }

  const historyLimit = continueAsNewLimit(input);
  const shouldContinueAsNew = (): boolean => continueAsNewDue(historyLimit);

  publishState();
  // A continued execution runs at once only for what the previous one had not served yet; the
  // continue-as-new itself is no reason to sync.
  let runNow =
    !carried ||
    wakeUp ||
    requestedRunId !== null ||
    (blocked === null && (pendingChanges > 0 || nextRunAt === null || nextRunAt <= Date.now()));
  for (;;) {
    if (runNow) {
      const runId = requestedRunId ?? newRunId();
      requestedRunId = null;
      pendingChanges = 0;
      wakeUp = false;
      await runOnce(runId);
      nextRunAt = blocked ? null : Date.now() + periodToMs(period);
    }
    runNow = true;

    // While blocked (bad token, no settings) roster changes wait for new settings; they are kept.
    // Journals are told of them all the same.
    const woke = () =>
      requestedRunId !== null ||
      wakeUp ||
      (blocked === null && pendingChanges > 0) ||
      journalsPending ||
      shouldContinueAsNew();
    if (blocked || nextRunAt === null) {
      await condition(woke);
    } else if (nextRunAt > Date.now()) {
      await condition(woke, nextRunAt - Date.now(), {
        summary: `next sync in ${period === 'continuous' ? '1' : period} min`,
      });
    }
    if (
      ((pendingChanges > 0 && blocked === null) || journalsPending) &&
      requestedRunId === null &&
      !shouldContinueAsNew()
    ) {
      // Imports often come as a burst of change sets: wait a moment so they make one run.
      if (patched(SETTLE_ON_QUIET)) await rosterQuiet();
      else await sleep(ROSTER_SETTLE_MS, { summary: 'let a burst of roster changes settle' });
    }
    if (journalsPending && blocked !== null && requestedRunId === null && !wakeUp) {
      // A blocked school makes no run, but its journals still hear of the change.
      await journalStep();
      runNow = false;
    }
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      const state: CarriedState = {
        period,
        lastRun,
        heldPlan,
        approvedPlanId,
        pendingChanges,
        blocked,
        runCount,
        nextRunAt,
        // A request that arrived but was not run yet makes the next execution run at once.
        runRequested: wakeUp,
        requestedRunId,
        settingsPeriod,
        journalsPending,
      };
      return continueAsNew<typeof schoolSyncWorkflow>({
        schoolId,
        carried: state,
        ...continueAsNewOption(historyLimit),
      });
    }
  }
}

function isReady(plan: PlanSyncResult): plan is ReadyPlan {
  return plan.status === 'ready' || plan.status === 'held';
}
