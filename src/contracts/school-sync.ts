import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';

/**
 * Messages of the school sync workflow (one per school, ID `school-sync-<schoolId>`). Payloads
 * carry IDs, counts and settings that are not secret; tokens stay in MongoDB, encrypted.
 */

export const syncPeriods = ['5', '10', '15', '30', '60', 'continuous'] as const;
export const syncPeriodSchema = z.enum(syncPeriods);
export type SyncPeriod = z.infer<typeof syncPeriodSchema>;
export const DEFAULT_SYNC_PERIOD: SyncPeriod = '30';

/**
 * "Continuously" still pauses this long after each run: roster changes are synced within seconds
 * by their own signal, so back-to-back runs would only re-read an unchanged school and spend the
 * community's request budget that its video calls share.
 */
export const CONTINUOUS_PAUSE_MS = 60_000;

export function periodToMs(period: SyncPeriod): number {
  return period === 'continuous' ? CONTINUOUS_PAUSE_MS : Number(period) * 60_000;
}

export interface SchoolSyncInput {
  readonly schoolId: string;
  /** Carried across continue-as-new; absent on the first run. */
  readonly carried?: CarriedSyncState;
  /** Continue as new once the history has this many events, besides the server's suggestion. */
  readonly continueAsNewAfterEvents?: number;
}

/** The kinds of chat the sync keeps (C1, C2). */
export const chatKinds = ['staffRoom', 'classParents', 'classStudents', 'subject'] as const;

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

export interface CarriedSyncState {
  readonly period: SyncPeriod;
  readonly lastRun: RunSummary | null;
  readonly heldPlan: HeldPlan | null;
  readonly approvedPlanId: string | null;
  readonly pendingChanges: number;
  readonly blocked: SyncBlock | null;
  readonly runCount: number;
}

export interface SyncStatus {
  readonly schoolId: string;
  readonly period: SyncPeriod;
  readonly state: 'idle' | 'running' | 'held' | 'blocked';
  readonly currentRunId: string | null;
  readonly lastRun: RunSummary | null;
  readonly nextRunAt: string | null;
  readonly heldPlan: HeldPlan | null;
  readonly lastError: string | null;
  readonly blocked: SyncBlock | null;
  readonly pendingChanges: number;
  readonly runCount: number;
}

export const rosterChangedSignal = defineSignal<[{ changeId?: string }]>('rosterChanged');
/** `period` is the one just saved (S3); older senders and `ensureSchoolSync` send none. */
export const settingsChangedArgsSchema = z.object({
  reason: z.string().optional(),
  period: syncPeriodSchema.optional(),
});
export type SettingsChangedArgs = z.infer<typeof settingsChangedArgsSchema>;
export const settingsChangedSignal = defineSignal<[SettingsChangedArgs]>('settingsChanged');

export const syncNowUpdate = defineUpdate<{ runId: string }, [{ requestedBy?: string }]>('syncNow');
export const setPeriodUpdate = defineUpdate<{ period: SyncPeriod }, [{ period: SyncPeriod }]>(
  'setPeriod',
);
export const approvePlanUpdate = defineUpdate<
  { accepted: true; runId: string } | { accepted: false; reason: string },
  [{ planId: string; approvedBy?: string }]
>('approvePlan');

export const syncStatusQuery = defineQuery<SyncStatus>('syncStatus');

/** Shapes the update validators check synchronously. */
export const syncNowArgsSchema = z.object({ requestedBy: z.string().optional() });
export const setPeriodArgsSchema = z.object({ period: syncPeriodSchema });
export const approvePlanArgsSchema = z.object({
  planId: z.string().min(1),
  approvedBy: z.string().optional(),
});
