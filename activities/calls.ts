import { createHash } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { z } from 'zod';
import type {
  CallActivities,
  JournalContext,
  PlatformEndActivities,
  RecordedCallActivities,
} from '../src/contracts/call-activities';
import { ErrorType, TypedError } from '../src/contracts/errors';
import type { RosterSnapshot } from '../src/contracts/roster';
import { chatKeys, planChats } from '../src/domain/chat-plan';
import { addDays, epochToZonedDate } from '../src/domain/time';
import type { Logger } from 'pino';
import type { MessengerProvider } from '../src/messenger/provider';
import type { CallStore } from '../src/store/call-store';
import type { DiaryRecorder } from './diary';
import type { RosterStore } from '../src/store/roster-store';
import type { SyncStore } from '../src/store/sync-store';
import { applyChat } from './sync/apply';

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

/** How often an armed start heartbeats: the replies are how a cancellation reaches it. */
const ARMED_HEARTBEAT_MS = 1_000;

/**
 * Carries what one attempt of an activity did to the next attempt, outside MongoDB: the attempt
 * that started a platform call may be unable to write it down (MongoDB down, worker killed).
 */
export interface AttemptMemory {
  /** What an earlier attempt left, if anything. */
  recall(): unknown;
  leave(details: unknown): void;
}

/**
 * Temporal keeps an activity's last heartbeat details for its next attempt (`heartbeatDetails`).
 * Called outside an activity (a benchmark driving the functions directly) there is no next attempt.
 */
export const heartbeatMemory: AttemptMemory = {
  recall: () => (inActivity() ? (activityInfo().heartbeatDetails as unknown) : undefined),
  leave: (details) => {
    if (inActivity()) heartbeat(details);
  },
};

/**
 * Sleeps inside an activity so that a cancellation (delivered on a heartbeat's reply) ends the
 * sleep with `CancelledFailure`; outside an activity (a benchmark driving the functions) a timer.
 */
export function activitySleep(ms: number): Promise<void> {
  return inActivity() ? Context.current().sleep(ms) : sleepFor(ms);
}

function inActivity(): boolean {
  try {
    activityInfo();
    return true;
  } catch {
    return false;
  }
}

const startedCallSchema = z.object({
  callKey: z.string(),
  callId: z.string(),
  joinLink: z.string(),
});

/** VK's `random_id` is a signed 32-bit value; derived from the key so a retried send lands once. */
export function stableRandomId(key: string): number {
  return createHash('sha256').update(key).digest().readInt32BE(0) & 0x7fffffff;
}

function linkMessage(subject: string, lessonNumber: number, joinLink: string): string {
  return `Видеоурок «${subject}», ${lessonNumber}-й урок. Подключиться: ${joinLink}`;
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
  const sleep = deps.sleep ?? activitySleep;

  /** C2: the subject chat is created when its first online lesson needs it. */
  async function ensureSubjectChat(
    schoolId: string,
    journalId: string,
    callKey: string,
  ): Promise<number | null> {
    const key = chatKeys.subject(journalId);
    const existing = await deps.sync.getChat(schoolId, key);
    if (existing?.chatId) return existing.chatId;
    const roster: RosterSnapshot | null = await deps.roster.loadRoster(schoolId);
    if (!roster) return null;
    const existingIds = [journalId];
    const desired = planChats(roster, { existingSubjectChatJournalIds: existingIds }).chats.find(
      (c) => c.key === key,
    );
    if (!desired) return null;
    // The sync's own engine, as a one-chat plan: the chat is made exactly as the sync makes it.
    await applyChat(deps, {
      schoolId,
      runId: `call:${callKey}`,
      chat: {
        key: desired.key,
        kind: desired.kind,
        title: desired.title,
        ...(desired.classId === undefined ? {} : { classId: desired.classId }),
        journalId,
        members: [...desired.members],
        admins: [...desired.admins],
        retire: false,
        expected: { create: true, add: desired.members.length, remove: 0 },
      },
    });
    return (await deps.sync.getChat(schoolId, key))?.chatId ?? null;
  }

  async function announce(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    joinLink: string;
  }): Promise<boolean> {
    const [lesson, journal] = await Promise.all([
      deps.roster.getLesson({ schoolId: args.schoolId, lessonId: args.lessonId }),
      deps.roster.getJournal({ schoolId: args.schoolId, journalId: args.journalId }),
    ]);
    if (!lesson || lesson.status === 'draft') return false;
    // V4: the e-diary gets the link at the same moment as the chat, not after it.
    const toDiary = publishToDiary(args);
    toDiary.catch(() => undefined);
    const chatId = await ensureSubjectChat(args.schoolId, args.journalId, args.callKey);
    if (chatId !== null) {
      const { messenger } = await deps.messengers.forSchool(args.schoolId);
      await messenger.messagesSend({
        chatId,
        message: linkMessage(journal?.subject ?? '', lesson.number, args.joinLink),
        randomId: stableRandomId(`${args.callKey}:${args.lessonId}`),
      });
    }
    await toDiary;
    // Last: the link on the lesson is what says the announcement is complete.
    await deps.calls.writeLessonLink(args);
    return true;
  }

  /** V4: the lesson's link for the e-diary, pushed to the portal from the outbox. */
  async function publishToDiary(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    joinLink: string;
  }): Promise<void> {
    const previous = await deps.calls.getLessonLink(args);
    await deps.diary.linkPublished({
      ...args,
      previousCallKey: previous?.endedAt === null ? previous.callKey : null,
    });
  }

  async function startOnce(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    actor: string;
    notBefore: number | undefined;
    leave: (details: unknown) => void;
  }): Promise<{ callId: string; joinLink: string; linkPublished: boolean }> {
    const { schoolId, journalId, lessonId, callKey, actor, notBefore } = args;
    // What must precede calls.start goes out at once: an automatic start is due at a bell with
    // every other journal's, and each round trip before the platform makes it later. Recording
    // a start already recorded changes nothing (its fields are written on insert only).
    const school = deps.messengers.forSchool(schoolId);
    school.catch(() => undefined);
    let [call] = await Promise.all([
      deps.calls.getCall({ schoolId, callKey }),
      deps.calls.recordStarting({
        schoolId,
        callKey,
        journalId,
        lessonId,
        startedBy: actor,
      }),
    ]);
    if (!call?.callId) {
      // The platform has no idempotency key: a call an earlier attempt started but could not
      // record is reused, or a second one would run that nobody announces or ends.
      const earlier = startedCallSchema.safeParse(attempts.recall());
      let started: { callId: string; joinLink: string };
      if (earlier.success && earlier.data.callKey === callKey) {
        started = earlier.data;
      } else {
        const { messenger } = await school;
        // Armed: everything that could precede calls.start is done; the request alone is due.
        if (notBefore !== undefined && notBefore > now()) await sleep(notBefore - now());
        started = await messenger.callsStart();
      }
      args.leave({ callKey, callId: started.callId, joinLink: started.joinLink });
      await deps.calls.recordStarted(
        { schoolId, callKey },
        {
          callId: started.callId,
          joinLink: started.joinLink,
          startedBy: actor,
        },
      );
      call = await deps.calls.getCall({ schoolId, callKey });
      deps.logger.info({ schoolId, journalId, lessonId, callKey, actor }, 'call started');
    }
    if (!call?.callId || !call.joinLink) {
      throw new TypedError(
        ErrorType.MessengerUnavailable,
        `call ${callKey} has no platform ID yet`,
      );
    }
    const linkPublished = await announce({
      schoolId,
      journalId,
      lessonId,
      callKey,
      joinLink: call.joinLink,
    });
    return { callId: call.callId, joinLink: call.joinLink, linkPublished };
  }

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
        return await startOnce({ schoolId, journalId, lessonId, callKey, actor, notBefore, leave });
      } finally {
        clearInterval(alive);
      }
    },

    async publishLink({ schoolId, journalId, lessonId, callKey }) {
      const call = await deps.calls.getCall({ schoolId, callKey });
      if (!call?.joinLink) throw new TypedError(ErrorType.NotFound, `call ${callKey} is unknown`);
      if (call.status === 'ended') return { published: false };
      return {
        published: await announce({
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
