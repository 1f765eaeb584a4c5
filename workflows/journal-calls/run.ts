import {
  ActivityCancellationType,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type {
  CallActivities,
  JournalContext,
  PlatformEndActivities,
  RecordedCallActivities,
} from '../../src/contracts/call-activities';
import type { CallActor, RunningCall } from '../../src/contracts/journal-calls';
import { CallStateKey, NextActionAtKey } from '../../src/contracts/search-attributes';
import type { CallAction, CallPlan } from '../../src/domain/call-plan';
import { formatZonedTime } from '../../src/domain/time';
import { failureText } from '../support';
import { JournalCallsState } from './state';

type AllCallActivities = CallActivities & PlatformEndActivities & RecordedCallActivities;

const quick = proxyActivities<AllCallActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 20 },
});

/** Platform actions: a few quick retries, then the workflow decides (and the audit sees it). */
const platform = proxyActivities<AllCallActivities>({
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
const armed = proxyActivities<AllCallActivities>(ARMED_START_OPTIONS);

/**
 * The activities a run schedules. `current` names them as docs/architecture.md (Names) says; a
 * run begun before PATCH_CALL_ACTIVITY_NAMES keeps the names its history holds.
 */
function callSteps(current: boolean) {
  return current
    ? {
        open: platform.openCall,
        armedOpen: armed.openCall,
        close: platform.closeCall,
        platformEnd: quick.recordPlatformEnd,
      }
    : {
        open: platform.startCall,
        armedOpen: armed.startCall,
        close: platform.endCall,
        platformEnd: quick.endedOnPlatform,
      };
}

/**
 * The journal workflow's steps: each calls its activity, then tells the state what came of it.
 * One lock keeps the loop and the handlers from acting at once; an armed start holds it while it
 * waits for its due instant.
 */
export class JournalCallsRun {
  readonly mutex = new Mutex();
  /** The armed automatic start and its due instant (PATCH_ARM_START). */
  private arming: { scope: CancellationScope; dueAt: number } | null = null;

  private readonly steps: ReturnType<typeof callSteps>;

  constructor(
    readonly state: JournalCallsState,
    private readonly ids: { readonly schoolId: string; readonly journalId: string },
    currentActivityNames: boolean,
  ) {
    this.steps = callSteps(currentActivityNames);
  }

  /** An armed start waits for its due instant: until then nothing else can run. */
  get armedStartPending(): boolean {
    return this.arming !== null && Date.now() < this.arming.dueAt;
  }

  /** V5: the call ended in Sferum: its end is recorded and its link withdrawn (no forceFinish). */
  async platformEnded(callKey: string): Promise<void> {
    await this.steps.platformEnd({ ...this.ids, callKey });
  }

  async context(lessonId?: string): Promise<JournalContext> {
    const reusable = this.state.reusableContext();
    if (reusable) return reusable;
    const loaded = await quick.loadJournal({
      ...this.ids,
      at: Date.now(),
      ...(lessonId === undefined ? {} : { lessonId }),
    });
    return this.state.loaded(loaded);
  }

  replan(current: JournalContext): CallPlan {
    const plan = this.state.replan(current);
    const attributes = this.state.searchAttributes();
    if (attributes) {
      const { state: callState, nextAt } = attributes;
      upsertSearchAttributes([
        { key: CallStateKey, value: callState },
        { key: NextActionAtKey, value: nextAt === null ? null : new Date(nextAt) },
      ]);
    }
    setCurrentDetails(this.state.details(current.timeZone));
    return plan;
  }

  /** Opens the lesson's call (`openCall`, armed when `armed`) and records it as running. */
  async open(
    lessonId: string,
    actor: CallActor,
    current: JournalContext,
    dueAt?: number,
    armed = false,
  ): Promise<RunningCall> {
    const callKey = this.state.nextKey(lessonId);
    const actorId = actor === 'auto' ? 'auto' : actor.staffId;
    const args = { ...this.ids, lessonId, callKey, actor: actorId };
    const result =
      armed && dueAt !== undefined
        ? await this.steps.armedOpen.executeWithOptions(
            {
              ...ARMED_START_OPTIONS,
              summary: `armed: calls.start at ${formatZonedTime(dueAt, current.timeZone)} for lesson ${lessonId}`,
            },
            [{ ...args, notBefore: dueAt }],
          )
        : await this.steps.open(args);
    return this.state.started({ callKey, lessonId, actor, current, result, dueAt });
  }

  /** Closes the running call (`closeCall`) and records who ended it; null when none runs. */
  async close(
    actor: string,
    kind: 'autoEnded' | 'manualEnded',
    dueAt?: number,
  ): Promise<{ lessonId: string; alreadyEnded: boolean } | null> {
    const call = this.state.running;
    if (!call) return null;
    const { alreadyEnded } = await this.steps.close({ ...this.ids, callKey: call.callKey, actor });
    return this.state.ended({ call, alreadyEnded, actor, kind, dueAt });
  }

  /** V1: a lesson published after its call started gets the link now. */
  async publishPendingLinks(current: JournalContext): Promise<void> {
    const call = this.state.running;
    const due = this.state.pendingLinks(current);
    if (!call || due.length === 0) return;
    const published: string[] = [];
    for (const lessonId of due) {
      try {
        await platform.publishLink({ ...this.ids, lessonId, callKey: call.callKey });
        published.push(lessonId);
        this.state.record({ kind: 'linkPublished', lessonId });
      } catch (error) {
        // Stays pending: the next pass of the loop tries again.
        this.state.failed(failureText(error));
      }
    }
    this.state.linksPublished(call.callKey, published);
  }

  async act(action: CallAction, current: JournalContext, armed = false): Promise<void> {
    switch (action.kind) {
      case 'start': {
        if (!this.state.mayAutoStart()) return;
        try {
          await this.open(action.lessonId, 'auto', current, action.at, armed);
          this.state.autoStarted(action.lessonId, current.timeZone);
        } catch (error) {
          // A disarmed start did nothing on the platform: no failure to record or wait out.
          if (isCancellation(error)) throw error;
          this.state.autoStartFailed(action, failureText(error));
        }
        return;
      }
      case 'end': {
        const call = this.state.running;
        if (!call || this.state.waitingToRetryEnd(current)) return;
        try {
          await this.close('auto', 'autoEnded', action.at);
        } catch (error) {
          this.state.autoEndFailed(call, action, failureText(error), current);
        }
        return;
      }
      case 'carryOver': {
        const call = this.state.running;
        if (!call) return;
        let linked = false;
        if (JournalCallsState.visible(current, action.toLessonId)) {
          try {
            await platform.publishLink({
              ...this.ids,
              lessonId: action.toLessonId,
              callKey: call.callKey,
            });
            linked = true;
          } catch (error) {
            // The call carries over regardless; the link follows on the next pass.
            this.state.failed(failureText(error));
          }
        }
        this.state.carriedOver(call, action, linked, current);
        return;
      }
    }
  }

  /**
   * A teacher's start or a change to the lessons disarms an armed start while it waits; the loop
   * then plans again. Past the due instant the start is under way and is let finish: cancelling
   * an attempt that may have reached the platform, or a retry's backoff, would lose its call.
   */
  disarm(): void {
    if (this.arming && Date.now() < this.arming.dueAt) this.arming.scope.cancel();
  }

  /** Arms an automatic start: the activity waits for the due instant itself. */
  async arm(action: CallAction, current: JournalContext): Promise<void> {
    const scope = new CancellationScope();
    this.arming = { scope, dueAt: action.at };
    try {
      await this.mutex.runExclusive(() => scope.run(() => this.act(action, current, true)));
    } catch (error) {
      if (!isCancellation(error)) throw error;
    } finally {
      this.arming = null;
    }
  }
}
