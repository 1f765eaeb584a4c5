import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { lazySchema } from './lazy-schema';
import type { CallsUnavailableReason, GridGap, TemplateDefect } from './timetable';

/**
 * Messages of the journal calls workflow (one per journal, ID `journal-calls-<journalId>@<schoolId>`).
 * It is the single writer of the journal's call state, so one call per journal (V3) holds by
 * construction.
 */

export interface RunningCall {
  readonly callKey: string;
  readonly callId: string;
  readonly joinLink: string;
  readonly lessonId: string;
  /** Every lesson the call serves: back-to-back lessons carry one call over (DESIGN.md §6). */
  readonly lessonIds: readonly string[];
  readonly startedAt: number;
  readonly startedBy: CallActor;
  /** Automatic end (V5), null when only a manual end is possible (V7). */
  readonly autoEndAt: number | null;
  /** Lessons of the call not yet published: their link is posted when they are (V1). */
  readonly linkPendingLessonIds: readonly string[];
}

/** `auto` or the staff ID of the teacher who pressed the button; never a name. */
export type CallActor = 'auto' | { readonly staffId: string };

export interface JournalCallsInput {
  readonly schoolId: string;
  readonly journalId: string;
  readonly carried?: CarriedCallState;
  /** Continue as new once the history has this many events, besides the server's suggestion. */
  readonly continueAsNewAfterEvents?: number;
}

export interface CarriedCallState {
  readonly running: RunningCall | null;
  readonly sequence: number;
  /** Lessons whose call already ran, so a re-plan never starts them again. */
  readonly calledLessonIds: readonly string[];
  /** V3: the warnings of today's calls, shown until the school day ends. */
  readonly warnings?: DayWarnings;
  /** V5: the automatic end that keeps failing, so the new run keeps backing off. */
  readonly endFailure?: EndFailure;
}

/** Warnings kept for the school day they were given on (YYYY-MM-DD in the school's zone). */
export interface DayWarnings {
  readonly date: string;
  readonly items: readonly CallPlanWarning[];
}

/**
 * V5: an automatic end that failed after its activity's retries. The end is tried again after
 * growing pauses; the workflow gives the call up (`gaveUp`) when the lesson's day is over or the
 * next lesson's automatic start is due, so a call it cannot end never blocks the next one.
 */
export interface EndFailure {
  readonly callKey: string;
  readonly lessonId: string;
  readonly lessonIds: readonly string[];
  /** The last failure, as the activity reported it (error type and message, no personal data). */
  readonly error: string;
  readonly failures: number;
  /** When the end is tried next; null once given up. */
  readonly retryAt: number | null;
  readonly gaveUp: boolean;
  /** The school date of the last failure or of giving up: the notice is shown until it ends. */
  readonly date: string;
}

export type RefusalReason =
  | 'anotherCallRunning'
  /** V1, C2: not a general-education journal: it has no online lessons and no calls. */
  | 'callsNotAvailable'
  | 'lessonNotFound'
  /** V2: the lesson exists in the journal but is not dated today or tomorrow. */
  | 'lessonNotTodayOrTomorrow'
  | 'lessonNotOnline'
  | 'lessonNotInJournal'
  | 'noSubjectChat'
  | 'noCallRunning'
  | 'platformError';

export type StartCallResult =
  | {
      readonly accepted: true;
      readonly lessonId: string;
      readonly joinLink: string;
      readonly linkPublished: boolean;
    }
  | { readonly accepted: false; readonly reason: RefusalReason; readonly runningLessonId?: string };

export type EndCallResult =
  | { readonly accepted: true; readonly lessonId: string; readonly alreadyEnded: boolean }
  | { readonly accepted: false; readonly reason: RefusalReason };

/** V3: an earlier online lesson was left unpublished while a later one was chosen. */
export interface CallPlanWarning {
  readonly kind: 'earlierUnpublished';
  readonly skippedLessonId: string;
  readonly chosenLessonId: string;
}

export interface NextAction {
  readonly kind: 'start' | 'end' | 'carryOver';
  readonly lessonId: string;
  readonly at: number;
}

export interface JournalCallState {
  readonly schoolId: string;
  readonly journalId: string;
  readonly running: RunningCall | null;
  readonly next: NextAction | null;
  readonly manualOnly: {
    readonly reasons: readonly TemplateDefect[];
    readonly gridGaps: readonly GridGap[];
  } | null;
  /** V1, C2: set when the journal has no calls at all. */
  readonly callsUnavailable: CallsUnavailableReason | null;
  /** V3: today's warnings, kept while the later lesson's call runs and until the day ends. */
  readonly warnings: readonly CallPlanWarning[];
  /** V2: today's online lessons published (or switched online) too late to start by themselves. */
  readonly tooLateForAutoStart: readonly string[];
  /** V5: the automatic end that failed, while it is retried and on the day it was given up. */
  readonly endFailure: EndFailure | null;
  /** V5: how the last call ended (absent from workflows of older code), null before any end. */
  readonly lastEnded?: LastEndedCall | null;
  readonly lastError: string | null;
}

/** `platform`: ended in Sferum, by hand in the app (V5). */
export interface LastEndedCall {
  readonly lessonId: string;
  readonly lessonIds: readonly string[];
  readonly endedBy: 'auto' | 'teacher' | 'platform';
  readonly at: number;
}

/**
 * V5: the platform says the call ended in Sferum (the listener found which of our calls it was).
 * Only the call that is still running under `callKey` is ended; any other changes nothing.
 */
export interface CallEndedOnPlatformArgs {
  readonly callKey: string;
  readonly eventId: string;
}
export const callEndedOnPlatformSignal =
  defineSignal<[CallEndedOnPlatformArgs]>('callEndedOnPlatform');

export const lessonsChangedSignal = defineSignal<[{ lessonIds?: string[] }]>('lessonsChanged');

export const startCallUpdate = defineUpdate<
  StartCallResult,
  [{ lessonId: string; requestedBy: string }]
>('startCall');
export const endCallUpdate = defineUpdate<EndCallResult, [{ requestedBy: string }]>('endCall');

export const callStateQuery = defineQuery<JournalCallState>('callState');

/**
 * Shapes the update validators check synchronously, built on a run's first update
 * (./lazy-schema.ts); refusals on the merits are results, not rejections.
 */
export const startCallArgsSchema = lazySchema(() =>
  z.object({ lessonId: z.string().min(1), requestedBy: z.string().min(1) }),
);
export const endCallArgsSchema = lazySchema(() => z.object({ requestedBy: z.string().min(1) }));

/**
 * Hand-over from a run under the journal's legacy workflow ID (one without the school) to its
 * school-qualified successor: the successor takes the carried state over first, then the legacy
 * run stops, so the call it runs is ended by the successor and no call key is used twice.
 */
export const carriedStateQuery = defineQuery<CarriedCallState>('carriedState');
export const takeOverSignal =
  defineSignal<[{ carried: CarriedCallState; fromWorkflowId: string }]>('takeOver');
export const handOverUpdate = defineUpdate<CarriedCallState, [{ toWorkflowId: string }]>(
  'handOver',
);
