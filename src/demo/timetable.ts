import type { Journal, Lesson, SchoolClass, Template, TemplateEntry } from '../contracts/roster';
import { LESSON_GRID } from './curriculum';
import type { Random } from './random';

/** What the timetable is built from: the school generated so far and its seeded generator. */
export interface GeneratedSchool {
  readonly random: Random;
  readonly today: string;
  readonly size: 'small' | 'large';
  readonly classes: readonly SchoolClass[];
  readonly journals: readonly Journal[];
  /** Weekly hours per journal. */
  readonly hours: ReadonlyMap<string, number>;
  /** Journals of a subgroup pair, which share their timetable slots. */
  readonly splitPartner: ReadonlyMap<string, string>;
}

/** One template for the school year: a six-day week, each class's weekly hours shuffled into its slots. */
export function buildTemplate(school: GeneratedSchool): Template {
  const entries: TemplateEntry[] = [];
  const slotsPerDay = (grade: number): number =>
    grade <= 1 ? 4 : grade <= 4 ? 5 : grade <= 8 ? 6 : 7;
  for (const cls of school.classes) {
    const perDay = slotsPerDay(Number.parseInt(cls.name, 10));
    const weekly: string[] = [];
    for (const journal of school.journals) {
      if (journal.classId !== cls.id || school.splitPartner.has(journal.id)) continue;
      for (let h = 0; h < (school.hours.get(journal.id) ?? 0); h++) weekly.push(journal.id);
    }
    const slots = school.random.shuffle(weekly);
    for (let i = 0; i < slots.length && i < perDay * 6; i++) {
      const journalId = slots[i] as string;
      const weekday = (i % 6) + 1;
      const number = Math.floor(i / 6) + 1;
      entries.push({ journalId, weekday, number });
    }
  }
  // A subgroup's partner sits in the same slot, in the other classroom.
  const partners = new Map<string, string>();
  for (const [second, first] of school.splitPartner) partners.set(first, second);
  for (const entry of [...entries]) {
    const second = partners.get(entry.journalId);
    if (second) entries.push({ ...entry, journalId: second });
  }
  const year =
    Number.parseInt(school.today.slice(0, 4), 10) -
    (Number.parseInt(school.today.slice(5, 7), 10) < 9 ? 1 : 0);
  return {
    id: 'tpl-main',
    validFrom: `${year}-09-01`,
    validTo: `${year + 1}-08-31`,
    sendToPortal: true,
    grid: [...LESSON_GRID],
    entries,
  };
}

/** Lessons for today and tomorrow from the template; online ones only where the journal allows it (V1). */
export function buildLessons(school: GeneratedSchool, template: Template): Lesson[] {
  const lessons: Lesson[] = [];
  const journalsById = new Map(school.journals.map((j) => [j.id, j]));
  const dates = [school.today, addDays(school.today, 1)];
  for (const [dayIndex, date] of dates.entries()) {
    const weekday = isoWeekday(date);
    for (const entry of template.entries) {
      if (entry.weekday !== weekday) continue;
      const journal = journalsById.get(entry.journalId);
      if (!journal) continue;
      lessons.push(lessonOf(school.random, journal, date, entry.number, dayIndex));
    }
  }
  if (school.size === 'small') {
    // The demo must have an online lesson whatever weekday it runs on: a make-up lesson when
    // the timetable has none today.
    const demo = school.journals.find(
      (j) => j.kind === 'general' && j.subjectChat && j.studentIds === undefined,
    );
    if (demo) {
      for (const [dayIndex, date] of dates.entries()) {
        if (lessons.some((l) => l.journalId === demo.id && l.date === date)) continue;
        lessons.push(lessonOf(school.random, demo, date, 7, dayIndex));
      }
      for (const l of lessons) {
        if (l.journalId === demo.id) {
          l.online = true;
          if (l.date === school.today) l.status = 'published';
        }
      }
    }
  }
  return lessons.sort((a, b) =>
    a.date !== b.date
      ? a.date < b.date
        ? -1
        : 1
      : a.number - b.number || (a.journalId < b.journalId ? -1 : 1),
  );
}

function lessonOf(
  random: Random,
  journal: Journal,
  date: string,
  number: number,
  dayIndex: number,
): Lesson {
  const online = journal.subjectChat && journal.kind === 'general' && random.chance(0.5);
  // Today's lessons are mostly published already; tomorrow's mostly still drafts.
  const status =
    dayIndex === 0
      ? random.chance(0.85)
        ? 'published'
        : 'draft'
      : random.chance(0.3)
        ? 'published'
        : 'draft';
  return {
    id: `les-${journal.id}-${date}-${number}`,
    journalId: journal.id,
    date,
    number,
    online,
    status,
  };
}

function addDays(date: string, days: number): string {
  const ms = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

/** ISO weekday, 1 = Monday … 7 = Sunday. */
function isoWeekday(date: string): number {
  const day = new Date(Date.parse(`${date}T00:00:00Z`)).getUTCDay();
  return day === 0 ? 7 : day;
}
