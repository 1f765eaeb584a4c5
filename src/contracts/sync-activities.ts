import type { HeldPlan, RunSummary, SyncPeriod } from './school-sync';

/**
 * What the school sync activities take and return: IDs and counts only, so workflow histories
 * hold no personal data and no secrets.
 */
export type PlanSyncResult = ReadyPlan | { readonly status: 'notConfigured' | 'disabled' };

/**
 * A plan to apply now. When `status` is `held`, `planId` is the part the guard lets through (every
 * change but the held removals and retirements) and `held.planId` the whole plan awaiting approval.
 */
export interface ReadyPlan {
  readonly status: 'ready' | 'held';
  readonly planId: string;
  readonly chatKeys: readonly string[];
  readonly held: HeldPlan | null;
  /** The period saved in the school's settings (S3); absent in results recorded before it was. */
  readonly period?: SyncPeriod;
  readonly counts: {
    readonly chats: number;
    readonly chatsToCreate: number;
    readonly chatsToRetire: number;
    readonly skippedNoVkId: number;
  };
}

export interface ChatApplyResult {
  readonly chatKey: string;
  readonly created: boolean;
  readonly adopted: boolean;
  readonly added: number;
  readonly removed: number;
  readonly adminsChanged: number;
  readonly unmanaged: number;
  readonly failedOps: number;
}

/** What one `applyPlan` did: a result per chat it applied, and the chats the platform refused. */
export interface PlanApplyResult {
  readonly results: readonly ChatApplyResult[];
  /** Chats that failed for a reason a retry cannot fix (e.g. no access), with the failure's type. */
  readonly failed: readonly { readonly chatKey: string; readonly type: string }[];
}

export interface SyncActivities {
  planSync(args: {
    schoolId: string;
    runId: string;
    approvedPlanId: string | null;
  }): Promise<PlanSyncResult>;
  /** One chat of a plan: what histories recorded before `applyPlan` schedule, chat by chat. */
  applyChat(args: {
    schoolId: string;
    planId: string;
    chatKey: string;
    runId: string;
  }): Promise<ChatApplyResult>;
  /**
   * Applies every chat of a plan at once, so the platform calls of all chats share the `execute`
   * requests: one read per chat, then creations, member changes and admin rights, 25 to a request.
   */
  applyPlan(args: { schoolId: string; planId: string; runId: string }): Promise<PlanApplyResult>;
  recordRun(args: {
    schoolId: string;
    runId: string;
    planId: string;
    startedAt: string;
    results: readonly ChatApplyResult[];
    errors: number;
    skippedNoVkId: number;
  }): Promise<RunSummary>;
  /**
   * Makes sure every subject-chat journal has its calls workflow, and re-plans the journals a new
   * roster version changed. Reads the roster only: it runs whatever state the chat sync is in.
   */
  ensureJournalWorkflows(args: { schoolId: string }): Promise<{ journals: number }>;
}
