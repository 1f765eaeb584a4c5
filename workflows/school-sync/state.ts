import {
  DEFAULT_SYNC_PERIOD,
  periodToMs,
  settingsChangedArgsSchema,
  type CarriedSyncState,
  type SyncPeriod,
  type SyncStatus,
} from '../../src/contracts/school-sync';
import type { ReadyPlan, PlanSyncResult } from '../../src/contracts/sync-activities';
import type { HeldPlan, RunSummary, SyncBlock } from '../../src/contracts/sync-records';
import { PATCH_JOURNALS_ON_ROSTER_CHANGE } from './rules';

/** What the state needs from the workflow: its clock, its patch markers, run IDs, its history. */
export interface SchoolSyncEnv {
  readonly now: () => number;
  readonly patched: (patchId: string) => boolean;
  readonly newRunId: () => string;
  /** The history is due to continue as new (the server suggests it, or it reached its limit). */
  readonly continueAsNewDue: () => boolean;
}

/**
 * What continue-as-new carries besides the shared contract: when the next periodic run is due
 * (so continuing is not itself a reason to sync) and whether a run was explicitly asked for.
 */
export type CarriedState = CarriedSyncState & {
  readonly nextRunAt?: number | null;
  readonly runRequested?: boolean;
  /** The run ID syncNow or approvePlan already returned: the continued execution runs under it. */
  readonly requestedRunId?: string | null;
  /** The period last read from the school's settings: a setPeriod override lasts until it changes. */
  readonly settingsPeriod?: SyncPeriod | null;
  /** A roster change the journal workflows have not been told of yet. */
  readonly journalsPending?: boolean;
};

export type ApprovePlanAnswer =
  { accepted: true; runId: string } | { accepted: false; reason: string };

/**
 * What one school's sync holds between runs, how its messages change it and when it runs next
 * (C1–C5, S1–S4); the workflow (`../school-sync.ts`) wires it to handlers, timers and activities.
 * Every patch check goes through `env`, where the workflow has always made it.
 */
export class SchoolSyncState {
  period: SyncPeriod;
  lastRun: RunSummary | null;
  heldPlan: HeldPlan | null;
  approvedPlanId: string | null;
  pendingChanges: number;
  blocked: SyncBlock | null;
  runCount: number;
  requestedRunId: string | null;
  /** Settings saved or the period changed: run at once (a block only lifts on new settings). */
  wakeUp: boolean;
  currentRunId: string | null = null;
  nextRunAt: number | null;
  lastError: string | null = null;
  settingsPeriod: SyncPeriod | null;
  journalsPending: boolean;
  private readonly continued: boolean;

  constructor(
    readonly schoolId: string,
    carried: CarriedState | undefined,
    private readonly env: SchoolSyncEnv,
  ) {
    this.continued = carried !== undefined;
    this.period = carried?.period ?? DEFAULT_SYNC_PERIOD;
    this.lastRun = carried?.lastRun ?? null;
    this.heldPlan = carried?.heldPlan ?? null;
    this.approvedPlanId = carried?.approvedPlanId ?? null;
    this.pendingChanges = carried?.pendingChanges ?? 0;
    this.blocked = carried?.blocked ?? null;
    this.runCount = carried?.runCount ?? 0;
    this.requestedRunId = carried?.requestedRunId ?? null;
    this.wakeUp = carried?.runRequested ?? false;
    this.nextRunAt = carried?.nextRunAt ?? null;
    this.settingsPeriod = carried?.settingsPeriod ?? null;
    this.journalsPending = carried?.journalsPending ?? false;
  }

  /** The roster changed (import, VK ID link/unlink): sync within a minute. */
  rosterChanged(): void {
    this.pendingChanges += 1;
    if (this.env.patched(PATCH_JOURNALS_ON_ROSTER_CHANGE)) this.journalsPending = true;
  }

  /** The settings were saved: take their period (S3), clear a block, sync with them. */
  settingsChanged(arg: unknown): void {
    this.blocked = null;
    this.wakeUp = true;
    // A malformed payload still clears the block; only a valid period is taken.
    const parsed = settingsChangedArgsSchema().safeParse(arg ?? {});
    if (parsed.success && parsed.data.period) this.adoptSettingsPeriod(parsed.data.period);
  }

  syncNow(): { runId: string } {
    this.requestedRunId ??= this.env.newRunId();
    return { runId: this.requestedRunId };
  }

  setPeriod(next: SyncPeriod): { period: SyncPeriod } {
    this.period = next;
    // The new period starts with a run now; a blocked school waits for new settings still.
    if (!this.blocked) this.wakeUp = true;
    return { period: this.period };
  }

  approvePlan(planId: string): ApprovePlanAnswer {
    const held = this.heldPlan;
    if (!held) return { accepted: false, reason: 'no plan is held' };
    if (held.planId !== planId) {
      return { accepted: false, reason: `the held plan is ${held.planId}, not ${planId}` };
    }
    this.approvedPlanId = planId;
    this.requestedRunId ??= this.env.newRunId();
    return { accepted: true, runId: this.requestedRunId };
  }

  status(): SyncStatus {
    return {
      schoolId: this.schoolId,
      period: this.period,
      state: this.currentRunId
        ? 'running'
        : this.blocked
          ? 'blocked'
          : this.heldPlan
            ? 'held'
            : 'idle',
      currentRunId: this.currentRunId,
      lastRun: this.lastRun,
      nextRunAt: this.nextRunAt === null ? null : new Date(this.nextRunAt).toISOString(),
      heldPlan: this.heldPlan,
      lastError: this.lastError,
      blocked: this.blocked,
      pendingChanges: this.pendingChanges,
      runCount: this.runCount,
    };
  }

  /** The `SyncState` search attribute. */
  searchState(): 'blocked' | 'held' | 'ok' {
    return this.blocked ? 'blocked' : this.heldPlan ? 'held' : 'ok';
  }

  /**
   * Whether the execution starts with a run: a first execution always; a continued one only for
   * what the previous one had not served yet, as continuing is no reason to sync.
   */
  runsAtStart(): boolean {
    return (
      !this.continued ||
      this.wakeUp ||
      this.requestedRunId !== null ||
      (this.blocked === null &&
        (this.pendingChanges > 0 || this.nextRunAt === null || this.nextRunAt <= this.env.now()))
    );
  }

  /** Takes what asked for the run: its ID is the one already returned to a request, if any. */
  takeRun(): string {
    const runId = this.requestedRunId ?? this.env.newRunId();
    this.requestedRunId = null;
    this.pendingChanges = 0;
    this.wakeUp = false;
    return runId;
  }

  /** After a run: the next periodic one, none while blocked. */
  scheduleNext(): void {
    this.nextRunAt = this.blocked ? null : this.env.now() + periodToMs(this.period);
  }

  /**
   * Something wants the loop. While blocked (bad token, no settings) roster changes wait for new
   * settings, kept; journals are told of them all the same.
   */
  woken(): boolean {
    return (
      this.requestedRunId !== null ||
      this.wakeUp ||
      (this.blocked === null && this.pendingChanges > 0) ||
      this.journalsPending ||
      this.env.continueAsNewDue()
    );
  }

  /** The loop woke for roster changes alone: a burst is let settle before the run. */
  settleFirst(): boolean {
    return (
      ((this.pendingChanges > 0 && this.blocked === null) || this.journalsPending) &&
      this.requestedRunId === null &&
      !this.env.continueAsNewDue()
    );
  }

  /** A blocked school makes no run, but its journals still hear of a roster change. */
  journalsOnly(): boolean {
    return (
      this.journalsPending && this.blocked !== null && this.requestedRunId === null && !this.wakeUp
    );
  }

  /** A request or a continue-as-new cuts a settling burst short. */
  settleInterrupted(): boolean {
    return this.requestedRunId !== null || this.env.continueAsNewDue();
  }

  /**
   * The plan's answer: a ready or held plan, or the block it reports (no settings, disabled). The
   * saved period wins over a setPeriod override whenever the saved one changes (S3).
   */
  planned(planned: PlanSyncResult, startedAt: string): ReadyPlan | null {
    this.approvedPlanId = null;
    if (isReady(planned) && planned.period && planned.period !== this.settingsPeriod) {
      this.adoptSettingsPeriod(planned.period);
    }
    if (isReady(planned)) {
      this.blocked = null;
      return planned;
    }
    this.blocked = {
      reason: planned.status,
      since: startedAt,
      message:
        planned.status === 'disabled'
          ? 'sync is disabled in the school settings'
          : 'the school has no community settings yet',
    };
    return null;
  }

  carry(): CarriedState {
    return {
      period: this.period,
      lastRun: this.lastRun,
      heldPlan: this.heldPlan,
      approvedPlanId: this.approvedPlanId,
      pendingChanges: this.pendingChanges,
      blocked: this.blocked,
      runCount: this.runCount,
      nextRunAt: this.nextRunAt,
      // A request that arrived but was not run yet makes the next execution run at once.
      runRequested: this.wakeUp,
      requestedRunId: this.requestedRunId,
      settingsPeriod: this.settingsPeriod,
      journalsPending: this.journalsPending,
    };
  }

  private adoptSettingsPeriod(saved: SyncPeriod): void {
    this.period = saved;
    this.settingsPeriod = saved;
  }
}

function isReady(plan: PlanSyncResult): plan is ReadyPlan {
  return plan.status === 'ready' || plan.status === 'held';
}
