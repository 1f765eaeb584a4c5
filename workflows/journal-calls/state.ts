import type { JournalContext } from '../../src/contracts/call-activities';
import type {
  CallActor,
  EndCallResult,
  EndFailure,
  RefusalReason,
  RunningCall,
  StartCallResult,
} from '../../src/contracts/journal-calls';
import { autoEndFor, type CallAction } from '../../src/domain/call-plan';
import { epochToZonedDate } from '../../src/domain/time';
import { abandonReason, nextEndFailure } from './end-failure';
import { manualStartRefusal } from './manual-start';
import {
  CALLED_LESSONS_KEPT,
  PATCH_END_BACKOFF,
  PATCH_NO_PAST_AUTO_END,
  RETRY_FAILED_START_MS,
} from './rules';
import { JournalCallsCore } from './state-core';
import { endedCall, mergeWarnings, nextAction } from './view';

export { type JournalCallsEnv } from './state-core';

/**
 * One journal's call state and its transitions (V1–V7), apart from Temporal, in the shape of the
 * SDK samples' entity manager: the workflow calls an activity, then tells the state what came of
 * it (a call started, ended, failed, carried over), and answers its queries from it.
 */
export class JournalCallsState extends JournalCallsCore {
  started(args: {
    callKey: string;
    lessonId: string;
    actor: CallActor;
    current: JournalContext;
    result: { callId: string; joinLink: string; linkPublished: boolean };
    dueAt: number | undefined;
  }): RunningCall {
    const { callKey, lessonId, actor, current, result, dueAt } = args;
    this.sequence += 1;
    const lesson = current.lessons.find((l) => l.id === lessonId);
    let autoEndAt = lesson
      ? autoEndFor({ lesson, templates: current.templates, timeZone: current.timeZone })
      : null;
    // V5: a call started by hand once its lesson's automatic end has passed (a lesson published
    // too late to start by itself) would be ended the moment it starts; it ends by hand instead.
    // Patched, so histories recorded before this rule still replay as they ran.
    if (
      autoEndAt !== null &&
      autoEndAt <= this.env.now() &&
      this.env.patched(PATCH_NO_PAST_AUTO_END)
    ) {
      autoEndAt = null;
    }
    const running: RunningCall = {
      callKey,
      callId: result.callId,
      joinLink: result.joinLink,
      lessonId,
      lessonIds: [lessonId],
      startedAt: this.env.now(),
      startedBy: actor,
      autoEndAt,
      linkPendingLessonIds: result.linkPublished ? [] : [lessonId],
    };
    this.running_ = running;
    this.record({
      kind: actor === 'auto' ? 'autoStarted' : 'manualStarted',
      lessonId,
      actor: actor === 'auto' ? 'auto' : actor.staffId,
      ...(dueAt === undefined ? {} : { dueAt }),
      details: { linkPublished: result.linkPublished, autoEndAt },
    });
    return running;
  }

  private forget(call: RunningCall): void {
    this.running_ = null;
    this.calledLessonIds = [...this.calledLessonIds, ...call.lessonIds].slice(-CALLED_LESSONS_KEPT);
  }

  ended(args: {
    call: RunningCall;
    alreadyEnded: boolean;
    actor: string;
    kind: 'autoEnded' | 'manualEnded';
    dueAt: number | undefined;
  }): { lessonId: string; alreadyEnded: boolean } {
    const { call, alreadyEnded, actor, kind, dueAt } = args;
    this.forget(call);
    if (this.endFailure?.callKey === call.callKey) this.endFailure = null;
    const endedBy = alreadyEnded ? 'platform' : kind === 'autoEnded' ? 'auto' : 'teacher';
    this.lastEnded = endedCall(call, endedBy, this.env.now());
    this.record({
      kind: alreadyEnded ? 'endedInSferum' : kind,
      lessonId: call.lessonId,
      actor,
      ...(dueAt === undefined ? {} : { dueAt }),
      details: { lessons: call.lessonIds.join(',') },
    });
    return { lessonId: call.lessonId, alreadyEnded };
  }

  /** V5: the call ended in Sferum; the activity recorded the end and withdrew the link. */
  endedOnPlatform(call: RunningCall, eventId: string): void {
    this.running_ = null;
    if (this.endFailure?.callKey === call.callKey) this.endFailure = null;
    this.calledLessonIds = [...this.calledLessonIds, ...call.lessonIds].slice(-CALLED_LESSONS_KEPT);
    this.lastEnded = endedCall(call, 'platform', this.env.now());
    const lessons = call.lessonIds.join(',');
    this.record({ kind: 'endedInSferum', lessonId: call.lessonId, details: { lessons, eventId } });
    this.stateChanged = true;
  }

  /** V1: the lessons of the running call published since it started, whose link is due now. */
  pendingLinks(current: JournalContext): readonly string[] {
    const call = this.running_;
    if (!call || call.linkPendingLessonIds.length === 0) return [];
    const visible = new Set(current.lessons.filter((l) => l.status !== 'draft').map((l) => l.id));
    return call.linkPendingLessonIds.filter((id) => visible.has(id));
  }
  linksPublished(callKey: string, published: readonly string[]): void {
    const running = this.running_;
    if (published.length === 0 || running?.callKey !== callKey) return;
    this.running_ = {
      ...running,
      linkPendingLessonIds: running.linkPendingLessonIds.filter((id) => !published.includes(id)),
    };
  }

  /** V2: the answer to a teacher's start when it is not to start a call, else null. */
  manualStartAnswer(
    current: JournalContext,
    lessonId: string,
    requestedBy: string,
  ): StartCallResult | null {
    const refusal = manualStartRefusal({
      current,
      journalId: this.journalId,
      lessonId,
      now: this.env.now(),
      patched: this.env.patched,
    });
    if (refusal) return this.refuseStart(lessonId, requestedBy, refusal);
    const running = this.running_;
    if (!running) return null;
    if (running.lessonIds.includes(lessonId)) {
      return {
        accepted: true,
        lessonId,
        joinLink: running.joinLink,
        linkPublished: !running.linkPendingLessonIds.includes(lessonId),
      };
    }
    return this.refuseStart(lessonId, requestedBy, 'anotherCallRunning', {
      runningLessonId: running.lessonId,
    });
  }

  refuseStart(
    lessonId: string,
    requestedBy: string,
    reason: RefusalReason,
    extra: { runningLessonId?: string } = {},
  ): StartCallResult {
    this.record({ kind: 'refused', lessonId, actor: requestedBy, reason });
    return { accepted: false, reason, ...extra };
  }

  refuseEnd(requestedBy: string, reason: 'noCallRunning' | 'platformError'): EndCallResult {
    this.record({ kind: 'refused', actor: requestedBy, reason });
    return { accepted: false, reason };
  }

  /** A failed automatic start waits out its retry pause before it is tried again. */
  mayAutoStart(): boolean {
    return this.env.now() >= this.retryStartAfter;
  }
  autoStarted(lessonId: string, timeZone: string): void {
    this.retryStartAfter = 0;
    this.keepWarnings(lessonId, timeZone);
  }
  autoStartFailed(action: CallAction, error: string): void {
    this.lastError = error;
    this.retryStartAfter = this.env.now() + RETRY_FAILED_START_MS;
    this.record({
      kind: 'startFailed',
      lessonId: nextAction(action).lessonId,
      reason: 'platformError',
      dueAt: action.at,
      details: { error },
    });
  }

  /** V5: a failed automatic end: backed off, and given up when it must be. */
  autoEndFailed(
    call: RunningCall,
    action: CallAction,
    error: string,
    current: JournalContext,
  ): void {
    this.lastError = error;
    const failure = this.env.patched(PATCH_END_BACKOFF)
      ? this.endFailed(call, error, current)
      : null;
    this.record({
      kind: 'endFailed',
      lessonId: nextAction(action).lessonId,
      reason: 'platformError',
      dueAt: action.at,
      details: {
        error,
        ...(failure ? { failures: failure.failures, retryAt: failure.retryAt } : {}),
      },
    });
    if (failure?.gaveUp) this.giveUp(call, failure, current);
  }

  /** A lesson that is published gets the link at once when the call carries over to it. */
  static visible(current: JournalContext, lessonId: string): boolean {
    const lesson = current.lessons.find((l) => l.id === lessonId);
    return lesson !== undefined && lesson.status !== 'draft';
  }

  carriedOver(
    call: RunningCall,
    action: Extract<CallAction, { kind: 'carryOver' }>,
    linked: boolean,
    current: JournalContext,
  ): void {
    this.running_ = {
      ...call,
      lessonId: action.toLessonId,
      lessonIds: [...call.lessonIds, action.toLessonId],
      autoEndAt: action.newAutoEndAt,
      linkPendingLessonIds: linked
        ? call.linkPendingLessonIds
        : [...call.linkPendingLessonIds, action.toLessonId],
    };
    this.keepWarnings(action.toLessonId, current.timeZone);
    this.record({
      kind: 'carriedOver',
      lessonId: action.toLessonId,
      dueAt: action.at,
      details: { from: action.fromLessonId, autoEndAt: action.newAutoEndAt },
    });
  }

  /**
   * V3: once the later lesson's call runs, the warning naming the earlier unpublished lesson is
   * kept for the rest of the school day: the planner stops giving it when its next action is the
   * end, and the order can no longer be restored.
   */
  private keepWarnings(chosenLessonId: string, timeZone: string): void {
    const given = (this.plan?.warnings ?? []).filter((w) => w.chosenLessonId === chosenLessonId);
    if (given.length === 0) return;
    const today = epochToZonedDate(this.env.now(), timeZone);
    const kept = this.dayWarnings?.date === today ? this.dayWarnings.items : [];
    this.dayWarnings = { date: today, items: mergeWarnings(kept, given) };
  }

  private endFailed(call: RunningCall, error: string, current: JournalContext): EndFailure {
    this.endFailure = nextEndFailure({
      call,
      previous: this.endFailure,
      error,
      now: this.env.now(),
      timeZone: current.timeZone,
      nextStartAt: this.nextStartDueAt(current),
    });
    return this.endFailure;
  }

  /** V5: the call is taken as over, so the journal can go on; the audit and the page say so. */
  private giveUp(call: RunningCall, failure: EndFailure, current: JournalContext): void {
    this.forget(call);
    this.record({
      kind: 'endAbandoned',
      lessonId: call.lessonId,
      reason: abandonReason(call, failure, current.timeZone),
      details: {
        lessons: call.lessonIds.join(','),
        error: failure.error,
        failures: failure.failures,
      },
    });
  }
}
