import type { Sinks } from '@temporalio/workflow';
import { z } from 'zod';

/**
 * Every decision the journal calls workflow makes, reported through a sink. Live, the worker logs
 * it; the audit replays archived histories with the sink enabled during replay and reads them back,
 * so the explanation of a missed call comes from the very code that decided.
 *
 * `endFailed`: an automatic end failed after its retries; the call keeps running and the end is
 * retried. `endAbandoned` (V5): an automatic end kept failing and the call is taken as over
 * (`reason`: `dayOver`, the lesson's school day ended; `nextLessonDue`, the next lesson's start was
 * due). It may still run on the platform; the operator checks it.
 */
export const callDecisionKinds = [
  'planned',
  'autoStarted',
  'manualStarted',
  'autoEnded',
  'manualEnded',
  'endedInSferum',
  'carriedOver',
  'refused',
  'skipped',
  'startFailed',
  'endFailed',
  'endAbandoned',
  'linkPublished',
] as const;
export type CallDecisionKind = (typeof callDecisionKinds)[number];

export const callDecisionSchema = z.object({
  kind: z.enum(callDecisionKinds),
  journalId: z.string(),
  lessonId: z.string().exactOptional(),
  /** Workflow time of the decision (epoch ms). */
  at: z.number(),
  /** When a timer-driven action was due: the audit compares it with `at` to see a late timer. */
  dueAt: z.number().exactOptional(),
  /** `auto` or a staff ID. */
  actor: z.string().exactOptional(),
  reason: z.string().exactOptional(),
  details: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .readonly()
    .exactOptional(),
});
export type CallDecision = z.infer<typeof callDecisionSchema>;

export interface DecisionSinks extends Sinks {
  decisions: {
    record(decision: CallDecision): void;
  };
}
