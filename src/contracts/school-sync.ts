import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { lazySchema } from './lazy-schema';
import type { HeldPlan, RunSummary, SyncBlock } from './sync-records';

/**
 * Messages of the school sync workflow (one per school, ID `school-sync-<schoolId>`). Payloads
 * carry IDs, counts and settings that are not secret; tokens stay in MongoDB, encrypted.
 */

export const syncPeriods = ['5', '10', '15', '30', '60', 'continuous'] as const;
export type SyncPeriod = (typeof syncPeriods)[number];
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
export const settingsChangedArgsSchema = lazySchema(() =>
  z.object({ reason: z.string().optional(), period: z.enum(syncPeriods).optional() }),
);
export type SettingsChangedArgs = z.infer<ReturnType<typeof settingsChangedArgsSchema>>;
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

/** Shapes the update validators check synchronously, built on a run's first update. */
export const syncNowArgsSchema = lazySchema(() => z.object({ requestedBy: z.string().optional() }));
export const setPeriodArgsSchema = lazySchema(() => z.object({ period: z.enum(syncPeriods) }));
export const approvePlanArgsSchema = lazySchema(() =>
  z.object({ planId: z.string().min(1), approvedBy: z.string().optional() }),
);
