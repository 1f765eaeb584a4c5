import {
  ActivityCancellationType,
  CancellationScope,
  allHandlersFinished,
  condition,
  type ActivityOptions,
  isCancellation,
  continueAsNew,
  // Aliased: the replay test splices its own `patched` import into this list.
  patched as hasPatch,
  proxyActivities,
  proxySinks,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type {
  CallActivities,
  JournalContext,
  PlatformEndActivities,
} from '../src/contracts/call-activities';
import type { CallDecision, DecisionSinks } from '../src/contracts/decisions';
import {
  callEndedOnPlatformSignal,
  callStateQuery,
  carriedStateQuery,
  handOverUpdate,
  takeOverSignal,
  type CarriedCallState,
  endCallArgsSchema,
  endCallUpdate,
  lessonsChangedSignal,
  startCallArgsSchema,
  startCallUpdate,
  type CallActor,
  type CallPlanWarning,
  type DayWarnings,
  type EndCallResult,
  type EndFailure,
  type JournalCallState,
  type JournalCallsInput,
  type LastEndedCall,
  type RunningCall,
  type StartCallResult,
} from '../src/contracts/journal-calls';
import { CallStateKey, NextActionAtKey } from '../src/contracts/search-attributes';
import {
  autoEndFor,
  callsUnavailableReason,
  planCalls,
  type CallAction,
  type CallPlan,
  type CallPlanInput,
  type JournalCallTraits,
} from '../src/domain/call-plan';
import { addDays, epochToZonedDate, formatZonedTime } from '../src/domain/time';
import { continueAsNewDue, failureText } from './support';

const { loadJournal, endedOnPlatform } = proxyActivities<CallActivities & PlatformEndActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 },
});

/** Platform actions: a few quick retries, then the workflow decides (and the audit sees it). */
const { startCall, endCall, publishLink } = proxyActivities<CallActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
  },
});

/**
 * An automatic start armed before its bell waits in the activity, heartbeating: the heartbeat's
 * reply is how a cancellation reaches it, and the SDK sends one per 0.8 × the timeout, so a
 * teacher's press in the armed window waits up to 4 s for the start to stand down. Cancelling
 * waits until the activity has stopped, so the teacher's start that follows can never run beside
 * it and open a second platform call. A lost worker is noticed within the timeout.
 */
const ARMED_START_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
  },
};
const { startCall: armedStartCall } = proxyActivities<CallActivities>(ARMED_START_OPTIONS);

const { decisions } = proxySinks<DecisionSinks>();

/** After a failed automatic start, try again this much later while the lesson's window is open. */
const RETRY_FAILED_START_MS = 60_000;
/** After the journal could not be loaded, try again this much later. */
const RELOAD_AFTER_FAILURE_MS = 60_000;
/** Workflow patch: a manual start after the lesson's automatic end gets no automatic end. */
const PATCH_NO_PAST_AUTO_END = 'manual-start-after-auto-end-has-no-auto-end';
/** Workflow patch: the journal is reloaded when the school day changes. */
const PATCH_RELOAD_EACH_DAY = 'reload-journal-each-day';
/** Lessons remembered as called; older ones have long left the planner's today/tomorrow window. */
const CALLED_LESSONS_KEPT = 64;
/**
 * Workflow patch: an action is slept up to shortly before it, and the rest from a fresh task.
 * Temporal counts a timer from when the task that set it completed, while the workflow's clock
 * reads when that task started: a task that waited in a busy worker (every journal re-plans at
 * once after a roster import, at midnight, after a bell) sets its timer late by its own wait,
 * seconds on a loaded machine. The early wake-up runs at a quiet moment, so the timer it sets
 * carries only its own short run.
 */
const PATCH_WAKE_EARLY = 'wake-early-before-due-action';
/**
 * How early: 10 to 40 s, spread by journal, so the journals due at one bell do not all wake in
 * the same second either; only for actions further away than the lead and WAKE_EARLY_MARGIN_MS.
 */
const WAKE_EARLY_MIN_MS = 10_000;
const WAKE_EARLY_SPREAD_MS = 30_000;
const WAKE_EARLY_MARGIN_MS = 5_000;
/**
 * Workflow patch: an automatic start due within ARM_WITHIN_MS is armed: its activity is scheduled
 * now and sends calls.start itself at the due instant. At a bell every journal's start is due at
 * once, and a timer firing then waits for a worker slot, a workflow task and an activity task,
 * one journal after another (seconds on a busy worker); an armed start only waits for its own
 * timer in the worker.
 */
const PATCH_ARM_START = 'arm-start-before-due';
/** Covers the early wake-up (WAKE_EARLY_MIN_MS + WAKE_EARLY_SPREAD_MS) and its margin. */
const ARM_WITHIN_MS = 45_000;
/** Workflow patch: search attributes are upserted only when they change (one visibility write less per wake). */
const PATCH_PUBLISH_CHANGES_ONLY = 'upsert-search-attributes-on-change';
/**
 * Workflow patch (V1, C2): a journal that is not general-education with the subject chat on has
 * no calls: its online lessons are not started, and a teacher's start is refused.
 */
const PATCH_CALLS_WHERE_AVAILABLE = 'calls-only-in-general-journals-with-subject-chat';
/** Workflow patch (V5): a failed automatic end backs off, and is given up when it must be. */
const PATCH_END_BACKOFF = 'back-off-failed-end';
/** Workflow patch (V2): a teacher's start is for a lesson of today or tomorrow only. */
const PATCH_MANUAL_TODAY_OR_TOMORROW = 'manual-start-today-or-tomorrow';
/** V5: the first pause after a failed end; each further failure doubles it, up to the cap. */
const END_RETRY_FIRST_MS = 60_000;
const END_RETRY_MAX_MS = 15 * 60_000;

export interface JournalCallsTestHooks {
  readonly continueAsNewAfterEvents?: number;
}

/**
 * One per journal: runs its video lessons (V1–V7). The single writer of the journal's call state,
 * so at most one call per journal runs (V3) by construction.
 */
export async function journalCallsWorkflow(
  input: JournalCallsInput & { testHooks?: JournalCallsTestHooks },
): Promise<void> {
  const { schoolId, journalId } = input;
  let running: RunningCall | null = input.carried?.running ?? null;
  let sequence = input.carried?.sequence ?? 0;
  let calledLessonIds: string[] = [...(input.carried?.calledLessonIds ?? [])];
  /** V3: the warnings given for today's started calls, kept until the school day ends. */
  let dayWarnings: DayWarnings | null = input.carried?.warnings ?? null;
  /** V5: the automatic end that failed (PATCH_END_BACKOFF). */
  let endFailure: EndFailure | null = input.carried?.endFailure ?? null;
  let ctx: JournalContext | null = null;
  /** The school date on which `ctx` was loaded. */
  let ctxDate: string | null = null;
  let dirty = true;
  let stateChanged = false;
  let plan: CallPlan | null = null;
  let lastError: string | null = null;
  let retryStartAfter = 0;
  const reportedSkips = new Set<string>();
  const mutex = new Mutex();
  /** The armed automatic start and its due instant (PATCH_ARM_START). */
  let arming: { scope: CancellationScope; dueAt: number } | null = null;
  /** Set once this run (under a legacy workflow ID) handed its state to its successor: it stops. */
  let handedOver = false;
  /** What a legacy run handed over, taken in by the loop under the lock. */
  let takeOvers: CarriedCallState[] = [];
  let published: { state: string; nextAt: number | null } | null = null;
  /** V5: how the last call of this run ended, so the page can say "ended in Sferum". */
  let lastEnded: LastEndedCall | null = null;
  const wakeEarlyMs = WAKE_EARLY_MIN_MS + (stableHash(journalId) % WAKE_EARLY_SPREAD_MS);

  const record = (decision: Omit<CallDecision, 'journalId' | 'at'>): void => {
    decisions.record({ journalId, at: Date.now(), ...decision });
  };

  async function context(lessonId?: string): Promise<JournalContext> {
    // The journal is loaded for a few days around its day (yesterday to the day after tomorrow):
    // a new school day needs a fresh load, or a journal nobody signals would run out of lessons.
    const newDay =
      ctx !== null &&
      epochToZonedDate(Date.now(), ctx.timeZone) !== ctxDate &&
      hasPatch(PATCH_RELOAD_EACH_DAY);
    if (dirty || !ctx || newDay) {
      dirty = false;
      ctx = await loadJournal({
        schoolId,
        journalId,
        at: Date.now(),
        ...(lessonId === undefined ? {} : { lessonId }),
      });
      ctxDate = epochToZonedDate(Date.now(), ctx.timeZone);
    }
    return ctx;
  }

  /**
   * V1, C2: the journal's traits go to the planner only when they take its calls away, and only
   * under the patch, so histories of journals that had calls before the rule replay as they ran.
   */
  function callTraits(current: JournalContext): JournalCallTraits | null {
    const journal = current.journal;
    if (!journal || callsUnavailableReason(journal) === null) return null;
    return hasPatch(PATCH_CALLS_WHERE_AVAILABLE) ? journal : null;
  }

  function planInput(current: JournalContext): CallPlanInput {
    return {
      journalId,
      lessons: current.lessons,
      templates: current.templates,
      timeZone: current.timeZone,
      now: Date.now(),
      running: running && {
        lessonId: running.lessonId,
        startedAt: running.startedAt,
        autoEndAt: running.autoEndAt,
        lessonIds: running.lessonIds,
      },
      calledLessonIds,
      journal: callTraits(current),
    };
  }

  /** What is kept for a school day is dropped when the next one begins. */
  function forgetPastDays(timeZone: string): void {
    const today = epochToZonedDate(Date.now(), timeZone);
    if (dayWarnings && dayWarnings.date !== today) dayWarnings = null;
    if (endFailure?.gaveUp && endFailure.date !== today) endFailure = null;
  }

  function replan(current: JournalContext): CallPlan {
    forgetPastDays(current.timeZone);
    plan = planCalls(planInput(current));
    for (const skip of plan.skipped) {
      const key = `${skip.lessonId}:${skip.reason}`;
      if (reportedSkips.has(key)) continue;
      reportedSkips.add(key);
      record({
        kind: 'skipped',
        lessonId: skip.lessonId,
        reason: skip.reason,
        ...(skip.reason === 'templateIncomplete' && plan.manualOnly
          ? { details: manualOnlyDetails(plan.manualOnly) }
          : {}),
      });
    }
    for (const warning of plan.warnings) {
      const key = `${warning.skippedLessonId}:earlierUnpublished`;
      if (reportedSkips.has(key)) continue;
      reportedSkips.add(key);
      record({
        kind: 'skipped',
        lessonId: warning.skippedLessonId,
        reason: 'earlierUnpublished',
        details: { chosenLessonId: warning.chosenLessonId },
      });
    }
    publish(current);
    return plan;
  }

  function publish(current: JournalContext): void {
    const next = plan?.next ?? null;
    const state = running ? 'running' : plan?.manualOnly ? 'manualOnly' : 'idle';
    const nextAt = next ? next.at : null;
    const unchanged = published?.state === state && published.nextAt === nextAt;
    if (!unchanged || !hasPatch(PATCH_PUBLISH_CHANGES_ONLY)) {
      upsertSearchAttributes([
        { key: CallStateKey, value: state },
        { key: NextActionAtKey, value: nextAt === null ? null : new Date(nextAt) },
      ]);
      published = { state, nextAt };
    }
    const tz = current.timeZone;
    const lines = [
      running
        ? `Call running for lesson ${running.lessonId} since ${formatZonedTime(running.startedAt, tz)}`
        : 'No call running',
      next ? `Next: ${describe(next, tz)}` : 'No automatic action scheduled',
      ...(plan?.manualOnly ? [`Manual only: ${plan.manualOnly.reasons.join(', ')}`] : []),
      ...(plan?.callsUnavailable ? [`No calls in this journal: ${plan.callsUnavailable}`] : []),
      ...(endFailure ? [endFailureLine(endFailure)] : []),
    ];
    // The Web UI renders details as Markdown: a list keeps the lines apart.
    setCurrentDetails(lines.map((line) => `- ${line}`).join('\n'));
  }

  /**
   * The key of the next call. It advances only once a start succeeded, so a start retried after a
   * failure (or a manual start after a failed automatic one) reuses a call the platform may already
   * have begun instead of opening a second one.
   */
  const nextKey = (lessonId: string): string => `${journalId}:${lessonId}:${sequence + 1}`;

  async function start(
    lessonId: string,
    actor: CallActor,
    current: JournalContext,
    dueAt?: number,
    armed = false,
  ): Promise<RunningCall> {
    const callKey = nextKey(lessonId);
    const actorId = actor === 'auto' ? 'auto' : actor.staffId;
    const args = { schoolId, journalId, lessonId, callKey, actor: actorId };
    const started =
      armed && dueAt !== undefined
        ? await armedStartCall.executeWithOptions(
            {
              ...ARMED_START_OPTIONS,
              summary: `armed: calls.start at ${formatZonedTime(dueAt, current.timeZone)} for lesson ${lessonId}`,
            },
            [{ ...args, notBefore: dueAt }],
          )
        : await startCall(args);
    sequence += 1;
    const lesson = current.lessons.find((l) => l.id === lessonId);
    let autoEndAt = lesson
      ? autoEndFor({ lesson, templates: current.templates, timeZone: current.timeZone })
      : null;
    // V5: a call started by hand once its lesson's automatic end has passed (a lesson published
    // too late to start by itself) would be ended the moment it starts; it ends by hand instead.
    // Patched, so histories recorded before this rule still replay as they ran.
    if (autoEndAt !== null && autoEndAt <= Date.now() && hasPatch(PATCH_NO_PAST_AUTO_END)) {
      autoEndAt = null;
    }
    running = {
      callKey,
      callId: started.callId,
      joinLink: started.joinLink,
      lessonId,
      lessonIds: [lessonId],
      startedAt: Date.now(),
      startedBy: actor,
      autoEndAt,
      linkPendingLessonIds: started.linkPublished ? [] : [lessonId],
    };
    record({
      kind: actor === 'auto' ? 'autoStarted' : 'manualStarted',
      lessonId,
      actor: actorId,
      ...(dueAt === undefined ? {} : { dueAt }),
      details: { linkPublished: started.linkPublished, autoEndAt },
    });
    return running;
  }

  async function finish(
    actor: string,
    kind: 'autoEnded' | 'manualEnded',
    dueAt?: number,
  ): Promise<{ lessonId: string; alreadyEnded: boolean } | null> {
    const call = running;
    if (!call) return null;
    const { alreadyEnded } = await endCall({ schoolId, journalId, callKey: call.callKey, actor });
    running = null;
    if (endFailure?.callKey === call.callKey) endFailure = null;
    calledLessonIds = [...calledLessonIds, ...call.lessonIds].slice(-CALLED_LESSONS_KEPT);
    const endedBy = alreadyEnded ? 'platform' : kind === 'autoEnded' ? 'auto' : 'teacher';
    lastEnded = endedCall(call, endedBy);
    record({
      kind: alreadyEnded ? 'endedInSferum' : kind,
      lessonId: call.lessonId,
      actor,
      ...(dueAt === undefined ? {} : { dueAt }),
      details: { lessons: call.lessonIds.join(',') },
    });
    return { lessonId: call.lessonId, alreadyEnded };
  }

  /** V1: a lesson published after its call started gets the link now. */
  async function publishPendingLinks(current: JournalContext): Promise<void> {
    const call = running;
    if (!call || call.linkPendingLessonIds.length === 0) return;
    const visible = new Set(current.lessons.filter((l) => l.status !== 'draft').map((l) => l.id));
    const due = call.linkPendingLessonIds.filter((id) => visible.has(id));
    const published: string[] = [];
    for (const lessonId of due) {
      try {
        await publishLink({ schoolId, journalId, lessonId, callKey: call.callKey });
        published.push(lessonId);
        record({ kind: 'linkPublished', lessonId });
      } catch (error) {
        // Stays pending: the next pass of the loop tries again.
        lastError = failureText(error);
      }
    }
    if (published.length > 0 && running?.callKey === call.callKey) {
      running = {
        ...running,
        linkPendingLessonIds: running.linkPendingLessonIds.filter((id) => !published.includes(id)),
      };
    }
  }

  async function act(action: CallAction, current: JournalContext, armed = false): Promise<void> {
    switch (action.kind) {
      case 'start': {
        if (Date.now() < retryStartAfter) return;
        try {
          await start(action.lessonId, 'auto', current, action.at, armed);
          retryStartAfter = 0;
          keepWarnings(action.lessonId, current.timeZone);
        } catch (error) {
          // A disarmed start did nothing on the platform: no failure to record or wait out.
          if (isCancellation(error)) throw error;
          lastError = failureText(error);
          retryStartAfter = Date.now() + RETRY_FAILED_START_MS;
          record({
            kind: 'startFailed',
            lessonId: action.lessonId,
            reason: 'platformError',
            dueAt: action.at,
            details: { error: lastError },
          });
        }
        return;
      }
      case 'end': {
        const call = running;
        if (!call || waitingToRetryEnd(current)) return;
        try {
          await finish('auto', 'autoEnded', action.at);
        } catch (error) {
          lastError = failureText(error);
          const failure = hasPatch(PATCH_END_BACKOFF) ? endFailed(call, lastError, current) : null;
          record({
            kind: 'endFailed',
            lessonId: action.lessonId,
            reason: 'platformError',
            dueAt: action.at,
            details: {
              error: lastError,
              ...(failure ? { failures: failure.failures, retryAt: failure.retryAt } : {}),
            },
          });
          if (failure?.gaveUp) giveUp(call, failure, current);
        }
        return;
      }
      case 'carryOver': {
        const call = running;
        if (!call) return;
        const lesson = current.lessons.find((l) => l.id === action.toLessonId);
        const visible = lesson !== undefined && lesson.status !== 'draft';
        let linked = false;
        if (visible) {
          try {
            await publishLink({
              schoolId,
              journalId,
              lessonId: action.toLessonId,
              callKey: call.callKey,
            });
            linked = true;
          } catch (error) {
            // The call carries over regardless; the link follows on the next pass.
            lastError = failureText(error);
          }
        }
        running = {
          ...call,
          lessonId: action.toLessonId,
          lessonIds: [...call.lessonIds, action.toLessonId],
          autoEndAt: action.newAutoEndAt,
          linkPendingLessonIds: linked
            ? call.linkPendingLessonIds
            : [...call.linkPendingLessonIds, action.toLessonId],
        };
        keepWarnings(action.toLessonId, current.timeZone);
        record({
          kind: 'carriedOver',
          lessonId: action.toLessonId,
          dueAt: action.at,
          details: { from: action.fromLessonId, autoEndAt: action.newAutoEndAt },
        });
        return;
      }
    }
  }

  /**
   * V3: once the later lesson's call runs, the warning naming the earlier unpublished lesson is
   * kept for the rest of the school day: the planner stops giving it when its next action is the
   * end, and the order can no longer be restored.
   */
  function keepWarnings(chosenLessonId: string, timeZone: string): void {
    const given = (plan?.warnings ?? []).filter((w) => w.chosenLessonId === chosenLessonId);
    if (given.length === 0) return;
    const today = epochToZonedDate(Date.now(), timeZone);
    const kept = dayWarnings?.date === today ? dayWarnings.items : [];
    dayWarnings = { date: today, items: mergeWarnings(kept, given) };
  }

  /**
   * V5: the automatic start the planner would make if the running call were over, when it is
   * due now: a call that cannot be ended must not keep the next lesson from starting.
   */
  function nextStartDueAt(current: JournalContext): number | null {
    const call = running;
    if (!call) return null;
    const { next } = planCalls({
      ...planInput(current),
      running: null,
      calledLessonIds: [...calledLessonIds, ...call.lessonIds],
    });
    return next?.kind === 'start' ? next.at : null;
  }

  function waitingToRetryEnd(current: JournalContext): boolean {
    const retryAt = endFailure?.callKey === running?.callKey ? endFailure?.retryAt : null;
    if (retryAt === null || retryAt === undefined || Date.now() >= retryAt) return false;
    const startAt = nextStartDueAt(current);
    return startAt === null || startAt > Date.now();
  }

  /**
   * V5: notes a failed automatic end. It is retried after 1, 2, 4, 8 and then every 15 minutes,
   * since the platform may come back or the call may end in Sferum meanwhile; it is given up
   * once the lesson's school day is over, or at once when the next lesson's start is due.
   */
  function endFailed(call: RunningCall, error: string, current: JournalContext): EndFailure {
    const now = Date.now();
    const today = epochToZonedDate(now, current.timeZone);
    const failures = (endFailure?.callKey === call.callKey ? endFailure.failures : 0) + 1;
    const dayOver = epochToZonedDate(call.startedAt, current.timeZone) < today;
    const startAt = nextStartDueAt(current);
    const gaveUp = dayOver || (startAt !== null && startAt <= now);
    const pause = Math.min(END_RETRY_FIRST_MS * 2 ** (failures - 1), END_RETRY_MAX_MS);
    endFailure = {
      callKey: call.callKey,
      lessonId: call.lessonId,
      lessonIds: call.lessonIds,
      error,
      failures,
      retryAt: gaveUp ? null : now + pause,
      gaveUp,
      date: today,
    };
    return endFailure;
  }

  /** V5: the call is taken as over, so the journal can go on; the audit and the page say so. */
  function giveUp(call: RunningCall, failure: EndFailure, current: JournalContext): void {
    running = null;
    calledLessonIds = [...calledLessonIds, ...call.lessonIds].slice(-CALLED_LESSONS_KEPT);
    const dayOver = epochToZonedDate(call.startedAt, current.timeZone) < failure.date;
    record({
      kind: 'endAbandoned',
      lessonId: call.lessonId,
      reason: dayOver ? 'dayOver' : 'nextLessonDue',
      details: {
        lessons: call.lessonIds.join(','),
        error: failure.error,
        failures: failure.failures,
      },
    });
  }

  /**
   * A teacher's start or a change to the lessons disarms an armed start while it waits; the loop
   * then plans again. Past the due instant the start is under way and is let finish: cancelling
   * an attempt that may have reached the platform, or a retry's backoff, would lose its call.
   */
  function disarm(): void {
    if (arming && Date.now() < arming.dueAt) arming.scope.cancel();
  }

  /** Arms an automatic start: the activity waits for the due instant itself. */
  async function arm(action: CallAction, current: JournalContext): Promise<void> {
    const scope = new CancellationScope();
    arming = { scope, dueAt: action.at };
    try {
      await mutex.runExclusive(() => scope.run(() => act(action, current, true)));
    } catch (error) {
      if (!isCancellation(error)) throw error;
    } finally {
      arming = null;
    }
  }

  setHandler(
    lessonsChangedSignal,
    () => {
      dirty = true;
      // The armed start was planned from the lessons as they were; it may no longer be due.
      disarm();
    },
    {
      description:
        'Lessons or the timetable template changed (published, online switch, time): re-plan.',
    },
  );

  setHandler(
    startCallUpdate,
    ({ lessonId, requestedBy }) => {
      // The teacher's start goes first: an armed automatic start stands down (and waits until
      // its activity has) before this one runs under the same call key.
      disarm();
      return mutex.runExclusive(async (): Promise<StartCallResult> => {
        dirty = true;
        const current = await context(lessonId);
        const refuse = (
          reason: Extract<StartCallResult, { accepted: false }>['reason'],
          extra: { runningLessonId?: string } = {},
        ): StartCallResult => {
          record({ kind: 'refused', lessonId, actor: requestedBy, reason });
          return { accepted: false, reason, ...extra };
        };
        const journal = current.journal;
        if (journal && journal.kind !== 'general' && hasPatch(PATCH_CALLS_WHERE_AVAILABLE)) {
          return refuse('callsNotAvailable');
        }
        if (!journal?.subjectChat) return refuse('noSubjectChat');
        const lesson = current.lessons.find((l) => l.id === lessonId);
        if (!lesson) return refuse(absentLessonReason(current, journalId));
        if (lesson.journalId !== journalId) return refuse('lessonNotInJournal');
        if (!isTodayOrTomorrow(lesson.date, current.timeZone)) {
          if (hasPatch(PATCH_MANUAL_TODAY_OR_TOMORROW)) return refuse('lessonNotTodayOrTomorrow');
        }
        if (!lesson.online) return refuse('lessonNotOnline');
        if (running) {
          if (running.lessonIds.includes(lessonId)) {
            return {
              accepted: true,
              lessonId,
              joinLink: running.joinLink,
              linkPublished: !running.linkPendingLessonIds.includes(lessonId),
            };
          }
          return refuse('anotherCallRunning', { runningLessonId: running.lessonId });
        }
        try {
          const call = await start(lessonId, { staffId: requestedBy }, current);
          stateChanged = true;
          return {
            accepted: true,
            lessonId,
            joinLink: call.joinLink,
            linkPublished: call.linkPendingLessonIds.length === 0,
          };
        } catch (error) {
          lastError = failureText(error);
          return refuse('platformError');
        }
      });
    },
    {
      description: 'Start the video lesson for a lesson of this journal (the journal button, V2).',
      validator: (arg) => {
        startCallArgsSchema.parse(arg);
      },
    },
  );

  setHandler(
    endCallUpdate,
    ({ requestedBy }) => {
      // An armed start holds the lock until its due instant; before it nothing can run, so say
      // so now. Past it the start may be on the platform already: wait for it, then end it.
      if (arming && !running && Date.now() < arming.dueAt) {
        record({ kind: 'refused', actor: requestedBy, reason: 'noCallRunning' });
        return Promise.resolve<EndCallResult>({ accepted: false, reason: 'noCallRunning' });
      }
      return mutex.runExclusive(async (): Promise<EndCallResult> => {
        if (!running) {
          record({ kind: 'refused', actor: requestedBy, reason: 'noCallRunning' });
          return { accepted: false, reason: 'noCallRunning' };
        }
        try {
          const ended = await finish(requestedBy, 'manualEnded');
          stateChanged = true;
          return ended
            ? { accepted: true, ...ended }
            : { accepted: false, reason: 'noCallRunning' };
        } catch (error) {
          lastError = failureText(error);
          record({ kind: 'refused', actor: requestedBy, reason: 'platformError' });
          return { accepted: false, reason: 'platformError' };
        }
      });
    },
    {
      description: 'End the running video lesson (the journal button, V5).',
      validator: (arg) => {
        endCallArgsSchema.parse(arg);
      },
    },
  );

  // V5: the call ended in Sferum. Only the call still running under that key is taken as over;
  // a late or repeated event about an earlier call finds another key (or none) and does nothing.
  // The platform call is gone, so no calls.forceFinish: the activity records the end and
  // withdraws the e-diary link, as a normal end does.
  setHandler(
    callEndedOnPlatformSignal,
    ({ callKey, eventId }) =>
      mutex.runExclusive(async () => {
        const call = running;
        if (call?.callKey !== callKey) return;
        try {
          await endedOnPlatform({ schoolId, journalId, callKey });
        } catch (error) {
          lastError = failureText(error);
          return;
        }
        running = null;
        if (endFailure?.callKey === callKey) endFailure = null;
        calledLessonIds = [...calledLessonIds, ...call.lessonIds].slice(-CALLED_LESSONS_KEPT);
        lastEnded = endedCall(call, 'platform');
        const lessons = call.lessonIds.join(',');
        record({ kind: 'endedInSferum', lessonId: call.lessonId, details: { lessons, eventId } });
        stateChanged = true;
      }),
    {
      description: 'The platform says the call ended in Sferum (V5): the journal takes it as over.',
    },
  );

  setHandler(
    callStateQuery,
    (): JournalCallState => ({
      schoolId,
      journalId,
      running,
      next: plan?.next ? nextAction(plan.next) : null,
      manualOnly: plan?.manualOnly
        ? { reasons: plan.manualOnly.reasons, gridGaps: plan.manualOnly.gridGaps }
        : null,
      callsUnavailable: plan?.callsUnavailable ?? null,
      warnings: mergeWarnings(dayWarnings?.items ?? [], plan?.warnings ?? []),
      tooLateForAutoStart: (plan?.skipped ?? [])
        .filter((s) => s.reason === 'startedTooLongAgo')
        .map((s) => s.lessonId),
      endFailure,
      lastEnded,
      lastError,
    }),
    {
      description:
        'The running call (lesson, join link, who started it, auto-end), the next automatic action, manual-only reasons, warnings.',
    },
  );

  /** V5: a failed end waits for its retry, or for the next lesson's start if that comes first. */
  function endRetryWakeAt(next: CallAction, current: JournalContext): number {
    const retryAt = endFailure?.retryAt ?? next.at;
    return Math.min(Math.max(next.at, retryAt), nextStartDueAt(current) ?? Infinity);
  }

  /** What goes on in a next run: after continue-as-new, or in the successor of a legacy run. */
  function carriedState(): CarriedCallState {
    return {
      running,
      sequence,
      calledLessonIds,
      ...(dayWarnings ? { warnings: dayWarnings } : {}),
      ...(endFailure ? { endFailure } : {}),
    };
  }

  setHandler(carriedStateQuery, carriedState, {
    description:
      'What this run would carry over: the running call, the call sequence, the lessons called.',
  });

  setHandler(
    takeOverSignal,
    ({ carried }) => {
      takeOvers = [...takeOvers, carried];
      dirty = true;
      disarm();
    },
    { description: "Takes over the state of this journal's run under its legacy workflow ID." },
  );

  setHandler(
    handOverUpdate,
    () => {
      disarm();
      return mutex.runExclusive((): Promise<CarriedCallState> => {
        handedOver = true;
        return Promise.resolve(carriedState());
      });
    },
    { description: "Hands this run's state to its school-qualified successor and stops this run." },
  );

  /** The legacy run's call goes on here; its keys are never used again; its lessons stay called. */
  function adoptTakeOvers(): void {
    for (const carried of takeOvers) {
      if (running === null) {
        running = carried.running;
        if (carried.endFailure?.callKey === running?.callKey)
          endFailure = carried.endFailure ?? null;
      } else if (carried.running && carried.running.callKey !== running.callKey) {
        lastError = `call ${carried.running.callKey} of the legacy run still runs beside ${running.callKey}`;
      }
      sequence = Math.max(sequence, carried.sequence);
      calledLessonIds = [...new Set([...calledLessonIds, ...carried.calledLessonIds])].slice(
        -CALLED_LESSONS_KEPT,
      );
      if (carried.warnings) dayWarnings ??= carried.warnings;
    }
    takeOvers = [];
  }

  const shouldContinueAsNew = (): boolean => continueAsNewDue(input.testHooks);

  for (;;) {
    if (handedOver) {
      await condition(allHandlersFinished);
      return;
    }
    let current: JournalContext;
    try {
      current = await mutex.runExclusive(async () => {
        adoptTakeOvers();
        const loaded = await context();
        await publishPendingLinks(loaded);
        return loaded;
      });
    } catch (error) {
      // MongoDB unreachable for longer than the activity's retries: keep the workflow, try again.
      lastError = failureText(error);
      dirty = true;
      await condition(() => stateChanged, RELOAD_AFTER_FAILURE_MS, {
        summary: 'reload the journal after a failure',
      });
      continue;
    }
    const planned = replan(current);
    const next = planned.next;
    if (
      next?.kind === 'start' &&
      retryStartAfter <= Date.now() &&
      next.at - Date.now() <= ARM_WITHIN_MS &&
      hasPatch(PATCH_ARM_START)
    ) {
      await arm(next, current);
      continue;
    }
    // After a failed automatic start the planner still says "start now" (it knows nothing of the
    // failure), so the start waits for its retry time instead of spinning on 1 ms timers.
    const dueAt =
      next?.kind === 'start' && retryStartAfter > Date.now()
        ? Math.max(next.at, retryStartAfter)
        : next?.kind === 'end' && waitingToRetryEnd(current)
          ? endRetryWakeAt(next, current)
          : (next?.at ?? Infinity);
    let wakeAt = Math.max(Math.min(dueAt, planned.replanAt), Date.now());
    const wakesEarly =
      next !== null &&
      next.at <= wakeAt &&
      wakeAt - Date.now() > wakeEarlyMs + WAKE_EARLY_MARGIN_MS &&
      hasPatch(PATCH_WAKE_EARLY);
    if (wakesEarly) wakeAt -= wakeEarlyMs;
    stateChanged = false;
    const interrupted = await condition(
      () => dirty || stateChanged || handedOver || shouldContinueAsNew(),
      Math.max(wakeAt - Date.now(), 1),
      {
        summary:
          next && wakesEarly
            ? `${describe(next, current.timeZone)} (waking ${Math.round(wakeEarlyMs / 1000)} s before)`
            : next && next.at <= wakeAt
              ? describe(next, current.timeZone)
              : 're-plan at midnight (today and tomorrow move)',
      },
    );
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await mutex.waitForUnlock();
      return continueAsNew<typeof journalCallsWorkflow>({
        schoolId,
        journalId,
        carried: carriedState(),
        ...(input.testHooks ? { testHooks: input.testHooks } : {}),
      });
    }
    if (interrupted || !next) continue;
    await mutex.runExclusive(async () => {
      if (handedOver) return;
      // Re-plan at fire time: a manual start or end may have changed what is due.
      const due = replan(await context()).next;
      if (due && due.at <= Date.now()) await act(asPlanned(due, next), ctx ?? current);
    });
  }
}

function endedCall(call: RunningCall, endedBy: LastEndedCall['endedBy']): LastEndedCall {
  return { lessonId: call.lessonId, lessonIds: call.lessonIds, endedBy, at: Date.now() };
}

/** V2: why a teacher's start names a lesson the journal's loaded days do not hold. */
function absentLessonReason(
  current: JournalContext,
  journalId: string,
): 'lessonNotFound' | 'lessonNotInJournal' | 'lessonNotTodayOrTomorrow' {
  const requested = current.requestedLesson;
  if (!requested) return 'lessonNotFound';
  return requested.journalId === journalId ? 'lessonNotTodayOrTomorrow' : 'lessonNotInJournal';
}

/** V2: a teacher starts a call for a lesson of today or tomorrow, as the automatic start does. */
function isTodayOrTomorrow(date: string, timeZone: string): boolean {
  const today = epochToZonedDate(Date.now(), timeZone);
  return date === today || date === addDays(today, 1);
}

function mergeWarnings(
  kept: readonly CallPlanWarning[],
  live: readonly CallPlanWarning[],
): CallPlanWarning[] {
  const known = new Set(kept.map((w) => w.skippedLessonId));
  return [...kept, ...live.filter((w) => !known.has(w.skippedLessonId))];
}

function manualOnlyDetails(manualOnly: NonNullable<CallPlan['manualOnly']>): {
  missing: string;
  gridGaps?: string;
} {
  const gaps = manualOnly.gridGaps.map((g) => `${g.number}:${g.lacks}`).join(',');
  return { missing: manualOnly.reasons.join(','), ...(gaps === '' ? {} : { gridGaps: gaps }) };
}

function endFailureLine(failure: EndFailure): string {
  return failure.gaveUp
    ? `Could not end the call of lesson ${failure.lessonId}: ${failure.error} (given up after ${failure.failures} failures)`
    : `Could not end the call of lesson ${failure.lessonId}: ${failure.error} (failure ${failure.failures}, retrying)`;
}

/**
 * The action as it was planned when the workflow went to sleep. Re-planned at a late wake-up
 * (server down, no worker) it reads "due now"; the decisions must keep the time it was really
 * due, or the audit would show a start delayed by an outage as on time.
 */
function asPlanned(due: CallAction, planned: CallAction): CallAction {
  const same =
    due.kind === planned.kind && nextAction(due).lessonId === nextAction(planned).lessonId;
  return same && planned.at < due.at ? { ...due, at: planned.at } : due;
}

function nextAction(action: CallAction): {
  kind: CallAction['kind'];
  lessonId: string;
  at: number;
} {
  return {
    kind: action.kind,
    lessonId: action.kind === 'carryOver' ? action.toLessonId : action.lessonId,
    at: action.at,
  };
}

function describe(action: CallAction, timeZone: string): string {
  const at = formatZonedTime(action.at, timeZone);
  switch (action.kind) {
    case 'start':
      return `start call for lesson ${action.lessonId} at ${at}`;
    case 'end':
      return `end call for lesson ${action.lessonId} at ${at}`;
    case 'carryOver':
      return `carry the call over to lesson ${action.toLessonId} at ${at}`;
  }
}

/** FNV-1a: a journal's fixed place in a spread, the same on every replay. */
function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
