import type { CallDecision } from '../contracts/decisions';
import { journalOfWorkflowId } from '../contracts/ids';
import type { Lesson, Template } from '../contracts/roster';
import { AUTO_START_LEAD_MS, LATE_START_GRACE_MS } from '../domain/call-plan';
import {
  gridGapKinds,
  gridTimes,
  retiredTemplateDefects,
  selectTemplate,
  templateDefects,
  type GridGap,
  type RetiredTemplateDefect,
  type TemplateDefect,
} from '../domain/template-check';
import { zonedDateTimeToEpoch } from '../domain/time';
import type { Incident } from './incidents';

/**
 * Turns the decisions a replay collected into one row per online lesson: did it get a call, how
 * and when did the call start and end, and if it got none, why. Pure, so every rule below is
 * tested without a server.
 */

/** A timer-driven action more than this late means the worker was not there when it was due. */
export const LATE_TIMER_MS = 60_000;

export type MissedReason =
  /**
   * V7: the template governing the lesson's date is incomplete; `missing` says which part (as the
   * decision recorded it: archived decisions may carry retired codes), `gridGaps` which rows.
   */
  | {
      readonly code: 'templateIncomplete';
      readonly missing: readonly (TemplateDefect | RetiredTemplateDefect)[];
      readonly gridGaps?: readonly GridGap[];
    }
  /** V2: published more than 20 minutes after its start: manual start only. */
  | { readonly code: 'publishedTooLate'; readonly minutesAfterStart: number }
  /** V2 likewise, for the online switch turned on too late. */
  | { readonly code: 'onlineTooLate'; readonly minutesAfterStart: number }
  /** V1: never published. */
  | { readonly code: 'notPublished' }
  /** V3: left unpublished while a later lesson of the journal was chosen for the call. */
  | { readonly code: 'earlierUnpublished'; readonly chosenLessonId: string }
  /** V3: a manual start was refused because the journal's one call was busy. */
  | { readonly code: 'anotherCallRunning'; readonly refusals: number }
  /** The platform failed every start, each after the activity's own retries. */
  | { readonly code: 'platformError'; readonly attempts: number; readonly lastError: string | null }
  /** The workflow woke long after the call was due: no worker was polling (the timer fired late). */
  | { readonly code: 'workerUnavailable'; readonly lateMinutes: number }
  /** The grid gives no time for the lesson's number. */
  | { readonly code: 'noGridTime' }
  /** No decision about the lesson at all: no journal workflow history covers it. */
  | { readonly code: 'noHistory' };

export type MissedReasonCode = MissedReason['code'];

export interface AuditRow {
  readonly journalId: string;
  readonly lessonId: string;
  readonly date: string;
  readonly number: number;
  /** Wall times in the school's zone from the template grid, null when the grid has none. */
  readonly plannedStart: string | null;
  readonly plannedEnd: string | null;
  readonly online: boolean;
  readonly status: Lesson['status'];
  readonly started: {
    readonly how: 'auto' | 'manual' | 'carriedOver';
    readonly at: number;
    /** `auto` or the staff ID who pressed the button. */
    readonly by: string;
    /** How late an automatic start was against its due time, when more than LATE_TIMER_MS. */
    readonly lateMs: number | null;
  } | null;
  readonly ended: {
    readonly how: 'auto' | 'manual' | 'inSferum';
    readonly at: number;
    readonly by: string;
    readonly lateMs: number | null;
  } | null;
  readonly missed: MissedReason | null;
  /**
   * The outages that held this lesson's call up: the journal workflow's incidents between the
   * automatic start's due time and the start (for a missed lesson, while its start window was
   * open). What makes a late call's lateness, or a missed call's platform error, concrete.
   */
  readonly causes: readonly Incident[];
  /**
   * V4: what the e-diary made of the lesson's link, from the outbox (not the histories): null
   * when the lesson never had a link, or the audit had no outbox to read.
   */
  readonly diary: DiaryAudit | null;
}

export interface DiaryAudit {
  readonly state: 'pending' | 'delivered' | 'failing' | 'rejected' | 'feedOnly';
  readonly lastError: string | null;
  readonly failingSince: number | null;
  readonly deliveredAt: number | null;
}

const minutes = (ms: number): number => Math.round(ms / 60_000);

function lateBy(decision: CallDecision): number | null {
  if (decision.dueAt === undefined) return null;
  const late = decision.at - decision.dueAt;
  return late > LATE_TIMER_MS ? late : null;
}

function servesLesson(decision: CallDecision, lessonId: string): boolean {
  if (decision.lessonId === lessonId) return true;
  const lessons = decision.details?.lessons;
  return typeof lessons === 'string' && lessons.split(',').includes(lessonId);
}

function parseDefects(value: unknown): (TemplateDefect | RetiredTemplateDefect)[] | null {
  if (typeof value !== 'string' || value === '') return null;
  const known = new Set<string>([...templateDefects, ...retiredTemplateDefects]);
  const parts = value
    .split(',')
    .filter((p): p is TemplateDefect | RetiredTemplateDefect => known.has(p));
  return parts.length > 0 ? parts : null;
}

/** `details.gridGaps` as the workflow records it: `3:row,4:end`. */
function parseGridGaps(value: unknown): GridGap[] {
  if (typeof value !== 'string' || value === '') return [];
  const kinds = new Set<string>(gridGapKinds);
  return value.split(',').flatMap((part) => {
    const [number, lacks] = part.split(':');
    const n = Number(number);
    return Number.isInteger(n) && lacks !== undefined && kinds.has(lacks)
      ? [{ number: n, lacks: lacks as GridGap['lacks'] }]
      : [];
  });
}

function explainMissed(args: {
  lesson: Lesson;
  own: readonly CallDecision[];
  lessonStart: number | null;
  templates: readonly Template[];
}): MissedReason {
  const { lesson, own, lessonStart } = args;
  const skips = (reason: string): CallDecision[] =>
    own.filter((d) => d.kind === 'skipped' && d.reason === reason);

  const failures = own.filter((d) => d.kind === 'startFailed' && d.reason === 'platformError');
  if (failures.length > 0) {
    const last = failures[failures.length - 1]?.details?.error;
    return {
      code: 'platformError',
      attempts: failures.length,
      lastError: typeof last === 'string' ? last : null,
    };
  }
  const refusals = own.filter((d) => d.kind === 'refused' && d.reason === 'anotherCallRunning');
  if (refusals.length > 0) return { code: 'anotherCallRunning', refusals: refusals.length };
  const earlier = skips('earlierUnpublished')[0];
  if (earlier) {
    const chosen = earlier.details?.chosenLessonId;
    return { code: 'earlierUnpublished', chosenLessonId: typeof chosen === 'string' ? chosen : '' };
  }
  const incomplete = skips('templateIncomplete');
  if (incomplete.length > 0) {
    const named = incomplete.find((d) => parseDefects(d.details?.missing) !== null);
    const fromDecision = named ? parseDefects(named.details?.missing) : null;
    // The workflow names the defects only for the lesson in focus; for the others the audit reads
    // the template the same way the planner does.
    const selection = selectTemplate({
      templates: args.templates,
      journalId: lesson.journalId,
      date: lesson.date,
    });
    const missing = fromDecision ?? selection.missing;
    const gridGaps = named ? parseGridGaps(named.details?.gridGaps) : selection.gridGaps;
    return { code: 'templateIncomplete', missing, ...(gridGaps.length > 0 ? { gridGaps } : {}) };
  }
  const tooLong = skips('startedTooLongAgo')[0];
  if (tooLong) {
    const after = lessonStart === null ? 0 : minutes(tooLong.at - lessonStart);
    const before = own.filter((d) => d.at <= tooLong.at);
    if (before.some((d) => d.kind === 'skipped' && d.reason === 'notPublished')) {
      return { code: 'publishedTooLate', minutesAfterStart: after };
    }
    if (before.some((d) => d.kind === 'skipped' && d.reason === 'notOnline')) {
      return { code: 'onlineTooLate', minutesAfterStart: after };
    }
    // Nothing held the lesson back, yet the workflow first saw it past the grace period: the
    // timer due AUTO_START_LEAD_MS before the lesson fired late.
    const dueAt = lessonStart === null ? tooLong.at : lessonStart - AUTO_START_LEAD_MS;
    return { code: 'workerUnavailable', lateMinutes: minutes(tooLong.at - dueAt) };
  }
  if (skips('notPublished').length > 0) return { code: 'notPublished' };
  if (skips('noGridTime').length > 0) return { code: 'noGridTime' };
  return { code: 'noHistory' };
}

/** Slack around a cause window: history event times and decision times are a moment apart. */
const CAUSE_SLACK_MS = 1_000;

function causesOf(args: {
  incidents: readonly Incident[];
  journalId: string;
  from: number;
  to: number;
}): Incident[] {
  return args.incidents.filter(
    (i) =>
      journalOfWorkflowId(i.workflowId) === args.journalId &&
      i.at >= args.from - CAUSE_SLACK_MS &&
      i.at <= args.to + CAUSE_SLACK_MS,
  );
}

function isStart(d: CallDecision): boolean {
  return d.kind === 'autoStarted' || d.kind === 'manualStarted' || d.kind === 'carriedOver';
}

/** One row per online lesson (or lesson that had a call), in date, journal and number order. */
export function explainLessons(args: {
  lessons: readonly Lesson[];
  templates: readonly Template[];
  timeZone: string;
  /** Every decision of the journals concerned, any order. */
  decisions: readonly CallDecision[];
  /** The journal workflows' incidents (incidents.ts), to name each late or missed call's cause. */
  incidents?: readonly Incident[];
}): AuditRow[] {
  const incidents = args.incidents ?? [];
  const byTime = [...args.decisions].sort((a, b) => a.at - b.at);
  const rows: AuditRow[] = [];
  // A lesson switched offline after its call still had that call: it stays in the audit.
  const hadCall = new Set(byTime.filter(isStart).map((d) => d.lessonId));
  const lessons = args.lessons
    .filter((l) => l.online || hadCall.has(l.id))
    .sort((a, b) =>
      a.date !== b.date
        ? a.date < b.date
          ? -1
          : 1
        : a.journalId !== b.journalId
          ? a.journalId < b.journalId
            ? -1
            : 1
          : a.number - b.number,
    );
  for (const lesson of lessons) {
    const selection = selectTemplate({
      templates: args.templates,
      journalId: lesson.journalId,
      date: lesson.date,
    });
    const wall = selection.template ? gridTimes(selection.template, lesson.number) : null;
    const lessonStart = wall
      ? zonedDateTimeToEpoch({ date: lesson.date, time: wall.start, timeZone: args.timeZone })
      : null;
    const journal = byTime.filter((d) => d.journalId === lesson.journalId);
    const own = journal.filter((d) => d.lessonId === lesson.id);

    const found = own.find(isStart);
    // An automatic start that failed and was tried again was due when the first try was.
    const firstDue = Math.min(
      ...own.flatMap((d) =>
        (d.kind === 'startFailed' || d.kind === 'autoStarted') && d.dueAt !== undefined
          ? [d.dueAt]
          : [],
      ),
    );
    const start =
      found?.kind === 'autoStarted' && found.dueAt !== undefined && firstDue < found.dueAt
        ? { ...found, dueAt: firstDue }
        : found;
    const started: AuditRow['started'] = start
      ? {
          how:
            start.kind === 'autoStarted'
              ? 'auto'
              : start.kind === 'manualStarted'
                ? 'manual'
                : 'carriedOver',
          at: start.at,
          by: start.actor ?? 'auto',
          lateMs: lateBy(start),
        }
      : null;
    const end = start
      ? journal.find(
          (d) =>
            d.at >= start.at &&
            (d.kind === 'autoEnded' || d.kind === 'manualEnded' || d.kind === 'endedInSferum') &&
            servesLesson(d, lesson.id),
        )
      : undefined;
    const ended: AuditRow['ended'] = end
      ? {
          how:
            end.kind === 'autoEnded' ? 'auto' : end.kind === 'manualEnded' ? 'manual' : 'inSferum',
          at: end.at,
          by: end.actor ?? 'auto',
          lateMs: lateBy(end),
        }
      : null;
    rows.push({
      journalId: lesson.journalId,
      lessonId: lesson.id,
      date: lesson.date,
      number: lesson.number,
      plannedStart: wall?.start ?? null,
      plannedEnd: wall?.end ?? null,
      online: lesson.online,
      status: lesson.status,
      started,
      ended,
      diary: null,
      missed: started
        ? null
        : explainMissed({ lesson, own, lessonStart, templates: args.templates }),
      causes: !start
        ? lessonStart === null
          ? []
          : causesOf({
              incidents,
              journalId: lesson.journalId,
              from: lessonStart - AUTO_START_LEAD_MS,
              to: lessonStart + LATE_START_GRACE_MS,
            })
        : start.kind === 'autoStarted' && start.dueAt !== undefined
          ? causesOf({ incidents, journalId: lesson.journalId, from: start.dueAt, to: start.at })
          : [],
    });
  }
  return rows;
}

/** The reason in words, for the text table and the CSV. */
export function describeReason(reason: MissedReason): string {
  switch (reason.code) {
    case 'templateIncomplete':
      return `template incomplete (${describeDefects(reason.missing, reason.gridGaps ?? [])}): manual start only`;
    case 'publishedTooLate':
      return `published too late (${reason.minutesAfterStart} min after the start): manual start only`;
    case 'onlineTooLate':
      return `switched online too late (${reason.minutesAfterStart} min after the start): manual start only`;
    case 'notPublished':
      return 'not published';
    case 'earlierUnpublished':
      return `not published while a later lesson (${reason.chosenLessonId}) got the call`;
    case 'anotherCallRunning':
      return `another call was running (manual start refused ${reason.refusals}×)`;
    case 'platformError':
      return `platform error after retries (${reason.attempts} failed start${reason.attempts === 1 ? '' : 's'}${reason.lastError ? `; last: ${reason.lastError}` : ''})`;
    case 'workerUnavailable':
      return `worker unavailable: the timer fired ${reason.lateMinutes} min late`;
    case 'noGridTime':
      return 'no start time in the template grid for this lesson number';
    case 'noHistory':
      return 'no decision recorded: no journal workflow history covers this lesson';
  }
}

const DEFECT_WORDS: Record<TemplateDefect | RetiredTemplateDefect, string> = {
  noTemplate: 'no timetable template',
  noStartDate: 'no start date',
  noEndDate: 'no end date',
  noValidityDates: 'no start or no end date',
  notValidOnDate: 'not valid on the lesson date',
  notSentToPortal: '"send to the portal by default" is not Yes',
  gridWithoutTimes: 'no grid row has a start and an end time',
  lessonNotInGrid: 'a lesson of the journal has no grid row',
  lessonWithoutTimes: 'a grid row of the journal lacks a time',
  noEntryForJournal: 'no lesson of this journal in the template',
};

const GAP_WORDS: Record<GridGap['lacks'], string> = {
  row: 'has no grid row',
  start: 'has no start time',
  end: 'has no end time',
  startAndEnd: 'has no start or end time',
  endNotAfterStart: 'ends before it starts',
};

/** V7 in words: each defect, and each grid row by its lesson number in place of the row defects. */
function describeDefects(
  missing: readonly (TemplateDefect | RetiredTemplateDefect)[],
  gridGaps: readonly GridGap[],
): string {
  const rowDefects = new Set<string>(['lessonNotInGrid', 'lessonWithoutTimes']);
  const words = missing
    .filter((d) => gridGaps.length === 0 || !rowDefects.has(d))
    .map((d) => DEFECT_WORDS[d]);
  const gaps = gridGaps.map((g) => `lesson ${g.number} ${GAP_WORDS[g.lacks]}`);
  return [...words, ...gaps].join('; ');
}
