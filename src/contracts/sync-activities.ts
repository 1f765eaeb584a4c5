import { z } from 'zod';
import { heldPlanSchema, syncPeriodSchema, type RunSummary } from './sync-records';

/**
 * What the school sync activities take and return: IDs and counts only, so workflow histories
 * hold no personal data and no secrets.
 */

/**
 * A plan to apply now. When `status` is `held`, `planId` is the part the guard lets through (every
 * change but the held removals and retirements) and `held.planId` the whole plan awaiting approval.
 */
export const readyPlanSchema = z.object({
  status: z.enum(['ready', 'held']),
  planId: z.string(),
  chatKeys: z.array(z.string()).readonly(),
  held: heldPlanSchema.nullable(),
  /** The period saved in the school's settings (S3); absent in results recorded before it was. */
  period: syncPeriodSchema.exactOptional(),
  counts: z.object({
    chats: z.number().int(),
    chatsToCreate: z.number().int(),
    chatsToRetire: z.number().int(),
    skippedNoVkId: z.number().int(),
  }),
});
export type ReadyPlan = z.infer<typeof readyPlanSchema>;

export const planSyncResultSchema = z.union([
  readyPlanSchema,
  z.object({ status: z.enum(['notConfigured', 'disabled']) }),
]);
export type PlanSyncResult = z.infer<typeof planSyncResultSchema>;

export const chatApplyResultSchema = z.object({
  chatKey: z.string(),
  created: z.boolean(),
  adopted: z.boolean(),
  added: z.number().int(),
  removed: z.number().int(),
  adminsChanged: z.number().int(),
  unmanaged: z.number().int(),
  failedOps: z.number().int(),
});
export type ChatApplyResult = z.infer<typeof chatApplyResultSchema>;

/** What one `applyPlan` did: a result per chat it applied, and the chats the platform refused. */
export const planApplyResultSchema = z.object({
  results: z.array(chatApplyResultSchema).readonly(),
  /** Chats that failed for a reason a retry cannot fix (e.g. no access), with the failure's type. */
  failed: z.array(z.object({ chatKey: z.string(), type: z.string() }).readonly()).readonly(),
});
export type PlanApplyResult = z.infer<typeof planApplyResultSchema>;

export const planSyncArgsSchema = z.object({
  schoolId: z.string(),
  runId: z.string(),
  approvedPlanId: z.string().nullable(),
});
export const applyPlanArgsSchema = z.object({
  schoolId: z.string(),
  planId: z.string(),
  runId: z.string(),
});
export const applyChatArgsSchema = applyPlanArgsSchema.extend({ chatKey: z.string() });
export const recordRunArgsSchema = z.object({
  schoolId: z.string(),
  runId: z.string(),
  planId: z.string(),
  startedAt: z.string(),
  results: z.array(chatApplyResultSchema).readonly(),
  errors: z.number().int(),
  skippedNoVkId: z.number().int(),
});
export const ensureJournalWorkflowsArgsSchema = z.object({ schoolId: z.string() });

export interface SyncActivities {
  planSync(args: z.infer<typeof planSyncArgsSchema>): Promise<PlanSyncResult>;
  /** One chat of a plan: what histories recorded before `applyPlan` schedule, chat by chat. */
  applyChat(args: z.infer<typeof applyChatArgsSchema>): Promise<ChatApplyResult>;
  /**
   * Applies every chat of a plan at once, so the platform calls of all chats share the `execute`
   * requests: one read per chat, then creations, member changes and admin rights, 25 to a request.
   */
  applyPlan(args: z.infer<typeof applyPlanArgsSchema>): Promise<PlanApplyResult>;
  recordRun(args: z.infer<typeof recordRunArgsSchema>): Promise<RunSummary>;
  /**
   * Makes sure every subject-chat journal has its calls workflow, and re-plans the journals a new
   * roster version changed. Reads the roster only: it runs whatever state the chat sync is in.
   */
  ensureJournalWorkflows(
    args: z.infer<typeof ensureJournalWorkflowsArgsSchema>,
  ): Promise<{ journals: number }>;
}
