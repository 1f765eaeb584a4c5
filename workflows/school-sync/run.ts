import { log, patched, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { ErrorType } from '../../src/contracts/errors';
import type {
  ChatApplyResult,
  ReadyPlan,
  SyncActivities,
} from '../../src/contracts/sync-activities';
import { SyncStateKey } from '../../src/contracts/search-attributes';
import { mapInLanes } from '../../src/domain/lanes';
import { failureMessage, failureType } from '../support';
import {
  APPLY_CONCURRENCY,
  APPLY_RETRY,
  PATCH_APPLY_PASSED_PART,
  PATCH_PLAN_IN_ONE_ACTIVITY,
} from './rules';
import type { SchoolSyncState } from './state';

const { planSync, recordRun, ensureJournalWorkflows } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
});

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

/** What the apply step left: the chats' results, how many failed, a token the platform refused. */
interface Applied {
  readonly results: ChatApplyResult[];
  readonly errors: number;
  readonly authFailure: string | null;
}

/**
 * One sync run: journals first when the roster changed, then plan, apply, record, and the journal
 * workflows (C1–C5). A failure of a step is the run's `lastError`; the next run tries again.
 */
export async function runOnce(state: SchoolSyncState, runId: string): Promise<void> {
  const { schoolId } = state;
  state.currentRunId = runId;
  const startedAt = new Date().toISOString();
  try {
    // Journals first: their lessons must not wait for (or on) the chats' plan and apply.
    const journalsDone = state.journalsPending ? await journalStep(state) : false;
    const planned = await planSync({ schoolId, runId, approvedPlanId: state.approvedPlanId });
    const plan = state.planned(planned, startedAt);
    if (!plan) return;
    if (plan.status === 'held') {
      state.heldPlan = plan.held;
      log.warn('plan held for approval', { runId, planId: plan.held?.planId ?? plan.planId });
      if (!patched(PATCH_APPLY_PASSED_PART)) return;
    } else state.heldPlan = null;
    const { results, errors, authFailure } = await applyChats(state, plan, runId);
    state.lastRun = await recordRun({
      schoolId,
      runId,
      planId: plan.planId,
      startedAt,
      results,
      errors,
      skippedNoVkId: plan.counts.skippedNoVkId,
    });
    if (authFailure) {
      state.blocked = { reason: 'auth', since: startedAt, message: authFailure };
      return;
    }
    if (errors === 0) state.lastError = null;
    if (!journalsDone) await ensureJournalWorkflows({ schoolId });
  } catch (error) {
    state.lastError = failureMessage(error);
    log.error('sync run failed', { runId, error: state.lastError });
  } finally {
    state.runCount += 1;
    state.currentRunId = null;
    publishState(state);
  }
}

/** Operators find blocked and held schools in the Web UI by the `SyncState` search attribute. */
export function publishState(state: SchoolSyncState): void {
  upsertSearchAttributes([{ key: SyncStateKey, value: state.searchState() }]);
}

async function applyChats(
  state: SchoolSyncState,
  plan: ReadyPlan,
  runId: string,
): Promise<Applied> {
  const { schoolId } = state;
  let errors = 0;
  let authFailure: string | null = null;
  const failed = (what: string, error: unknown): void => {
    errors += 1;
    const type = failureType(error);
    if (type === ErrorType.MessengerAuth) authFailure = failureMessage(error);
    state.lastError = `${what}: ${type ?? 'error'}`;
  };
  if (patched(PATCH_PLAN_IN_ONE_ACTIVITY)) {
    try {
      const applied = await applyPlan({ schoolId, planId: plan.planId, runId });
      for (const f of applied.failed) {
        errors += 1;
        state.lastError = `${f.chatKey}: ${f.type}`;
      }
      return { results: [...applied.results], errors, authFailure };
    } catch (error) {
      failed('apply', error);
      return { results: [], errors, authFailure };
    }
  }
  const perChat = await mapInLanes(plan.chatKeys, APPLY_CONCURRENCY, async (chatKey) => {
    if (authFailure) return null;
    try {
      return await applyChat({ schoolId, planId: plan.planId, chatKey, runId });
    } catch (error) {
      failed(chatKey, error);
      return null;
    }
  });
  const results = perChat.filter((r): r is ChatApplyResult => r !== null);
  return { results, errors, authFailure };
}

/**
 * Tells the journal workflows of the roster change: starts the missing ones and re-plans those
 * whose lessons or timetable changed. A failure is reported and left to the next run.
 */
export async function journalStep(state: SchoolSyncState): Promise<boolean> {
  state.journalsPending = false;
  try {
    await ensureJournalWorkflows({ schoolId: state.schoolId });
    return true;
  } catch (error) {
    state.lastError = `journals: ${failureMessage(error)}`;
    log.error('journal workflows not told of the roster change', { error: state.lastError });
    return false;
  }
}
