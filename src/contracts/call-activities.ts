import { z } from 'zod';
import { journalSchema, lessonSchema, templateSchema } from './roster';

/** What the journal calls activities take and return: IDs, lesson data and links, no personal data. */

export const journalContextSchema = z.object({
  found: z.boolean(),
  timeZone: z.string(),
  journal: journalSchema
    .pick({ id: true, classId: true, kind: true, subjectChat: true, teacherIds: true })
    .nullable(),
  /** Lessons from yesterday to the day after tomorrow (school time zone). */
  lessons: z.array(lessonSchema).readonly(),
  /** The school's templates, with only this journal's entries kept. */
  templates: z.array(templateSchema).readonly(),
  /**
   * The lesson a teacher's start names, wherever it is dated (absent when none was named, null
   * when the school has no such lesson): a lesson outside the loaded days is refused with its
   * true reason (V2), not as unknown.
   */
  requestedLesson: lessonSchema
    .pick({ id: true, journalId: true, date: true })
    .nullable()
    .exactOptional(),
});
export type JournalContext = z.infer<typeof journalContextSchema>;

/**
 * `at` is the workflow's clock: the lessons loaded are those around the day it plans, even when
 * the load runs (or is retried) later, past the school's midnight.
 */
export const loadJournalArgsSchema = z.object({
  schoolId: z.string(),
  journalId: z.string(),
  at: z.number().exactOptional(),
  /** A teacher's start: look this lesson up too (`requestedLesson`). */
  lessonId: z.string().exactOptional(),
});

/** One lesson's call in one journal; `callKey` names the call across retries (`src/contracts/ids.ts`). */
const callRefSchema = z.object({
  schoolId: z.string(),
  journalId: z.string(),
  lessonId: z.string(),
  callKey: z.string(),
});

export const openCallArgsSchema = callRefSchema.extend({
  actor: z.string(),
  /** An armed start: the instant `calls.start` goes out, after the attempt's reads and writes. */
  notBefore: z.number().exactOptional(),
});
export const openCallResultSchema = z.object({
  callId: z.string(),
  joinLink: z.string(),
  linkPublished: z.boolean(),
});

export const publishLinkArgsSchema = callRefSchema;
export const publishLinkResultSchema = z.object({ published: z.boolean() });

export const closeCallArgsSchema = callRefSchema
  .omit({ lessonId: true })
  .extend({ actor: z.string() });
export const closeCallResultSchema = z.object({ alreadyEnded: z.boolean() });

export const recordPlatformEndArgsSchema = callRefSchema.omit({ lessonId: true });

export interface CallActivities {
  loadJournal(args: z.infer<typeof loadJournalArgsSchema>): Promise<JournalContext>;
  /**
   * Starts the platform call once per `callKey` (a retry reuses it) and announces it (V4). An
   * automatic start is armed before its due time: with `notBefore`, the attempt does its reads
   * and writes first, then waits (heartbeating, so the workflow can cancel it) and sends
   * `calls.start` at that instant, however busy the workflow task queue is at the bell.
   */
  openCall(args: z.infer<typeof openCallArgsSchema>): Promise<z.infer<typeof openCallResultSchema>>;
  /** Posts the running call's link for a lesson to the chat and the e-diary, once (V1, V4). */
  publishLink(
    args: z.infer<typeof publishLinkArgsSchema>,
  ): Promise<z.infer<typeof publishLinkResultSchema>>;
  /** Ends the platform call (calls.forceFinish), records who ended it, withdraws the link (V5). */
  closeCall(
    args: z.infer<typeof closeCallArgsSchema>,
  ): Promise<z.infer<typeof closeCallResultSchema>>;
}

export interface PlatformEndActivities {
  /**
   * V5: the call ended in Sferum: records the end (by the platform) and withdraws the e-diary
   * link, without calls.forceFinish. Idempotent.
   */
  recordPlatformEnd(args: z.infer<typeof recordPlatformEndArgsSchema>): Promise<void>;
}

/**
 * The call activities under the names histories recorded before PATCH_CALL_ACTIVITY_NAMES
 * schedule (`startCall` and `endCall` were also the updates' names): the worker registers them
 * beside the current ones, so those runs replay and go on (docs/architecture.md, Names).
 */
export interface RecordedCallActivities {
  startCall: CallActivities['openCall'];
  endCall: CallActivities['closeCall'];
  endedOnPlatform: PlatformEndActivities['recordPlatformEnd'];
}
