import { z } from 'zod';
import { ROOT, formatPath } from '../contracts/zod-issues';

import {
  idSchema,
  rosterCollections,
  rosterRecordSchemas,
  schoolSchema,
  type ChangeSet,
  type RosterCollection,
  type RosterRecordTypes,
  type RosterSnapshot,
  type School,
} from '../contracts/roster';
import {
  nouns,
  type KnownIds,
  type Located,
  type LocatedRoster,
  type RosterIssue,
  type Validation,
} from './roster-issues';
import { applyChangeSet } from './roster-changes';
import { checkReferences, reportMissingAtSource, type MissingReporter } from './roster-references';
import { rosterWarnings, withoutImpossibleOnline } from './roster-warnings';

/**
 * Validation of an import before anything is written: the zod schemas per record plus the checks
 * zod cannot do alone (unique IDs, references between collections). Every problem is collected,
 * so one rejected file lists everything wrong with it. Pure, so the API can answer before the
 * store is touched.
 */

/**
 * The change set's outer shape only; its records are parsed one by one below so each error keeps
 * its own path. The full `changeSetSchema` is the documented contract and produces the same result.
 */
type RecordTypes = RosterRecordTypes;

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
