import type { Journal, RosterSnapshot } from '../contracts/roster';
import { ROOT } from '../contracts/zod-issues';
import { pathOf, type LocatedRoster, type RosterWarning } from './roster-issues';

/** What an import accepts but changes or ignores, told on its reply (`rosterWarningCodes`). */

/** An import lists at most this many warnings, for the reason it caps its errors. */
export const MAX_ROSTER_WARNINGS = 200;

/** V1 and C2: only a general-education journal with the subject-chat option has the online switch. */
export function journalCanHaveCalls(journal: Pick<Journal, 'kind' | 'subjectChat'>): boolean {
  return journal.kind === 'general' && journal.subjectChat;
}

function subgroupWarnings(roster: LocatedRoster): RosterWarning[] {
  const classOf = new Map(roster.students.map((s) => [s.value.id, s.value.classId]));
  return roster.journals.flatMap((journal) =>
    (journal.value.studentIds ?? []).flatMap((id, i) => {
      const classId = classOf.get(id);
      if (classId === undefined || classId === journal.value.classId) return [];
      return [
        {
          code: 'subgroupStudentOutsideClass' as const,
          path: `${pathOf(journal, 'journals')}.studentIds[${i}]`,
          message: `student "${id}" is in class "${classId}", not the journal's class "${journal.value.classId}": left out of the journal's subject chat`,
        },
      ];
    }),
  );
}

function whyNoCalls(journal: Journal): string {
  return journal.kind === 'general'
    ? `journal "${journal.id}" has the subject-chat option off`
    : `journal "${journal.id}" is ${journal.kind}, not general-education`;
}

function onlineWarnings(roster: LocatedRoster): RosterWarning[] {
  const journals = new Map(roster.journals.map((j) => [j.value.id, j.value]));
  return roster.lessons.flatMap((lesson) => {
    const journal = journals.get(lesson.value.journalId);
    if (!lesson.value.online || journal === undefined || journalCanHaveCalls(journal)) return [];
    return [
      {
        code: 'onlineLessonWithoutCalls' as const,
        path: `${pathOf(lesson, 'lessons')}.online`,
        message: `${whyNoCalls(journal)}, so it has no online lessons: stored as not online`,
      },
    ];
  });
}

export function rosterWarnings(roster: LocatedRoster): RosterWarning[] {
  const warnings = [...subgroupWarnings(roster), ...onlineWarnings(roster)];
  if (warnings.length <= MAX_ROSTER_WARNINGS) return warnings;
  return [
    ...warnings.slice(0, MAX_ROSTER_WARNINGS),
    {
      code: 'moreWarnings',
      path: ROOT,
      message: `${warnings.length - MAX_ROSTER_WARNINGS} more warnings not listed`,
    },
  ];
}

/**
 * V1: the online switch exists only in journals that can have calls, so an online lesson in any
 * other journal is stored as not online; every reader (call planner, chat planner, pages, audit)
 * then agrees without checking the journal again.
 */
export function withoutImpossibleOnline(roster: RosterSnapshot): RosterSnapshot {
  const noCalls = new Set(roster.journals.filter((j) => !journalCanHaveCalls(j)).map((j) => j.id));
  if (!roster.lessons.some((l) => l.online && noCalls.has(l.journalId))) return roster;
  return {
    ...roster,
    lessons: roster.lessons.map((l) =>
      l.online && noCalls.has(l.journalId) ? { ...l, online: false } : l,
    ),
  };
}
