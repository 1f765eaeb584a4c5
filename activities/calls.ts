import type {
  CallActivities,
  JournalContext,
  PlatformEndActivities,
  RecordedCallActivities,
} from '../src/contracts/call-activities';
import { ErrorType, TypedError } from '../src/contracts/errors';
import { addDays, epochToZonedDate } from '../src/domain/time';
import type { Logger } from 'pino';
import type { MessengerProvider } from '../src/messenger/provider';
import type { CallStore } from '../src/store/call-store';
import type { DiaryRecorder } from './diary';
import type { RosterStore } from '../src/store/roster-store';
import type { SyncStore } from '../src/store/sync-store';
import { announce } from './call-announce';
import { activitySleep, heartbeatMemory, type AttemptMemory } from './activity-context';
import { ARMED_HEARTBEAT_MS, startOnce, type StartDeps } from './call-start';

export interface CallActivityDeps {
  readonly logger: Logger;
  readonly roster: Pick<
    RosterStore,
    'journalPlanInputs' | 'getJournal' | 'getLesson' | 'loadRoster'
  >;
  readonly calls: CallStore;
  readonly sync: SyncStore;
  readonly messengers: MessengerProvider;
  /** Where a lesson's link changes go for the e-diary (V4). */
  readonly diary: DiaryRecorder;
  readonly now?: () => number;
  /** Where a start leaves its platform call for the next attempt; Temporal's heartbeat by default. */
  readonly attempts?: AttemptMemory;
  /** How an armed start waits for its due time; cancellable through the activity by default. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * What the journal workflow plans from: the journal, its lessons on the given dates and the
 * school's templates with only this journal's entries, so the history stays small.
 */
export async function loadJournalContext(args: {
  roster: Pick<RosterStore, 'journalPlanInputs'>;
  schoolId: string;
  journalId: string;
  dates: (timeZone: string) => readonly string[];
}): Promise<JournalContext> {
  const { schoolId, journalId } = args;
  // One pass at one roster version: a teacher's button waits for this load, and so does every
  // journal re-planning at once after an import or at midnight.
  const inputs = await args.roster.journalPlanInputs({ schoolId, journalId, dates: args.dates });
  const timeZone = inputs?.school.timeZone ?? 'Europe/Moscow';
  const journal = inputs?.journal;
  if (!inputs || !journal) {
    return { found: false, timeZone, journal: null, lessons: [], templates: [] };
  }
  const templates = inputs.templates.map((t) => ({
    ...t,
    entries: t.entries.filter((e) => e.journalId === journalId),
  }));
  return {
    found: true,
    timeZone,
    journal: {
      id: journal.id,
      classId: journal.classId,
      kind: journal.kind,
      subjectChat: journal.subjectChat,
      teacherIds: journal.teacherIds,
    },
    lessons: inputs.lessons,
    templates,
  };
}

export function createCallActivities(
  deps: CallActivityDeps,
): CallActivities & PlatformEndActivities & RecordedCallActivities {
  const now = deps.now ?? (() => Date.now());
  const attempts = deps.attempts ?? heartbeatMemory;
  const start: StartDeps = { ...deps, now, attempts, sleep: deps.sleep ?? activitySleep };

  const activities: CallActivities & PlatformEndActivities = {
    async loadJournal({ schoolId, journalId, at, lessonId }) {
      const [context, requested] = await Promise.all([
        loadJournalContext({
          roster: deps.roster,
          schoolId,
          journalId,
          dates: (timeZone) => {
            const today = epochToZonedDate(at ?? now(), timeZone);
            return [-1, 0, 1, 2].map((d) => addDays(today, d));
          },
        }),
        lessonId === undefined ? undefined : deps.roster.getLesson({ schoolId, lessonId }),
      ]);
      if (requested === undefined) return context;
      const requestedLesson =
        requested === null
          ? null
          : { id: requested.id, journalId: requested.journalId, date: requested.date };
      return { ...context, requestedLesson };
    },

    async openCall({ schoolId, journalId, lessonId, callKey, actor, notBefore }) {
      // An armed start heartbeats from its first moment to its last: the workflow cancels it
      // through a heartbeat's reply while it waits, and a worker lost while it waits or announces
      // is noticed within the heartbeat timeout. Each beat repeats what the attempt left, or what
      // an earlier attempt left until this one leaves its own: a beat without it would erase the
      // platform call an earlier attempt started, and a later attempt would start a second one.
      let left: unknown = attempts.recall();
      const leave = (details: unknown): void => {
        left = details;
        attempts.leave(details);
      };
      const alive =
        notBefore === undefined ? undefined : setInterval(() => leave(left), ARMED_HEARTBEAT_MS);
      if (alive) leave(left);
      try {
        return await startOnce(start, {
          schoolId,
          journalId,
          lessonId,
          callKey,
          actor,
          notBefore,
          leave,
        });
      } finally {
        clearInterval(alive);
      }
    },

    async publishLink({ schoolId, journalId, lessonId, callKey }) {
      const call = await deps.calls.getCall({ schoolId, callKey });
      if (!call?.joinLink) throw new TypedError(ErrorType.NotFound, `call ${callKey} is unknown`);
      if (call.status === 'ended') return { published: false };
      return {
        published: await announce(deps, {
          schoolId,
          journalId,
          lessonId,
          callKey,
          joinLink: call.joinLink,
        }),
      };
    },

    async closeCall({ schoolId, callKey, actor }) {
      const ref = { schoolId, callKey };
      const call = await deps.calls.getCall(ref);
      if (!call?.callId) throw new TypedError(ErrorType.NotFound, `call ${callKey} is unknown`);
      if (call.status === 'ended') {
        // A retry after the end was recorded: the withdrawal may be what failed.
        await deps.diary.callEnded(ref);
        return { alreadyEnded: call.endedInSferum };
      }
      const { messenger } = await deps.messengers.forSchool(schoolId);
      await deps.calls.recordFinishRequested(ref);
      const { alreadyEnded: gone } = await messenger.callsForceFinish({ callId: call.callId });
      // V5: "gone" on a retry is most likely our own earlier forceFinish whose answer was lost,
      // not a teacher ending the call in Sferum; only a first request's "gone" is Sferum's end.
      const alreadyEnded = gone && call.finishRequestedAt === null;
      await deps.calls.recordEnded(ref, { endedBy: actor, endedInSferum: alreadyEnded });
      await deps.diary.callEnded(ref);
      deps.logger.info({ schoolId, callKey, actor, alreadyEnded }, 'call ended');
      return { alreadyEnded };
    },

    async recordPlatformEnd({ schoolId, callKey }) {
      const ref = { schoolId, callKey };
      await deps.calls.recordEnded(ref, { endedBy: 'platform', endedInSferum: true });
      await deps.diary.callEnded(ref);
      deps.logger.info({ schoolId, callKey }, 'call ended in Sferum');
    },
  };
  return {
    ...activities,
    startCall: (args) => activities.openCall(args),
    endCall: (args) => activities.closeCall(args),
    endedOnPlatform: (args) => activities.recordPlatformEnd(args),
  };
}
