import { z } from 'zod';
import { callDecisionSchema } from './decisions';

/**
 * What the audit needs from one replayed run (src/audit/replay-runs.ts), kept beside an archived
 * closed run so the audit need not replay it again (src/store/history-archive.ts). Validated
 * when read: a document written by other code, or damaged, is replayed afresh rather than trusted.
 */

export const incidentKinds = [
  'activityRetried',
  'activityFailed',
  'activityTimedOut',
  'workflowTaskTimedOut',
  'workflowTaskFailed',
  'waitedForWorker',
  'timerLate',
  'serverRestarted',
] as const;

export const incidentSchema = z.object({
  kind: z.enum(incidentKinds),
  workflowId: z.string(),
  runId: z.string(),
  at: z.number(),
  subject: z.string(),
  attempts: z.number().nullable(),
  delayMs: z.number(),
  reason: z.string(),
});

export const replayFailureSchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  /** `DeterminismViolationError` when the code no longer makes the recorded decisions. */
  errorType: z.string(),
  message: z.string(),
});
export type ReplayFailure = z.infer<typeof replayFailureSchema>;

/** One run's replay: its decisions in the order the workflow made them, its incidents, or why it failed. */
export const runReplaySchema = z.object({
  workflowId: z.string(),
  runId: z.string(),
  decisions: z.array(callDecisionSchema),
  incidents: z.array(incidentSchema),
  failure: replayFailureSchema.nullable(),
});
export type RunReplay = z.infer<typeof runReplaySchema>;

/** A run's replay as stored beside its archived history, with the code that produced it. */
export const storedReplaySchema = runReplaySchema.omit({ workflowId: true, runId: true }).extend({
  /** The workflow code's build (src/audit/replay-build.ts): a different build replays again. */
  buildId: z.string(),
  replayedAt: z.date(),
});
export type StoredReplay = z.infer<typeof storedReplaySchema>;
