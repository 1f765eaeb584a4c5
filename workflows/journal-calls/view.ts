import type { JournalContext } from '../../src/contracts/call-activities';
import type {
  CallPlanWarning,
  DayWarnings,
  EndFailure,
  JournalCallState,
  LastEndedCall,
  NextAction,
  RunningCall,
} from '../../src/contracts/journal-calls';
import type { CallAction, CallPlan } from '../../src/domain/call-plan';
import { addDays, epochToZonedDate, formatZonedTime } from '../../src/domain/time';

/** How the journal workflow's state reads: to the page, the Web UI and the audit. */

export function endedCall(
  call: RunningCall,
  endedBy: LastEndedCall['endedBy'],
  at: number,
): LastEndedCall {
  return { lessonId: call.lessonId, lessonIds: call.lessonIds, endedBy, at };
}

/** V2: why a teacher's start names a lesson the journal's loaded days do not hold. */
export function absentLessonReason(
  current: JournalContext,
  journalId: string,
): 'lessonNotFound' | 'lessonNotInJournal' | 'lessonNotTodayOrTomorrow' {
  const requested = current.requestedLesson;
  if (!requested) return 'lessonNotFound';
  return requested.journalId === journalId ? 'lessonNotTodayOrTomorrow' : 'lessonNotInJournal';
}

/** V2: a teacher starts a call for a lesson of today or tomorrow, as the automatic start does. */
export function isTodayOrTomorrow(date: string, timeZone: string, now: number): boolean {
  const today = epochToZonedDate(now, timeZone);
  return date === today || date === addDays(today, 1);
}

export function mergeWarnings(
  kept: readonly CallPlanWarning[],
  live: readonly CallPlanWarning[],
): CallPlanWarning[] {
  const known = new Set(kept.map((w) => w.skippedLessonId));
  return [...kept, ...live.filter((w) => !known.has(w.skippedLessonId))];
}

export function manualOnlyDetails(manualOnly: NonNullable<CallPlan['manualOnly']>): {
  missing: string;
  gridGaps?: string;
} {
  const gaps = manualOnly.gridGaps.map((g) => `${g.number}:${g.lacks}`).join(',');
  return { missing: manualOnly.reasons.join(','), ...(gaps === '' ? {} : { gridGaps: gaps }) };
}

export function endFailureLine(failure: EndFailure): string {
  return failure.gaveUp
    ? `Could not end the call of lesson ${failure.lessonId}: ${failure.error} (given up after ${failure.failures} failures)`
    : `Could not end the call of lesson ${failure.lessonId}: ${failure.error} (failure ${failure.failures}, retrying)`;
}

/**
 * The action as it was planned when the workflow went to sleep. Re-planned at a late wake-up
 * (server down, no worker) it reads "due now"; the decisions must keep the time it was really
 * due, or the audit would show a start delayed by an outage as on time.
 */
export function asPlanned(due: CallAction, planned: CallAction): CallAction {
  const same =
    due.kind === planned.kind && nextAction(due).lessonId === nextAction(planned).lessonId;
  return same && planned.at < due.at ? { ...due, at: planned.at } : due;
}

export function nextAction(action: CallAction): NextAction {
  return {
    kind: action.kind,
    lessonId: action.kind === 'carryOver' ? action.toLessonId : action.lessonId,
    at: action.at,
  };
}

export function describe(action: CallAction, timeZone: string): string {
  const at = formatZonedTime(action.at, timeZone);
  switch (action.kind) {
    case 'start':
      return `start call for lesson ${action.lessonId} at ${at}`;
    case 'end':
      return `end call for lesson ${action.lessonId} at ${at}`;
    case 'carryOver':
      return `carry the call over to lesson ${action.toLessonId} at ${at}`;
  }
}

/** FNV-1a: a journal's fixed place in a spread, the same on every replay. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The Web UI's current details, as a Markdown list so the lines stay apart. */
export function detailsText(args: {
  running: RunningCall | null;
  plan: CallPlan | null;
  endFailure: EndFailure | null;
  timeZone: string;
}): string {
  const { running, plan, endFailure, timeZone } = args;
  const next = plan?.next ?? null;
  const lines = [
    running
      ? `Call running for lesson ${running.lessonId} since ${formatZonedTime(running.startedAt, timeZone)}`
      : 'No call running',
    next ? `Next: ${describe(next, timeZone)}` : 'No automatic action scheduled',
    ...(plan?.manualOnly ? [`Manual only: ${plan.manualOnly.reasons.join(', ')}`] : []),
    ...(plan?.callsUnavailable ? [`No calls in this journal: ${plan.callsUnavailable}`] : []),
    ...(endFailure ? [endFailureLine(endFailure)] : []),
  ];
  return lines.map((line) => `- ${line}`).join('\n');
}

/** The state query's answer: what the page and the Web UI show. */
export function callStateView(args: {
  schoolId: string;
  journalId: string;
  running: RunningCall | null;
  plan: CallPlan | null;
  dayWarnings: DayWarnings | null;
  endFailure: EndFailure | null;
  lastEnded: LastEndedCall | null;
  lastError: string | null;
}): JournalCallState {
  const { plan } = args;
  return {
    schoolId: args.schoolId,
    journalId: args.journalId,
    running: args.running,
    next: plan?.next ? nextAction(plan.next) : null,
    manualOnly: plan?.manualOnly
      ? { reasons: plan.manualOnly.reasons, gridGaps: plan.manualOnly.gridGaps }
      : null,
    callsUnavailable: plan?.callsUnavailable ?? null,
    warnings: mergeWarnings(args.dayWarnings?.items ?? [], plan?.warnings ?? []),
    tooLateForAutoStart: (plan?.skipped ?? [])
      .filter((s) => s.reason === 'startedTooLongAgo')
      .map((s) => s.lessonId),
    endFailure: args.endFailure,
    lastEnded: args.lastEnded,
    lastError: args.lastError,
  };
}
