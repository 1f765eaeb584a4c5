import type { Journal, Lesson, Template } from './roster';

/** What the journal calls activities take and return: IDs, lesson data and links, no personal data. */
export interface JournalContext {
  readonly found: boolean;
  readonly timeZone: string;
  readonly journal: Pick<Journal, 'id' | 'classId' | 'kind' | 'subjectChat' | 'teacherIds'> | null;
  /** Lessons from yesterday to the day after tomorrow (school time zone). */
  readonly lessons: readonly Lesson[];
  /** The school's templates, with only this journal's entries kept. */
  readonly templates: readonly Template[];
  /**
   * The lesson a teacher's start names, wherever it is dated (absent when none was named, null
   * when the school has no such lesson): a lesson outside the loaded days is refused with its
   * true reason (V2), not as unknown.
   */
  readonly requestedLesson?: Pick<Lesson, 'id' | 'journalId' | 'date'> | null;
}

export interface CallActivities {
  /**
   * `at` is the workflow's clock: the lessons loaded are those around the day it plans, even when
   * the load runs (or is retried) later, past the school's midnight.
   */
  loadJournal(args: {
    schoolId: string;
    journalId: string;
    at?: number;
    /** A teacher's start: look this lesson up too (`requestedLesson`). */
    lessonId?: string;
  }): Promise<JournalContext>;
  /**
   * Starts the platform call once per `callKey` (a retry reuses it) and announces it (V4). An
   * automatic start is armed before its due time: with `notBefore`, the attempt does its reads
   * and writes first, then waits (heartbeating, so the workflow can cancel it) and sends
   * `calls.start` at that instant, however busy the workflow task queue is at the bell.
   */
  startCall(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    actor: string;
    notBefore?: number;
  }): Promise<{ callId: string; joinLink: string; linkPublished: boolean }>;
  /** Posts the running call's link for a lesson to the chat and the e-diary, once (V1, V4). */
  publishLink(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
  }): Promise<{ published: boolean }>;
  endCall(args: {
    schoolId: string;
    journalId: string;
    callKey: string;
    actor: string;
  }): Promise<{ alreadyEnded: boolean }>;
}

export interface PlatformEndActivities {
  /**
   * V5: the call ended in Sferum: records the end (by the platform) and withdraws the e-diary
   * link, without calls.forceFinish. Idempotent.
   */
  endedOnPlatform(args: { schoolId: string; journalId: string; callKey: string }): Promise<void>;
}
