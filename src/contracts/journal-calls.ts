import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { TemplateDefect } from '../domain/template-check';

/**
 * Messages of the journal calls workflow (one per journal, ID `journal-calls-<journalId>`).
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
}

export interface CarriedCallState {
  readonly running: RunningCall | null;
  readonly sequence: number;
  /** Lessons whose call already ran, so a re-plan never starts them again. */
  readonly calledLessonIds: readonly string[];
}

export type RefusalReason =
  | 'anotherCallRunning'
  | 'lessonNotFound'
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
  readonly manualOnly: { readonly reasons: readonly TemplateDefect[] } | null;
  readonly warnings: readonly CallPlanWarning[];
  readonly lastError: string | null;
}

export const lessonsChangedSignal = defineSignal<[{ lessonIds?: string[] }]>('lessonsChanged');

export const startCallUpdate = defineUpdate<
  StartCallResult,
  [{ lessonId: string; requestedBy: string }]
>('startCall');
export const endCallUpdate = defineUpdate<EndCallResult, [{ requestedBy: string }]>('endCall');

export const callStateQuery = defineQuery<JournalCallState>('state');

/** Shapes the update validators check synchronously; refusals on the merits are results, not rejections. */
export const startCallArgsSchema = z.object({
  lessonId: z.string().min(1),
  requestedBy: z.string().min(1),
});
export const endCallArgsSchema = z.object({ requestedBy: z.string().min(1) });
