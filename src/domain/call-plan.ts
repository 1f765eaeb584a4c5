import type { Journal, Lesson, Template } from '../contracts/roster';
import type { CallsUnavailableReason } from '../contracts/timetable';
import {
  gridTimes,
  selectTemplate,
  type GridGap,
  type TemplateDefect,
  type TemplateSelection,
} from './template-check';
import { addDays, epochToZonedDate, nextZonedMidnight, zonedDateTimeToEpoch } from './time';

/**
 * The call planner: given one journal's lessons, the school's timetable templates, the school's
 * time zone and "now", it says what the journal's call workflow should do next on its own, and
 * why it will not do more. It is pure and deterministic (the workflow sandbox runs it on every
 * replan and on replay), so it takes `now` as an argument and never reads a clock or the
 * process time zone.
 */

const MINUTE_MS = 60_000;

/** V2: an automatic call starts this long before its lesson. */
export const AUTO_START_LEAD_MS = 20 * MINUTE_MS;
/** V2: a lesson whose start is further in the past than this can only be started by hand. */
export const LATE_START_GRACE_MS = 20 * MINUTE_MS;
/** V5: an automatic call ends this long after its lesson ends. */
export const AUTO_END_DELAY_MS = 20 * MINUTE_MS;

/** The journal's call while it runs, as the workflow holds it. */
export interface RunningCall {
  /** The lesson the call serves now: the latest one after a carry-over. */
  lessonId: string;
  startedAt: number;
  /** When the call ends by itself (V5); null when it has no automatic end. */
  autoEndAt: number | null;
  /** Every lesson the call's link has been attached to, including `lessonId`. */
  lessonIds: readonly string[];
}

/** A lesson's start and end as instants, from its template's grid row. */
export interface LessonTimes {
  start: number;
  end: number;
}

/** Every `at` is an epoch in ms and never earlier than `now`: a time already passed means "now". */
export type CallAction =
  | {
      kind: 'start';
      lessonId: string;
      at: number;
      lessonStart: number;
      lessonEnd: number;
      /** V5: when the call started for this lesson should end by itself. */
      autoEndAt: number;
    }
  | { kind: 'end'; lessonId: string; at: number }
  | {
      /** Back-to-back lessons keep the running call: attach its link to the next lesson too. */
      kind: 'carryOver';
      fromLessonId: string;
      toLessonId: string;
      at: number;
      newAutoEndAt: number;
    };

export const skipReasons = [
  /** V2: the lesson began more than 20 minutes ago; only a manual start is possible. */
  'startedTooLongAgo',
  /** V1: the lesson is still a draft (neither published nor conducted). */
  'notPublished',
  /** V1: the lesson's online switch is off. */
  'notOnline',
  /** V2: the lesson is later than tomorrow; it becomes a candidate when its day comes near. */
  'notTodayOrTomorrow',
  /** V7: the template governing the lesson's date is incomplete. */
  'templateIncomplete',
  /** The grid gives no start and end time for the lesson's number. */
  'noGridTime',
  /** The lesson already had its call (ended since); starting it again would undo that end. */
  'alreadyCalled',
  /** V1, C2: the journal is not a general-education one with the subject chat on: no calls at all. */
  'callsNotAvailable',
] as const;

export type SkipReason = (typeof skipReasons)[number];

/**
 * V1, C2: why a journal has no calls at all. The online switch and calls exist only in
 * general-education journals whose subject-chat option is on.
 */
export type { CallsUnavailableReason };

export type JournalCallTraits = Pick<Journal, 'kind' | 'subjectChat'>;

/** Null when the journal may have calls. Extracurricular and other journals never have a subject chat (C2). */
export function callsUnavailableReason(journal: JournalCallTraits): CallsUnavailableReason | null {
  if (journal.kind !== 'general') return 'callsNotAvailable';
  return journal.subjectChat ? null : 'noSubjectChat';
}

export interface CallPlanWarning {
  /** V3: an earlier online lesson is still a draft, so a later one gets the call instead. */
  kind: 'earlierUnpublished';
  skippedLessonId: string;
  chosenLessonId: string;
}

export interface CallPlanInput {
  journalId: string;
  /** The journal's lessons; lessons of other journals are ignored. */
  lessons: readonly Lesson[];
  /** All of the school's templates: the one governing each lesson's date is picked per date. */
  templates: readonly Template[];
  /** The school's IANA time zone: "today" and the grid's wall times are read in it. */
  timeZone: string;
  now: number;
  running?: RunningCall | null;
  /** Lessons whose call has already run and ended, so they are never started again. */
  calledLessonIds?: readonly string[];
  /** The journal's kind and subject-chat option (V1, C2); absent: the journal may have calls. */
  journal?: JournalCallTraits | null;
}

export interface CallPlan {
  /** The next automatic action, or null when there is none to schedule. */
  next: CallAction | null;
  /**
   * V7: set when the lesson in focus (the running call's, else the nearest online lesson, else
   * today) is governed by an incomplete template, so its calls are manual only.
   */
  manualOnly: {
    reasons: TemplateDefect[];
    templateId: string | null;
    /** The lesson numbers whose grid rows lack times (V7), when that is among the reasons. */
    gridGaps: GridGap[];
  } | null;
  /** V1, C2: set when the journal has no calls at all; its online lessons count as not online. */
  callsUnavailable: CallsUnavailableReason | null;
  warnings: CallPlanWarning[];
  /** Online lessons from today on that get no automatic call, and lessons today or tomorrow that are not online. */
  skipped: { lessonId: string; reason: SkipReason }[];
  /** Start and end of today's and tomorrow's lessons and the running call's, where the grid gives them. */
  lessonTimes: Record<string, LessonTimes>;
  /**
   * The next midnight in the school's time zone: "today" and "tomorrow" move then, so the plan
   * may change with no other input. The workflow wakes at the earlier of this and `next.at`.
   */
  replanAt: number;
}

interface Candidate {
  lesson: Lesson;
  times: LessonTimes;
  autoStartAt: number;
}

/** Nearest first. Within a day the grid runs in lesson-number order, so no times are needed. */
function compareLessons(a: Lesson, b: Lesson): number {
  if (a.date !== b.date) return a.date < b.date ? -1 : 1;
  if (a.number !== b.number) return a.number - b.number;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

function lessonTimesIn(
  template: Template | null,
  lesson: Lesson,
  timeZone: string,
): LessonTimes | null {
  const wall = template === null ? null : gridTimes(template, lesson.number);
  if (wall === null) return null;
  return {
    start: zonedDateTimeToEpoch({ date: lesson.date, time: wall.start, timeZone }),
    end: zonedDateTimeToEpoch({ date: lesson.date, time: wall.end, timeZone }),
  };
}

function manualOnlyFrom(selection: TemplateSelection): CallPlan['manualOnly'] {
  return selection.complete
    ? null
    : {
        reasons: selection.missing,
        templateId: selection.template?.id ?? null,
        gridGaps: selection.gridGaps,
      };
}

/** Plans the journal's next automatic call action (rules V1, V2, V3, V5, V7). */
export function planCalls(input: CallPlanInput): CallPlan {
  const { journalId, templates, timeZone, now } = input;
  const running = input.running ?? null;
  const today = epochToZonedDate(now, timeZone);
  const tomorrow = addDays(today, 1);
  const served = new Set(running === null ? [] : [running.lessonId, ...running.lessonIds]);
  const called = new Set(input.calledLessonIds ?? []);
  const callsUnavailable = input.journal ? callsUnavailableReason(input.journal) : null;

  const selections = new Map<string, TemplateSelection>();
  const templateOn = (date: string): TemplateSelection => {
    let selection = selections.get(date);
    if (selection === undefined) {
      selection = selectTemplate({ templates, journalId, date });
      selections.set(date, selection);
    }
    return selection;
  };

  const ownLessons = input.lessons.filter((l) => l.journalId === journalId);
  const skipped: CallPlan['skipped'] = [];
  const times: [string, LessonTimes][] = [];
  const candidates: Candidate[] = [];
  // Drafts that would still be auto-startable had they been published: the V3 situation.
  const pendingDrafts: Lesson[] = [];
  let firstBlocked: { lesson: Lesson; selection: TemplateSelection } | null = null;

  // Past days are history (the audit explains them); only today onwards is planned, plus the
  // lessons the running call serves, whose times the workflow still shows.
  const relevant = ownLessons.filter((l) => l.date >= today || served.has(l.id));
  for (const lesson of relevant.sort(compareLessons)) {
    if (lesson.date > tomorrow && !served.has(lesson.id)) {
      const reason = callsUnavailable === null ? 'notTodayOrTomorrow' : 'callsNotAvailable';
      if (lesson.online) skipped.push({ lessonId: lesson.id, reason });
      continue;
    }
    const selection = templateOn(lesson.date);
    const lessonTimes = lessonTimesIn(selection.template, lesson, timeZone);
    if (lessonTimes !== null) times.push([lesson.id, lessonTimes]);
    // The running call already carries this lesson's link: nothing more to do for it.
    if (served.has(lesson.id)) continue;

    const skip = (reason: SkipReason): void => {
      skipped.push({ lessonId: lesson.id, reason });
    };
    const tooLate = lessonTimes !== null && now - lessonTimes.start > LATE_START_GRACE_MS;
    if (!lesson.online) skip('notOnline');
    else if (callsUnavailable !== null) skip('callsNotAvailable');
    else if (called.has(lesson.id)) skip('alreadyCalled');
    else if (lesson.status === 'draft') {
      skip('notPublished');
      if (!tooLate) pendingDrafts.push(lesson);
    } else if (tooLate) skip('startedTooLongAgo');
    else if (!selection.complete) {
      firstBlocked ??= { lesson, selection };
      skip('templateIncomplete');
    } else if (lessonTimes === null) skip('noGridTime');
    else {
      candidates.push({
        lesson,
        times: lessonTimes,
        autoStartAt: Math.max(now, lessonTimes.start - AUTO_START_LEAD_MS),
      });
    }
  }

  const target = candidates[0] ?? null;
  const base = {
    callsUnavailable,
    skipped,
    lessonTimes: Object.fromEntries(times),
    replanAt: nextZonedMidnight(now, timeZone),
  };

  if (running !== null) {
    const runningLesson = ownLessons.find((l) => l.id === running.lessonId);
    const runningSelection = templateOn(runningLesson?.date ?? today);
    // V7 covers the end as much as the start: under an incomplete template the call runs until
    // someone ends it, and carrying it over would give it an automatic end again.
    if (!runningSelection.complete) {
      return { ...base, next: null, manualOnly: manualOnlyFrom(runningSelection), warnings: [] };
    }
  }

  let next: CallAction | null = null;
  if (running === null) {
    if (target !== null) {
      next = {
        kind: 'start',
        lessonId: target.lesson.id,
        at: target.autoStartAt,
        lessonStart: target.times.start,
        lessonEnd: target.times.end,
        autoEndAt: target.times.end + AUTO_END_DELAY_MS,
      };
    }
  } else if (
    target !== null &&
    // A call with no automatic end is still running when the next lesson is due, so it carries
    // over too. At a tie, carrying over spares everyone the drop of an end and an instant restart.
    (running.autoEndAt === null || target.autoStartAt <= running.autoEndAt)
  ) {
    next = {
      kind: 'carryOver',
      fromLessonId: running.lessonId,
      toLessonId: target.lesson.id,
      at: target.autoStartAt,
      // Never shorten the call: the lesson carried over to may end before the current one does.
      newAutoEndAt: Math.max(
        running.autoEndAt ?? Number.NEGATIVE_INFINITY,
        target.times.end + AUTO_END_DELAY_MS,
      ),
    };
  } else if (running.autoEndAt !== null) {
    next = { kind: 'end', lessonId: running.lessonId, at: Math.max(now, running.autoEndAt) };
  }

  const chosen = next === null || next.kind === 'end' ? null : (target?.lesson ?? null);
  const warnings: CallPlanWarning[] =
    chosen === null
      ? []
      : pendingDrafts
          .filter((draft) => compareLessons(draft, chosen) < 0)
          .map((draft) => ({
            kind: 'earlierUnpublished',
            skippedLessonId: draft.id,
            chosenLessonId: chosen.id,
          }));

  // The journal explains why its nearest online lesson will not start by itself. A blocked lesson
  // after the chosen one (a later date under another template) does not hold up this plan.
  let manualOnly: CallPlan['manualOnly'] = null;
  if (firstBlocked !== null) {
    if (target === null || compareLessons(firstBlocked.lesson, target.lesson) < 0) {
      manualOnly = manualOnlyFrom(firstBlocked.selection);
    }
  } else if (running === null && target === null && callsUnavailable === null) {
    manualOnly = manualOnlyFrom(templateOn(today));
  }

  return { ...base, next, manualOnly, warnings };
}

/**
 * V5 under V7: when a call started for `lesson` (by hand or automatically) should end by itself,
 * or null when it has no automatic end (incomplete template, or no grid time for the lesson).
 */
export function autoEndFor({
  lesson,
  templates,
  timeZone,
}: {
  lesson: Lesson;
  templates: readonly Template[];
  timeZone: string;
}): number | null {
  const selection = selectTemplate({ templates, journalId: lesson.journalId, date: lesson.date });
  if (!selection.complete) return null;
  const lessonTimes = lessonTimesIn(selection.template, lesson, timeZone);
  return lessonTimes === null ? null : lessonTimes.end + AUTO_END_DELAY_MS;
}
