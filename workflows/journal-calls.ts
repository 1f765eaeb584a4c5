import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxySinks,
  setHandler,
} from '@temporalio/workflow';
import type { JournalContext } from '../src/contracts/call-activities';
import type { DecisionSinks } from '../src/contracts/decisions';
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
  type EndCallResult,
  type JournalCallsInput,
  type StartCallResult,
} from '../src/contracts/journal-calls';
import { PATCH_CALL_ACTIVITY_NAMES, RELOAD_AFTER_FAILURE_MS } from './journal-calls/rules';
import { JournalCallsRun } from './journal-calls/run';
import { JournalCallsState } from './journal-calls/state';
import { asPlanned } from './journal-calls/view';
import {
  answerQuery,
  continueAsNewDue,
  continueAsNewLimit,
  continueAsNewOption,
  failureText,
} from './support';

const { decisions } = proxySinks<DecisionSinks>();

/**
 * One per journal: runs its video lessons (V1–V7). The single writer of the journal's call state,
 * so at most one call per journal runs (V3) by construction. The state and its transitions are in
 * `journal-calls/state.ts`; this function wires the handlers, the timers and the activities.
 */
export async function journalCallsWorkflow(input: JournalCallsInput): Promise<void> {
  const { schoolId, journalId } = input;
  const state = new JournalCallsState(schoolId, journalId, input.carried, {
    now: () => Date.now(),
    patched,
    record: (decision) => {
      decisions.record(decision);
    },
  });
  const run = new JournalCallsRun(
    state,
    { schoolId, journalId },
    patched(PATCH_CALL_ACTIVITY_NAMES),
  );

  handleRequests(run);
  handleEvents(run);

  const historyLimit = continueAsNewLimit(input);
  const shouldContinueAsNew = (): boolean => continueAsNewDue(historyLimit);

  for (;;) {
    if (state.handedOver) {
      await condition(allHandlersFinished);
      return;
    }
    let current: JournalContext;
    try {
      current = await run.mutex.runExclusive(async () => {
        state.adoptTakeOvers();
        const loaded = await run.context();
        await run.publishPendingLinks(loaded);
        return loaded;
      });
    } catch (error) {
      state.loadFailed(failureText(error));
      await condition(() => state.changedSinceSleep, RELOAD_AFTER_FAILURE_MS, {
        summary: 'reload the journal after a failure',
      });
      continue;
    }
    const planned = run.replan(current);
    const next = planned.next;
    if (state.shouldArm(next)) {
      await run.arm(next, current);
      continue;
    }
    const wake = state.wakeUp(planned, current);
    state.sleeping();
    const interrupted = await condition(
      () => state.interrupted || shouldContinueAsNew(),
      Math.max(wake.at - Date.now(), 1),
      { summary: wake.summary },
    );
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await run.mutex.waitForUnlock();
      return continueAsNew<typeof journalCallsWorkflow>({
        schoolId,
        journalId,
        carried: state.carried(),
        ...continueAsNewOption(historyLimit),
      });
    }
    if (interrupted || !next) continue;
    await run.mutex.runExclusive(async () => {
      if (state.handedOver) return;
      // Re-plan at fire time: a manual start or end may have changed what is due.
      const due = run.replan(await run.context()).next;
      if (due && due.at <= Date.now())
        await run.act(asPlanned(due, next), state.context ?? current);
    });
  }
}

/**
 * The lessons changed, and the journal page's buttons (V2, V5): a teacher's start and end, under
 * the run's lock. Registered in the order the workflow always has, before the other handlers.
 */
function handleRequests(run: JournalCallsRun): void {
  const { state } = run;
  setHandler(
    lessonsChangedSignal,
    () => {
      state.markDirty();
      // The armed start was planned from the lessons as they were; it may no longer be due.
      run.disarm();
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
      run.disarm();
      return run.mutex.runExclusive(async (): Promise<StartCallResult> => {
        state.markDirty();
        const current = await run.context(lessonId);
        const answer = state.manualStartAnswer(current, lessonId, requestedBy);
        if (answer) return answer;
        try {
          const call = await run.open(lessonId, { staffId: requestedBy }, current);
          state.markChanged();
          return {
            accepted: true,
            lessonId,
            joinLink: call.joinLink,
            linkPublished: call.linkPendingLessonIds.length === 0,
          };
        } catch (error) {
          state.failed(failureText(error));
          return state.refuseStart(lessonId, requestedBy, 'platformError');
        }
      });
    },
    {
      description: 'Start the video lesson for a lesson of this journal (the journal button, V2).',
      validator: (arg) => {
        startCallArgsSchema().parse(arg);
      },
    },
  );

  setHandler(
    endCallUpdate,
    ({ requestedBy }) => {
      // An armed start holds the lock until its due instant; before it nothing can run, so say
      // so now. Past it the start may be on the platform already: wait for it, then end it.
      if (run.armedStartPending && !state.running) {
        return Promise.resolve(state.refuseEnd(requestedBy, 'noCallRunning'));
      }
      return run.mutex.runExclusive(async (): Promise<EndCallResult> => {
        if (!state.running) return state.refuseEnd(requestedBy, 'noCallRunning');
        try {
          const ended = await run.close(requestedBy, 'manualEnded');
          state.markChanged();
          return ended
            ? { accepted: true, ...ended }
            : { accepted: false, reason: 'noCallRunning' };
        } catch (error) {
          state.failed(failureText(error));
          return state.refuseEnd(requestedBy, 'platformError');
        }
      });
    },
    {
      description: 'End the running video lesson (the journal button, V5).',
      validator: (arg) => {
        endCallArgsSchema().parse(arg);
      },
    },
  );
}

/** What the platform and a legacy run tell the journal, and what it answers. */
function handleEvents(run: JournalCallsRun): void {
  const { state } = run;
  // V5: the call ended in Sferum. Only the call still running under that key is taken as over;
  // a late or repeated event about an earlier call finds another key (or none) and does nothing.
  // The platform call is gone, so no calls.forceFinish: the activity records the end and
  // withdraws the e-diary link, as a normal end does.
  setHandler(
    callEndedOnPlatformSignal,
    ({ callKey, eventId }) =>
      run.mutex.runExclusive(async () => {
        const call = state.running;
        if (call?.callKey !== callKey) return;
        try {
          await run.platformEnded(callKey);
        } catch (error) {
          state.failed(failureText(error));
          return;
        }
        state.endedOnPlatform(call, eventId);
      }),
    {
      description: 'The platform says the call ended in Sferum (V5): the journal takes it as over.',
    },
  );

  answerQuery(callStateQuery, () => state.view(), {
    formerName: 'state',
    description:
      'The running call (lesson, join link, who started it, auto-end), the next automatic action, manual-only reasons, warnings.',
  });

  setHandler(carriedStateQuery, () => state.carried(), {
    description:
      'What this run would carry over: the running call, the call sequence, the lessons called.',
  });

  setHandler(
    takeOverSignal,
    ({ carried }) => {
      state.takeOver(carried);
      run.disarm();
    },
    { description: "Takes over the state of this journal's run under its legacy workflow ID." },
  );

  setHandler(
    handOverUpdate,
    () => {
      run.disarm();
      return run.mutex.runExclusive((): Promise<CarriedCallState> =>
        Promise.resolve(state.handOver()),
      );
    },
    { description: "Hands this run's state to its school-qualified successor and stops this run." },
  );
}
