import type { JournalContext } from '../../src/contracts/call-activities';
import type { CallDecision } from '../../src/contracts/decisions';
import type {
  CarriedCallState,
  DayWarnings,
  EndFailure,
  JournalCallState,
  LastEndedCall,
  RunningCall,
} from '../../src/contracts/journal-calls';
import {
  callsUnavailableReason,
  planCalls,
  type CallAction,
  type CallPlan,
  type CallPlanInput,
  type JournalCallTraits,
} from '../../src/domain/call-plan';
import { epochToZonedDate } from '../../src/domain/time';
import { nextStartDueAt, recordSkips, type Decision } from './plan';
import {
  ARM_WITHIN_MS,
  CALLED_LESSONS_KEPT,
  PATCH_ARM_START,
  PATCH_CALLS_WHERE_AVAILABLE,
  PATCH_PUBLISH_CHANGES_ONLY,
  PATCH_RELOAD_EACH_DAY,
  WAKE_EARLY_MIN_MS,
  WAKE_EARLY_SPREAD_MS,
} from './rules';
import { callStateView, detailsText, stableHash } from './view';
import { wakeUp, type WakeUp } from './wake-up';

/** What the state needs from the workflow: its clock, its patch markers and the decision sink. */
export interface JournalCallsEnv {
  readonly now: () => number;
  readonly patched: (patchId: string) => boolean;
  readonly record: (decision: CallDecision) => void;
}

export type { Decision };

/**
 * What one journal's workflow holds, how it plans, wakes and shows itself, and what it hands on;
 * the transitions of a call are in `state.ts`. Every clock read and patch check goes through
 * `env`, in the order the workflow has always made them, so histories replay as they ran.
 */
export abstract class JournalCallsCore {
  protected running_: RunningCall | null;
  protected sequence: number;
  protected calledLessonIds: readonly string[];
  /** V3: the warnings given for today's started calls, kept until the school day ends. */
  protected dayWarnings: DayWarnings | null;
  /** V5: the automatic end that failed (PATCH_END_BACKOFF). */
  protected endFailure: EndFailure | null;
  protected ctx: JournalContext | null = null;
  /** The school date on which `ctx` was loaded. */
  protected ctxDate: string | null = null;
  protected dirty = true;
  protected stateChanged = false;
  protected plan: CallPlan | null = null;
  protected lastError: string | null = null;
  protected retryStartAfter = 0;
  private readonly reportedSkips = new Set<string>();
  /** Set once this run (under a legacy workflow ID) handed its state to its successor: it stops. */
  protected handedOver_ = false;
  /** What a legacy run handed over, taken in by the loop under the lock. */
  private takeOvers: CarriedCallState[] = [];
  private published: { state: string; nextAt: number | null } | null = null;
  /** V5: how the last call of this run ended, so the page can say "ended in Sferum". */
  protected lastEnded: LastEndedCall | null = null;
  private readonly wakeEarlyMs: number;

  constructor(
    readonly schoolId: string,
    readonly journalId: string,
    carried: CarriedCallState | undefined,
    protected readonly env: JournalCallsEnv,
  ) {
    this.running_ = carried?.running ?? null;
    this.sequence = carried?.sequence ?? 0;
    this.calledLessonIds = [...(carried?.calledLessonIds ?? [])];
    this.dayWarnings = carried?.warnings ?? null;
    this.endFailure = carried?.endFailure ?? null;
    this.wakeEarlyMs = WAKE_EARLY_MIN_MS + (stableHash(journalId) % WAKE_EARLY_SPREAD_MS);
  }

  get running(): RunningCall | null {
    return this.running_;
  }
  get context(): JournalContext | null {
    return this.ctx;
  }
  get handedOver(): boolean {
    return this.handedOver_;
  }
  /** Something the loop must act on came in while it slept. */
  get interrupted(): boolean {
    return this.dirty || this.stateChanged || this.handedOver_;
  }
  get changedSinceSleep(): boolean {
    return this.stateChanged;
  }

  record(decision: Decision): void {
    this.env.record({ journalId: this.journalId, at: this.env.now(), ...decision });
  }
  markDirty(): void {
    this.dirty = true;
  }
  markChanged(): void {
    this.stateChanged = true;
  }
  /** The loop goes to sleep: what changes from now on wakes it. */
  sleeping(): void {
    this.stateChanged = false;
  }
  failed(error: string): void {
    this.lastError = error;
  }
  /** MongoDB unreachable for longer than the activity's retries: keep the workflow, try again. */
  loadFailed(error: string): void {
    this.lastError = error;
    this.dirty = true;
  }

  /**
   * The loaded journal when it still serves, else null (and the load is due). The journal is
   * loaded for a few days around its day (yesterday to the day after tomorrow): a new school day
   * needs a fresh load, or a journal nobody signals would run out of lessons.
   */
  reusableContext(): JournalContext | null {
    const ctx = this.ctx;
    const newDay =
      ctx !== null &&
      epochToZonedDate(this.env.now(), ctx.timeZone) !== this.ctxDate &&
      this.env.patched(PATCH_RELOAD_EACH_DAY);
    if (this.dirty || !ctx || newDay) {
      this.dirty = false;
      return null;
    }
    return ctx;
  }
  loaded(ctx: JournalContext): JournalContext {
    this.ctx = ctx;
    this.ctxDate = epochToZonedDate(this.env.now(), ctx.timeZone);
    return ctx;
  }

  /**
   * V1, C2: the journal's traits go to the planner only when they take its calls away, and only
   * under the patch, so histories of journals that had calls before the rule replay as they ran.
   */
  private callTraits(current: JournalContext): JournalCallTraits | null {
    const journal = current.journal;
    if (!journal || callsUnavailableReason(journal) === null) return null;
    return this.env.patched(PATCH_CALLS_WHERE_AVAILABLE) ? journal : null;
  }

  private planInput(current: JournalContext): CallPlanInput {
    const running = this.running_;
    return {
      journalId: this.journalId,
      lessons: current.lessons,
      templates: current.templates,
      timeZone: current.timeZone,
      now: this.env.now(),
      running: running && {
        lessonId: running.lessonId,
        startedAt: running.startedAt,
        autoEndAt: running.autoEndAt,
        lessonIds: running.lessonIds,
      },
      calledLessonIds: this.calledLessonIds,
      journal: this.callTraits(current),
    };
  }

  /** What is kept for a school day is dropped when the next one begins. */
  private forgetPastDays(timeZone: string): void {
    const today = epochToZonedDate(this.env.now(), timeZone);
    if (this.dayWarnings && this.dayWarnings.date !== today) this.dayWarnings = null;
    if (this.endFailure?.gaveUp && this.endFailure.date !== today) this.endFailure = null;
  }

  replan(current: JournalContext): CallPlan {
    this.forgetPastDays(current.timeZone);
    const plan = planCalls(this.planInput(current));
    this.plan = plan;
    recordSkips(plan, this.reportedSkips, (decision) => {
      this.record(decision);
    });
    return plan;
  }

  /** The search attributes to upsert, or null when they have not changed (PATCH_PUBLISH_CHANGES_ONLY). */
  searchAttributes(): { state: string; nextAt: number | null } | null {
    const plan = this.plan;
    const state = this.running_ ? 'running' : plan?.manualOnly ? 'manualOnly' : 'idle';
    const nextAt = plan?.next ? plan.next.at : null;
    const unchanged = this.published?.state === state && this.published.nextAt === nextAt;
    if (unchanged && this.env.patched(PATCH_PUBLISH_CHANGES_ONLY)) return null;
    this.published = { state, nextAt };
    return this.published;
  }

  details(timeZone: string): string {
    const { running_: running, plan, endFailure } = this;
    return detailsText({ running, plan, endFailure, timeZone });
  }

  /**
   * The key of the next call. It advances only once a start succeeded, so a start retried after a
   * failure (or a manual start after a failed automatic one) reuses a call the platform may already
   * have begun instead of opening a second one.
   */
  nextKey(lessonId: string): string {
    return `${this.journalId}:${lessonId}:${this.sequence + 1}`;
  }

  /** V5: the next automatic start, due now, that a call which cannot be ended must not block. */
  protected nextStartDueAt(current: JournalContext): number | null {
    const call = this.running_;
    if (!call) return null;
    return nextStartDueAt(this.planInput(current), this.calledLessonIds, call);
  }

  waitingToRetryEnd(current: JournalContext): boolean {
    const failure = this.endFailure;
    const retryAt = failure?.callKey === this.running_?.callKey ? failure?.retryAt : null;
    if (retryAt === null || retryAt === undefined || this.env.now() >= retryAt) return false;
    const startAt = this.nextStartDueAt(current);
    return startAt === null || startAt > this.env.now();
  }

  /** An automatic start due soon is armed (PATCH_ARM_START), unless a failed one waits its retry. */
  shouldArm(next: CallAction | null): next is Extract<CallAction, { kind: 'start' }> {
    const now = this.env.now();
    return (
      next?.kind === 'start' &&
      this.retryStartAfter <= now &&
      next.at - now <= ARM_WITHIN_MS &&
      this.env.patched(PATCH_ARM_START)
    );
  }

  wakeUp(planned: CallPlan, current: JournalContext): WakeUp {
    return wakeUp({
      planned,
      now: this.env.now(),
      timeZone: current.timeZone,
      retryStartAfter: this.retryStartAfter,
      endRetryAt: (next) =>
        this.waitingToRetryEnd(current) ? this.endRetryWakeAt(next, current) : null,
      wakeEarlyMs: this.wakeEarlyMs,
      patched: this.env.patched,
    });
  }

  /** V5: a failed end waits for its retry, or for the next lesson's start if that comes first. */
  private endRetryWakeAt(next: CallAction, current: JournalContext): number {
    const retryAt = this.endFailure?.retryAt ?? next.at;
    return Math.min(Math.max(next.at, retryAt), this.nextStartDueAt(current) ?? Infinity);
  }

  view(): JournalCallState {
    const { schoolId, journalId, plan, dayWarnings, endFailure, lastEnded, lastError } = this;
    return callStateView({
      schoolId,
      journalId,
      running: this.running_,
      plan,
      dayWarnings,
      endFailure,
      lastEnded,
      lastError,
    });
  }

  /** What goes on in a next run: after continue-as-new, or in the successor of a legacy run. */
  carried(): CarriedCallState {
    return {
      running: this.running_,
      sequence: this.sequence,
      calledLessonIds: this.calledLessonIds,
      ...(this.dayWarnings ? { warnings: this.dayWarnings } : {}),
      ...(this.endFailure ? { endFailure: this.endFailure } : {}),
    };
  }

  takeOver(carried: CarriedCallState): void {
    this.takeOvers = [...this.takeOvers, carried];
    this.dirty = true;
  }

  handOver(): CarriedCallState {
    this.handedOver_ = true;
    return this.carried();
  }

  /** The legacy run's call goes on here; its keys are never used again; its lessons stay called. */
  adoptTakeOvers(): void {
    for (const carried of this.takeOvers) {
      const running = this.running_;
      if (running === null) {
        this.running_ = carried.running;
        if (carried.endFailure?.callKey === carried.running?.callKey)
          this.endFailure = carried.endFailure ?? null;
      } else if (carried.running && carried.running.callKey !== running.callKey) {
        this.lastError = `call ${carried.running.callKey} of the legacy run still runs beside ${running.callKey}`;
      }
      this.sequence = Math.max(this.sequence, carried.sequence);
      this.calledLessonIds = [
        ...new Set([...this.calledLessonIds, ...carried.calledLessonIds]),
      ].slice(-CALLED_LESSONS_KEPT);
      if (carried.warnings) this.dayWarnings ??= carried.warnings;
    }
    this.takeOvers = [];
  }
}
