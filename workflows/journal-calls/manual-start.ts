import type { JournalContext } from '../../src/contracts/call-activities';
import type { RefusalReason } from '../../src/contracts/journal-calls';
import { PATCH_CALLS_WHERE_AVAILABLE, PATCH_MANUAL_TODAY_OR_TOMORROW } from './rules';
import { absentLessonReason, isTodayOrTomorrow } from './view';

/**
 * V1, V2, C2: why a teacher's start of this lesson is refused whatever runs now, or null. The
 * patched rules are checked only where their histories checked them, so those replay as they ran.
 */
export function manualStartRefusal(args: {
  current: JournalContext;
  journalId: string;
  lessonId: string;
  now: number;
  patched: (patchId: string) => boolean;
}): RefusalReason | null {
  const { current, journalId, lessonId, patched } = args;
  const journal = current.journal;
  if (journal && journal.kind !== 'general' && patched(PATCH_CALLS_WHERE_AVAILABLE)) {
    return 'callsNotAvailable';
  }
  if (!journal?.subjectChat) return 'noSubjectChat';
  const lesson = current.lessons.find((l) => l.id === lessonId);
  if (!lesson) return absentLessonReason(current, journalId);
  if (lesson.journalId !== journalId) return 'lessonNotInJournal';
  if (!isTodayOrTomorrow(lesson.date, current.timeZone, args.now)) {
    if (patched(PATCH_MANUAL_TODAY_OR_TOMORROW)) return 'lessonNotTodayOrTomorrow';
  }
  if (!lesson.online) return 'lessonNotOnline';
  return null;
}
