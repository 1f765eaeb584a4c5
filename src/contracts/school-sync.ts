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
}

export interface RunSummary {
  readonly runId: string;
  readonly planId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly chatsCreated: number;
  readonly chatsAdopted: number;
  readonly membersAdded: number;
  readonly membersRemoved: number;
  readonly adminsChanged: number;
  readonly skippedNoVkId: number;
  readonly unmanagedMembers: number;
  readonly errors: number;
  /**
   * What held the run up though it succeeded: retries with their last error, a worker lost, a
   * server restart, read from the run's history when it was recorded (absent: none, or a run
   * recorded before runs kept them).
   */
  readonly incidents?: readonly RunIncident[];
}

/** An incident of the audit (src/audit/incidents.ts) as a run summary keeps it. */
export interface RunIncident {
  readonly kind: string;
  /** ISO time it was seen in the history. */
  readonly at: string;
  /** The activity, "workflow task", a timer's summary or "Temporal server". */
  readonly subject: string;
  readonly attempts: number | null;
  readonly delayMs: number;
  readonly reason: string;
  /** The audit's sentence for it, e.g. "applyPlan succeeded on attempt 3 after 41 s; last error: …". */
  readonly text: string;
}

/** One chat of a held plan: the removals from it, or its retirement, that wait for approval. */
export interface HeldChat {
  readonly chatKey: string;
  readonly kind: 'staffRoom' | 'classParents' | 'classStudents' | 'subject';
  /** Managed members the plan would remove from this chat (all of them when it is retired). */
  readonly removals: number;
  readonly retire: boolean;
}

/**
 * What the mass-removal guard holds (C3): only the guarded removals and retirements; the rest of
 * the plan is applied in the same run.
 */
export interface HeldPlan {
  readonly planId: string;
  readonly reason: 'massRemoval' | 'chatRemoval';
  /** Removals held back (memberships, not people). */
  readonly removals: number;
  readonly managedMembers: number;
  readonly chatsRemoved: number;
  /** Distinct people the held removals concern (absent in plans held before it was kept). */
  readonly people?: number | undefined;
  /** Per chat, what is held (absent in plans held before it was kept). */
  readonly chats?: readonly HeldChat[] | undefined;
}

export interface CarriedSyncState {
  readonly period: SyncPeriod;
  readonly lastRun: RunSummary | null;
  readonly heldPlan: HeldPlan | null;
  readonly approvedPlanId: string | null;
  readonly pendingChanges: number;
  readonly blocked: SyncBlock | null;
  readonly runCount: number;
}

export interface SyncBlock {
  readonly reason: 'auth' | 'notConfigured' | 'disabled';
  readonly since: string;
  readonly message: string;
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

export const syncStatusQuery = defineQuery<SyncStatus>('status');

/** Shapes the update validators check synchronously. */
export const syncNowArgsSchema = z.object({ requestedBy: z.string().optional() });
export const setPeriodArgsSchema = z.object({ period: syncPeriodSchema });
export const approvePlanArgsSchema = z.object({
  planId: z.string().min(1),
  approvedBy: z.string().optional(),
});
