import { z } from 'zod';
import { ROOT, formatPath } from '../contracts/zod-issues';

import {
  idSchema,
  rosterCollections,
  rosterRecordSchemas,
  schoolSchema,
  type ChangeSet,
  type Journal,
  type RosterCollection,
  type RosterRecordTypes,
  type RosterSnapshot,
  type School,
} from '../contracts/roster';

/**
 * Validation of an import before anything is written: the zod schemas per record plus the checks
 * zod cannot do alone (unique IDs, references between collections). Every problem is collected,
 * so one rejected file lists everything wrong with it. Pure, so the API can answer before the
 * store is touched.
 */

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
interface Located<T> {
  readonly value: T;
  readonly path: string | null;
}

type LocatedRoster = { [C in RosterCollection]: Located<RecordTypes[C]>[] };
type KnownIds = Record<RosterCollection, Set<string>>;

const nouns: Record<RosterCollection, string> = {
  staff: 'staff member',
  classes: 'class',
  students: 'student',
  parents: 'parent',
  journals: 'journal',
  lessons: 'lesson',
  templates: 'template',
};

/**
 * The change set's outer shape only; its records are parsed one by one below so each error keeps
 * its own path. The full `changeSetSchema` is the documented contract and produces the same result.
 */
const changeSetShape = z.strictObject({
  schoolId: idSchema,
  upsert: z.record(z.string(), z.unknown()).default({}),
  remove: z.record(z.string(), z.unknown()).default({}),
});

/**
 * A rejected import lists at most this many errors, and validation stops once it has them: a
 * file of a million broken records must cost what a file of a few does, not a reply of gigabytes.
 */
export const MAX_ROSTER_ISSUES = 200;

/** The list as returned: the first `MAX_ROSTER_ISSUES`, then a line saying more were not checked. */
function capped(errors: RosterIssue[]): RosterIssue[] {
  if (errors.length < MAX_ROSTER_ISSUES) return errors;
  return [
    ...errors.slice(0, MAX_ROSTER_ISSUES),
    {
      path: ROOT,
      message: `validation stopped after ${MAX_ROSTER_ISSUES} errors; fix these and import again`,
    },
  ];
}

export { ROOT, formatPath };

function zodIssues(error: z.ZodError, prefix: string): RosterIssue[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          path: formatPath([...issue.path, key], prefix),
          message: 'unknown field',
        }))
      : [{ path: formatPath(issue.path, prefix), message: issue.message }],
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function emptyLocated(): LocatedRoster {
  return {
    staff: [],
    classes: [],
    students: [],
    parents: [],
    journals: [],
    lessons: [],
    templates: [],
  };
}

function emptyKnown(): KnownIds {
  return {
    staff: new Set(),
    classes: new Set(),
    students: new Set(),
    parents: new Set(),
    journals: new Set(),
    lessons: new Set(),
    templates: new Set(),
  };
}

/**
 * Parses each record on its own so one bad record does not hide the problems of the others, and
 * remembers every ID that looks valid, so a record with a bad name does not also make everything
 * pointing at it "missing".
 */
function parseRecords<C extends RosterCollection>(
  collection: C,
  raw: unknown,
  prefix: string,
  errors: RosterIssue[],
  known: KnownIds,
): Located<RecordTypes[C]>[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    errors.push({ path: prefix, message: 'expected an array' });
    return [];
  }
  const schema = rosterRecordSchemas[collection] as unknown as z.ZodType<RecordTypes[C]>;
  const parsed: Located<RecordTypes[C]>[] = [];
  for (const [index, item] of (raw as unknown[]).entries()) {
    if (errors.length >= MAX_ROSTER_ISSUES) break;
    const path = `${prefix}[${index}]`;
    if (isRecord(item) && idSchema.safeParse(item.id).success)
      known[collection].add(item.id as string);
    const result = schema.safeParse(item);
    if (result.success) parsed.push({ value: result.data, path });
    else errors.push(...zodIssues(result.error, path));
  }
  return parsed;
}

type MissingReporter = (
  source: Located<{ id: string }>,
  sourceCollection: RosterCollection,
  field: string,
  target: RosterCollection,
  targetId: string,
) => RosterIssue;

const reportMissingAtSource: MissingReporter = (
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
function checkReferences(
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

/** An import lists at most this many warnings, for the reason it caps its errors. */
export const MAX_ROSTER_WARNINGS = 200;

/** V1 and C2: only a general-education journal with the subject-chat option has the online switch. */
export function journalCanHaveCalls(journal: Pick<Journal, 'kind' | 'subjectChat'>): boolean {
  return journal.kind === 'general' && journal.subjectChat;
}

function pathOf(record: Located<{ id: string }>, collection: RosterCollection): string {
  return record.path ?? `${collection}[id=${record.value.id}]`;
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

function rosterWarnings(roster: LocatedRoster): RosterWarning[] {
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
function withoutImpossibleOnline(roster: RosterSnapshot): RosterSnapshot {
  const noCalls = new Set(roster.journals.filter((j) => !journalCanHaveCalls(j)).map((j) => j.id));
  if (!roster.lessons.some((l) => l.online && noCalls.has(l.journalId))) return roster;
  return {
    ...roster,
    lessons: roster.lessons.map((l) =>
      l.online && noCalls.has(l.journalId) ? { ...l, online: false } : l,
    ),
  };
}

/** A whole school. */
export function validateSnapshot(input: unknown): Validation<RosterSnapshot> {
  if (!isRecord(input))
    return { ok: false, errors: [{ path: ROOT, message: 'expected a JSON object' }] };
  const errors: RosterIssue[] = [];
  for (const key of Object.keys(input)) {
    if (key !== 'school' && !(rosterCollections as readonly string[]).includes(key))
      errors.push({ path: formatPath([key]), message: 'unknown collection' });
  }
  const school = schoolSchema.safeParse(input.school);
  if (!school.success) errors.push(...zodIssues(school.error, 'school'));

  const known = emptyKnown();
  const located = emptyLocated();
  for (const collection of rosterCollections) {
    (located[collection] as Located<unknown>[]) = parseRecords(
      collection,
      input[collection],
      collection,
      errors,
      known,
    );
  }
  if (errors.length >= MAX_ROSTER_ISSUES) return { ok: false, errors: capped(errors) };
  errors.push(...checkReferences(located, known, reportMissingAtSource));
  if (errors.length > 0 || !school.success) return { ok: false, errors: capped(errors) };
  return {
    ok: true,
    value: withoutImpossibleOnline(toSnapshot(school.data, located)),
    warnings: rosterWarnings(located),
  };
}

function toSnapshot(school: School, located: LocatedRoster): RosterSnapshot {
  const values = <T>(list: readonly Located<T>[]): T[] => list.map((l) => l.value);
  return {
    school,
    staff: values(located.staff),
    classes: values(located.classes),
    students: values(located.students),
    parents: values(located.parents),
    journals: values(located.journals),
    lessons: values(located.lessons),
    templates: values(located.templates),
  };
}

/**
 * The change set's outer shape alone (a school ID, `upsert` and `remove` objects, nothing else):
 * what can be said before the stored roster it applies to is read. Returns the school ID.
 */
export function validateChangeSetShape(input: unknown): Validation<string> {
  if (!isRecord(input))
    return { ok: false, errors: [{ path: ROOT, message: 'expected a JSON object' }] };
  const shape = changeSetShape.safeParse(input);
  if (!shape.success) return { ok: false, errors: capped(zodIssues(shape.error, '')) };
  return { ok: true, value: shape.data.schoolId, warnings: [] };
}

/**
 * A change set against the stored roster: the change set's own shape, then the roster it would
 * produce. A stored record that a removal would leave dangling is reported at the removal.
 */
export function validateChangeSet(
  input: unknown,
  current: RosterSnapshot,
): Validation<{ changeSet: ChangeSet; next: RosterSnapshot }> {
  if (!isRecord(input))
    return { ok: false, errors: [{ path: ROOT, message: 'expected a JSON object' }] };
  const errors: RosterIssue[] = [];
  const shape = changeSetShape.safeParse(input);
  if (!shape.success) return { ok: false, errors: capped(zodIssues(shape.error, '')) };
  if (shape.data.schoolId !== current.school.id) {
    errors.push({ path: 'schoolId', message: 'does not match the stored school' });
  }

  const upsertKnown = emptyKnown();
  const upserts = emptyLocated();
  const removals = new Map<RosterCollection, Map<string, number>>();
  for (const key of Object.keys(shape.data.upsert)) {
    if (!(rosterCollections as readonly string[]).includes(key)) {
      errors.push({ path: `upsert.${key}`, message: 'unknown collection' });
    }
  }
  for (const key of Object.keys(shape.data.remove)) {
    if (!(rosterCollections as readonly string[]).includes(key)) {
      errors.push({ path: `remove.${key}`, message: 'unknown collection' });
    }
  }
  for (const collection of rosterCollections) {
    (upserts[collection] as Located<unknown>[]) = parseRecords(
      collection,
      shape.data.upsert[collection],
      `upsert.${collection}`,
      errors,
      upsertKnown,
    );
    const rawIds = shape.data.remove[collection];
    if (rawIds === undefined) continue;
    if (!Array.isArray(rawIds)) {
      errors.push({ path: `remove.${collection}`, message: 'expected an array' });
      continue;
    }
    const positions = new Map<string, number>();
    for (const [i, raw] of (rawIds as unknown[]).entries()) {
      if (errors.length >= MAX_ROSTER_ISSUES) break;
      const id = idSchema.safeParse(raw);
      if (!id.success) {
        errors.push(...zodIssues(id.error, `remove.${collection}[${i}]`));
        continue;
      }
      if (upsertKnown[collection].has(id.data)) {
        errors.push({
          path: `remove.${collection}[${i}]`,
          message: `"${id.data}" is also in upsert.${collection}`,
        });
      }
      if (!positions.has(id.data)) positions.set(id.data, i);
    }
    removals.set(collection, positions);
  }
  if (errors.length >= MAX_ROSTER_ISSUES) return { ok: false, errors: capped(errors) };

  const changeSet: ChangeSet = { schoolId: shape.data.schoolId, upsert: {}, remove: {} };
  for (const collection of rosterCollections) {
    if (shape.data.upsert[collection] !== undefined) {
      (changeSet.upsert[collection] as unknown[]) = upserts[collection].map((l) => l.value);
    }
    const removed = removals.get(collection);
    if (removed) changeSet.remove[collection] = [...removed.keys()];
  }

  const next = applyChangeSet(current, changeSet);
  const located = emptyLocated();
  const known = emptyKnown();
  for (const collection of rosterCollections) {
    const fromUpsert = new Set(upserts[collection].map((l) => (l.value as { id: string }).id));
    const stored = (next[collection] as { id: string }[])
      .filter((r) => !fromUpsert.has(r.id))
      .map((value) => ({ value, path: null }));
    (located[collection] as Located<unknown>[]) = [...stored, ...upserts[collection]];
    for (const record of next[collection] as { id: string }[]) known[collection].add(record.id);
    for (const id of upsertKnown[collection]) known[collection].add(id);
  }

  const reportMissing: MissingReporter = (source, sourceCollection, field, target, targetId) => {
    const removedAt = removals.get(target)?.get(targetId);
    if (source.path !== null || removedAt === undefined) {
      return reportMissingAtSource(source, sourceCollection, field, target, targetId);
    }
    return {
      path: `remove.${target}[${removedAt}]`,
      message: `still referenced by ${nouns[sourceCollection]} "${source.value.id}" (${field})`,
    };
  };
  errors.push(...checkReferences(located, known, reportMissing));
  if (errors.length > 0) return { ok: false, errors: capped(errors) };
  return {
    ok: true,
    value: { changeSet, next: withoutImpossibleOnline(next) },
    warnings: rosterWarnings(located),
  };
}

/** The roster a change set produces: removals first, then upserts replace or append by ID. */
export function applyChangeSet(current: RosterSnapshot, changeSet: ChangeSet): RosterSnapshot {
  const next: RosterSnapshot = { ...current };
  for (const collection of rosterCollections) {
    const removed = new Set(changeSet.remove[collection] ?? []);
    const upserted = (changeSet.upsert[collection] ?? []) as { id: string }[];
    if (removed.size === 0 && upserted.length === 0) continue;
    const replacements = new Map(upserted.map((r) => [r.id, r]));
    const kept = (current[collection] as { id: string }[])
      .filter((r) => !removed.has(r.id))
      .map((r) => replacements.get(r.id) ?? r);
    const existing = new Set(kept.map((r) => r.id));
    const appended = upserted.filter((r) => !existing.has(r.id) && !removed.has(r.id));
    (next[collection] as { id: string }[]) = [...kept, ...appended];
  }
  return next;
}

export interface CollectionChanges {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

export type RosterChanges = Record<RosterCollection, CollectionChanges>;

/** Which records an import adds, changes and removes: IDs only, for the change log. */
export function diffRosters(previous: RosterSnapshot | null, next: RosterSnapshot): RosterChanges {
  const out = {} as RosterChanges;
  for (const collection of rosterCollections) {
    const before = new Map(
      ((previous?.[collection] ?? []) as { id: string }[]).map(
        (r) => [r.id, JSON.stringify(r)] as const,
      ),
    );
    const changes: CollectionChanges = { added: [], changed: [], removed: [] };
    const seen = new Set<string>();
    for (const record of next[collection] as { id: string }[]) {
      seen.add(record.id);
      const old = before.get(record.id);
      if (old === undefined) changes.added.push(record.id);
      else if (old !== JSON.stringify(record)) changes.changed.push(record.id);
    }
    for (const id of before.keys()) if (!seen.has(id)) changes.removed.push(id);
    out[collection] = changes;
  }
  return out;
}
