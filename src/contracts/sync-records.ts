import { z } from 'zod';
import { chatKinds, syncPeriods } from './school-sync';

/**
 * What a school sync run leaves behind, as the workflow returns it, the store keeps it and the API
 * shows it. Kept apart from the workflow's messages (./school-sync.ts), which the workflow code
 * imports: every module it imports is evaluated again for each run a worker caches, and these
 * schemas would cost every cached run their weight (docs/benchmarks.md, "scale").
 */

export const syncPeriodSchema = z.enum(syncPeriods);

/** What an incident of the audit (src/audit/incidents.ts) says, wherever it is kept. */
export const incidentFieldsSchema = z.object({
  /** The activity, "workflow task", a timer's summary or "Temporal server". */
  subject: z.string(),
  attempts: z.number().int().nullable(),
  /** How long the trouble held things up: first schedule to final start, or the timer's lateness. */
  delayMs: z.number(),
  /** The error type and message, as the failing side reported them. */
  reason: z.string(),
});

/** An incident of the audit as a run summary keeps it. */
export const runIncidentSchema = incidentFieldsSchema.extend({
  kind: z.string(),
  /** ISO time it was seen in the history. */
  at: z.string(),
  /** The audit's sentence for it, e.g. "applyPlan succeeded on attempt 3 after 41 s; last error: …". */
  text: z.string(),
});
export type RunIncident = z.infer<typeof runIncidentSchema>;

/** What one sync run did: the workflow's result, the stored run, the API's last run. */
export const runSummarySchema = z.object({
  runId: z.string(),
  planId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  chatsCreated: z.number().int(),
  chatsAdopted: z.number().int(),
  membersAdded: z.number().int(),
  membersRemoved: z.number().int(),
  adminsChanged: z.number().int(),
  skippedNoVkId: z.number().int(),
  unmanagedMembers: z.number().int(),
  errors: z.number().int(),
  incidents: z.array(runIncidentSchema).readonly().optional().meta({
    description:
      'What held the run up though it succeeded (retries with their last error, a worker lost, a server restart), from its history; absent when nothing did, or in a run recorded before runs kept them.',
  }),
});
export type RunSummary = z.infer<typeof runSummarySchema>;

/** One chat of a held plan: the removals from it, or its retirement, that wait for approval. */
export const heldChatSchema = z.object({
  chatKey: z.string(),
  kind: z.enum(chatKinds),
  /** Managed members the plan would remove from this chat (all of them when it is retired). */
  removals: z.number().int(),
  retire: z.boolean(),
});
export type HeldChat = z.infer<typeof heldChatSchema>;

/**
 * What the mass-removal guard holds (C3): only the guarded removals and retirements; the rest of
 * the plan is applied in the same run.
 */
export const heldPlanSchema = z.object({
  planId: z.string(),
  reason: z.enum(['massRemoval', 'chatRemoval']),
  /** Removals held back (memberships, not people). */
  removals: z.number().int(),
  managedMembers: z.number().int(),
  chatsRemoved: z.number().int(),
  /** Distinct people the held removals concern (absent in plans held before it was kept). */
  people: z.number().int().optional(),
  chats: z.array(heldChatSchema).readonly().optional().meta({
    description:
      'What is held, per chat: its removals, or its retirement. Everything else of the plan was applied. Absent in plans held before it was kept.',
  }),
});
export type HeldPlan = z.infer<typeof heldPlanSchema>;

export const syncBlockSchema = z.object({
  reason: z.enum(['auth', 'notConfigured', 'disabled']),
  since: z.string(),
  message: z.string(),
});
export type SyncBlock = z.infer<typeof syncBlockSchema>;
