import { rosterCollections, type RosterCollection } from '../contracts/roster';
import {
  nouns,
  type KnownIds,
  type Located,
  type LocatedRoster,
  type RosterIssue,
} from './roster-issues';

/** The checks of an import that zod cannot make alone: unique IDs and references between collections. */

export type MissingReporter = (
  source: Located<{ id: string }>,
  sourceCollection: RosterCollection,
  field: string,
  target: RosterCollection,
  targetId: string,
) => RosterIssue;

export const reportMissingAtSource: MissingReporter = (
  source,
  sourceCollection,
  field,
  target,
  targetId,
) => ({
  path: `${source.path ?? `${sourceCollection}[id=${source.value.id}]`}.${field}`,
  message: `${nouns[target]} "${targetId}" does not exist`,
});

/** Unique IDs and every reference between collections, over records that passed their schema. */
export function checkReferences(
  roster: LocatedRoster,
  known: KnownIds,
  onMissing: MissingReporter,
): RosterIssue[] {
  const errors: RosterIssue[] = [];

  for (const collection of rosterCollections) {
    const firstAt = new Map<string, string>();
    for (const record of roster[collection] as Located<{ id: string }>[]) {
      const earlier = firstAt.get(record.value.id);
      if (earlier === undefined) {
        firstAt.set(record.value.id, record.path ?? '');
      } else if (record.path !== null) {
        errors.push({
          path: `${record.path}.id`,
          message: `duplicate id "${record.value.id}"${earlier ? `, first at ${earlier}` : ' (already stored)'}`,
        });
      }
    }
  }

  const ref = (
    source: Located<{ id: string }>,
    sourceCollection: RosterCollection,
    field: string,
    target: RosterCollection,
    id: string,
  ): void => {
    if (!known[target].has(id)) errors.push(onMissing(source, sourceCollection, field, target, id));
  };

  for (const cls of roster.classes) {
    if (cls.value.classTeacherId !== null)
      ref(cls, 'classes', 'classTeacherId', 'staff', cls.value.classTeacherId);
  }
  for (const student of roster.students)
    ref(student, 'students', 'classId', 'classes', student.value.classId);
  for (const parent of roster.parents) {
    parent.value.childIds.forEach((id, i) =>
      ref(parent, 'parents', `childIds[${i}]`, 'students', id),
    );
  }
  for (const journal of roster.journals) {
    ref(journal, 'journals', 'classId', 'classes', journal.value.classId);
    journal.value.teacherIds.forEach((id, i) =>
      ref(journal, 'journals', `teacherIds[${i}]`, 'staff', id),
    );
    journal.value.studentIds?.forEach((id, i) =>
      ref(journal, 'journals', `studentIds[${i}]`, 'students', id),
    );
  }
  for (const lesson of roster.lessons)
    ref(lesson, 'lessons', 'journalId', 'journals', lesson.value.journalId);
  for (const template of roster.templates) {
    template.value.entries.forEach((entry, i) =>
      ref(template, 'templates', `entries[${i}].journalId`, 'journals', entry.journalId),
    );
    if (template.path === null) continue;
    const { validFrom, validTo, grid } = template.value;
    if (validFrom !== null && validTo !== null && validTo < validFrom) {
      errors.push({ path: `${template.path}.validTo`, message: 'is before validFrom' });
    }
    const numbers = new Set<number>();
    grid.forEach((row, i) => {
      if (numbers.has(row.number)) {
        errors.push({
          path: `${template.path}.grid[${i}].number`,
          message: `lesson ${row.number} appears twice`,
        });
      }
      numbers.add(row.number);
      if (row.start !== null && row.end !== null && row.end <= row.start) {
        errors.push({ path: `${template.path}.grid[${i}].end`, message: 'is not after start' });
      }
    });
  }
  return errors;
}
