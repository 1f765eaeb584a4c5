import type { RosterCollection, RosterRecordTypes } from '../contracts/roster';

/** What validating an import says: its errors and warnings, and the parsed records they point at. */

export interface RosterIssue {
  /** Where in the submitted document, e.g. `students[3].classId` or `upsert.parents[0].childIds[1]`. */
  readonly path: string;
  readonly message: string;
}

/**
 * Something an import accepts but changes or ignores, said on the import's reply so the school
 * hears of it at once rather than finding a chat or a call missing later.
 */
export const rosterWarningCodes = [
  /** C3: a subgroup lists a student of another class (moved since): not in the subject chat. */
  'subgroupStudentOutsideClass',
  /** V1/C2: an online lesson in a journal that cannot have calls: stored as not online. */
  'onlineLessonWithoutCalls',
  /** More warnings than are listed. */
  'moreWarnings',
] as const;
export type RosterWarningCode = (typeof rosterWarningCodes)[number];

export interface RosterWarning extends RosterIssue {
  readonly code: RosterWarningCode;
}

export type Validation<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: RosterWarning[] }
  | { readonly ok: false; readonly errors: RosterIssue[] };

type RecordTypes = RosterRecordTypes;

/** A parsed record and where it came from; `path` is null for records already stored. */
export interface Located<T> {
  readonly value: T;
  readonly path: string | null;
}

export type LocatedRoster = { [C in RosterCollection]: Located<RecordTypes[C]>[] };
export type KnownIds = Record<RosterCollection, Set<string>>;

export const nouns: Record<RosterCollection, string> = {
  staff: 'staff member',
  classes: 'class',
  students: 'student',
  parents: 'parent',
  journals: 'journal',
  lessons: 'lesson',
  templates: 'template',
};

/** Where a record is: its path in the submitted document, or its ID when it was already stored. */
export function pathOf(record: Located<{ id: string }>, collection: RosterCollection): string {
  return record.path ?? `${collection}[id=${record.value.id}]`;
}
