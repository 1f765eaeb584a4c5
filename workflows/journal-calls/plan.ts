import type { CallDecision } from '../../src/contracts/decisions';
import type { RunningCall } from '../../src/contracts/journal-calls';
import { planCalls, type CallPlan, type CallPlanInput } from '../../src/domain/call-plan';
import { manualOnlyDetails } from './view';

/** A decision as the state gives it; the journal and the instant are added when it is recorded. */
export type Decision = Omit<CallDecision, 'journalId' | 'at'>;

/** The audit hears of each skipped lesson (and each V3 warning) once per run, not per re-plan. */
export function recordSkips(
  plan: CallPlan,
  reported: Set<string>,
  record: (decision: Decision) => void,
): void {
  for (const skip of plan.skipped) {
    const key = `${skip.lessonId}:${skip.reason}`;
    if (reported.has(key)) continue;
    reported.add(key);
    record({
      kind: 'skipped',
      lessonId: skip.lessonId,
      reason: skip.reason,
      ...(skip.reason === 'templateIncomplete' && plan.manualOnly
        ? { details: manualOnlyDetails(plan.manualOnly) }
        : {}),
    });
  }
  for (const warning of plan.warnings) {
    const key = `${warning.skippedLessonId}:earlierUnpublished`;
    if (reported.has(key)) continue;
    reported.add(key);
    record({
      kind: 'skipped',
      lessonId: warning.skippedLessonId,
      reason: 'earlierUnpublished',
      details: { chosenLessonId: warning.chosenLessonId },
    });
  }
}

/**
 * V5: the automatic start the planner would make if the running call were over, when it is
 * due now: a call that cannot be ended must not keep the next lesson from starting.
 */
export function nextStartDueAt(
  input: CallPlanInput,
  calledLessonIds: readonly string[],
  call: RunningCall,
): number | null {
  const { next } = planCalls({
    ...input,
    running: null,
    calledLessonIds: [...calledLessonIds, ...call.lessonIds],
  });
  return next?.kind === 'start' ? next.at : null;
}
