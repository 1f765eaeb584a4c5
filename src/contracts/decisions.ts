import type { Sinks } from '@temporalio/workflow';

/**
 * Every decision the journal calls workflow makes, reported through a sink. Live, the worker logs
 * it; the audit replays archived histories with the sink enabled during replay and reads them back,
 * so the explanation of a missed call comes from the very code that decided.
 */
export type CallDecisionKind =
  | 'planned'
  | 'autoStarted'
  | 'manualStarted'
  | 'autoEnded'
  | 'manualEnded'
  | 'endedInSferum'
  | 'carriedOver'
  | 'refused'
  | 'skipped'
  | 'startFailed'
  /** An automatic end failed after its retries; the call keeps running and the end is retried. */
  | 'endFailed'
  /**
   * V5: an automatic end kept failing and the call is taken as over (`reason`: `dayOver`, the
   * lesson's school day ended; `nextLessonDue`, the next lesson's start was due). It may still run
   * on the platform; the operator checks it.
   */
  | 'endAbandoned'
  | 'linkPublished';

export interface CallDecision {
  readonly kind: CallDecisionKind;
  readonly journalId: string;
  readonly lessonId?: string;
  /** Workflow time of the decision (epoch ms). */
  readonly at: number;
  /** When a timer-driven action was due: the audit compares it with `at` to see a late timer. */
  readonly dueAt?: number;
  /** `auto` or a staff ID. */
  readonly actor?: string;
  readonly reason?: string;
  readonly details?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface DecisionSinks extends Sinks {
  decisions: {
    record(decision: CallDecision): void;
  };
}
