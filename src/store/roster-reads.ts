import type { Document } from 'mongodb';
import {
  schoolSchema,
  type Lesson,
  type RosterCollection,
  type RosterSnapshot,
  type School,
  type Template,
} from '../contracts/roster';
import {
  READ_ATTEMPTS,
  hiddenFields,
  isDuplicateKey,
  packRecords,
  packedRosterId,
  packedRosterSchema,
  parseStored,
  unpackRecords,
  type RecordTypes,
  type RosterDb,
  type RosterRecords,
} from './roster-docs';

/** Reading the current roster version: whole (packed when it can be), or record by record. */

/**
 * Schools whose templates a store keeps parsed. A version's templates never change (in-place
 * edits touch lessons and people; anything else writes a new version), and every journal of a
 * school reads them: at a city's midnight, thousands of journal loads per school version.
 */
const TEMPLATE_CACHE_SCHOOLS = 64;

/** Where the stored roster stands: the version readers see and the count of in-place edits. */
export interface RosterState {
  readonly version: number;
  readonly revision: number;
}

export async function getState(ctx: RosterDb, schoolId: string): Promise<RosterState | null> {
  const doc = await ctx.schools.findOne(
    { _id: schoolId },
    { projection: { currentVersion: 1, revision: 1 } },
  );
  if (typeof doc?.currentVersion !== 'number') return null;
  return { version: doc.currentVersion, revision: doc.revision ?? 0 };
}

export async function readAll<C extends RosterCollection>(
  ctx: RosterDb,
  collection: C,
  schoolId: string,
  version: number,
): Promise<RecordTypes[C][]> {
  // Sorting by _id returns records in the order the import listed them.
  const docs = await ctx
    .col(collection)
    .find({ schoolId, version }, { projection: hiddenFields, sort: { _id: 1 } })
    .toArray();
  return docs.map((doc) => parseStored(collection, doc));
}

export async function readOne<C extends RosterCollection>(
  ctx: RosterDb,
  collection: C,
  schoolId: string,
  filter: Document,
): Promise<RecordTypes[C] | null> {
  const state = await getState(ctx, schoolId);
  if (!state) return null;
  const doc = await ctx
    .col(collection)
    .findOne({ schoolId, version: state.version, ...filter }, { projection: hiddenFields });
  return doc ? parseStored(collection, doc) : null;
}

export function templatesAt(ctx: RosterDb, schoolId: string, version: number): Promise<Template[]> {
  const key = `${schoolId}\u0000${version}`;
  const cached = ctx.templateCache.get(key);
  if (cached) {
    // Most recently used last, so the first key is the one to evict.
    ctx.templateCache.delete(key);
    ctx.templateCache.set(key, cached);
    return cached;
  }
  const read = readAll(ctx, 'templates', schoolId, version);
  ctx.templateCache.set(key, read);
  read.catch(() => ctx.templateCache.delete(key));
  for (const oldest of ctx.templateCache.keys()) {
    if (ctx.templateCache.size <= TEMPLATE_CACHE_SCHOOLS) break;
    ctx.templateCache.delete(oldest);
  }
  return read;
}

export async function lessonsAt(
  ctx: RosterDb,
  args: {
    schoolId: string;
    version: number;
    journalId: string;
    dates: readonly string[];
  },
): Promise<Lesson[]> {
  const docs = await ctx
    .col('lessons')
    .find(
      {
        schoolId: args.schoolId,
        version: args.version,
        journalId: args.journalId,
        date: { $in: [...args.dates] },
      },
      { projection: hiddenFields },
    )
    .toArray();
  return docs
    .map((doc) => parseStored('lessons', doc))
    .sort((a, b) => (a.date !== b.date ? (a.date < b.date ? -1 : 1) : a.number - b.number));
}

export async function getSchool(ctx: RosterDb, schoolId: string): Promise<School | null> {
  const doc = await ctx.schools.findOne({ _id: schoolId });
  if (typeof doc?.currentVersion !== 'number') return null;
  return schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
}

export async function readRecords(
  ctx: RosterDb,
  schoolId: string,
  version: number,
): Promise<RosterRecords> {
  const [staff, classes, students, parents, journals, lessons, templates] = await Promise.all([
    readAll(ctx, 'staff', schoolId, version),
    readAll(ctx, 'classes', schoolId, version),
    readAll(ctx, 'students', schoolId, version),
    readAll(ctx, 'parents', schoolId, version),
    readAll(ctx, 'journals', schoolId, version),
    readAll(ctx, 'lessons', schoolId, version),
    readAll(ctx, 'templates', schoolId, version),
  ]);
  return { staff, classes, students, parents, journals, lessons, templates };
}

/** The version's packed records if they include exactly `edits` in-place edits. */
export async function readPacked(
  ctx: RosterDb,
  schoolId: string,
  version: number,
  edits: number,
): Promise<RosterRecords | null> {
  const doc = await ctx.packedRosters.findOne({ _id: packedRosterId(schoolId, version) });
  if (!doc) return null;
  const parsed = packedRosterSchema.safeParse(doc);
  if (!parsed.success) {
    throw new Error(`Stored packed roster ${schoolId} v${version} is invalid`);
  }
  return parsed.data.edits === edits ? unpackRecords(parsed.data.data) : null;
}

/**
 * Keeps records read at `edits` packed, unless a packed copy with as many edits or more is
 * there already (the upsert then collides on `_id`, which is the answer).
 */
export async function pack(
  ctx: RosterDb,
  schoolId: string,
  version: number,
  edits: number,
  records: RosterRecords,
): Promise<void> {
  const data = packRecords(records);
  if (!data) return;
  const _id = packedRosterId(schoolId, version);
  try {
    await ctx.packedRosters.replaceOne(
      { _id, edits: { $lt: edits } },
      { schoolId, version, edits, data },
      { upsert: true },
    );
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

export async function loadRosterWithState(
  ctx: RosterDb,
  schoolId: string,
): Promise<{ snapshot: RosterSnapshot; state: RosterState } | null> {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const doc = await ctx.schools.findOne({ _id: schoolId });
    if (typeof doc?.currentVersion !== 'number') return null;
    const version = doc.currentVersion;
    // Read before the records: an edit counts itself after it has written its record.
    const edits = doc.versionEdits ?? 0;
    const school = schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
    const state = { version, revision: doc.revision ?? 0 };
    const packed = await readPacked(ctx, schoolId, version, edits);
    if (packed) return { snapshot: { school, ...packed }, state };

    const records = await readRecords(ctx, schoolId, version);
    // An import that flipped meanwhile may have swept some of the records read: read again.
    if ((await getState(ctx, schoolId))?.version !== version) continue;
    await pack(ctx, schoolId, version, edits, records);
    return { snapshot: { school, ...records }, state };
  }
  throw new Error(`The roster of school ${schoolId} kept changing while it was read`);
}
