import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, type Db, type Document } from 'mongodb';
import { z } from 'zod';

import { ErrorType, TypedError } from '../contracts/errors';
import {
  rosterCollections,
  rosterRecordSchemas,
  schoolSchema,
  type Journal,
  type Lesson,
  type LessonStatus,
  type Parent,
  type PersonKind,
  type RosterCollection,
  type RosterSnapshot,
  type School,
  type SchoolClass,
  type Staff,
  type Student,
  type Template,
} from '../contracts/roster';

/**
 * The roster in MongoDB, written as versioned snapshots so an import never leaves a half-written
 * roster, without multi-document transactions (FerretDB has none):
 *
 * - every roster document carries `{ schoolId, version }`; readers only see the version named by
 *   `schools.currentVersion`;
 * - an import takes a fresh version number, writes all of its documents, then flips
 *   `currentVersion` with one single-document compare-and-set on the version it started from;
 * - after the flip every older version of the school is deleted, which also sweeps the leftovers
 *   of an import that died half-way (they carry a version that never became current).
 *
 * Small in-place edits (a lesson's online switch, a VK ID link) touch the current version's
 * document and then bump `schools.revision` with a compare-and-set on the same version. If an
 * import flipped meanwhile the edit is redone on the new version; a change set built from the
 * roster before the edit refuses to flip because the revision moved. So an edit is only ever
 * overwritten by a full snapshot that flips after it, and a snapshot is the school system's word.
 *
 * Reading a whole roster record by record is slow on FerretDB's SQLite backend (no filter
 * pushdown: some 65 µs per document, a quarter of a second for a large school), and every sync
 * run and change set reads it whole. So each version is also kept packed, in one gzip-compressed
 * document of `roster_snapshots`, tagged with how many in-place edits it includes. The records
 * stay the source of truth: a packed copy is used only while `schools.versionEdits` (in-place
 * edits since the flip) equals its tag, and a reader that had to read the records packs them again.
 */

export const SCHOOLS = 'schools';
/** One packed copy of each roster version (see above). */
export const ROSTER_SNAPSHOTS = 'roster_snapshots';

/** Roster collection names in MongoDB, one per snapshot collection. */
export const rosterCollectionNames: Readonly<Record<RosterCollection, string>> = {
  staff: 'staff',
  classes: 'classes',
  students: 'students',
  parents: 'parents',
  journals: 'journals',
  lessons: 'lessons',
  templates: 'templates',
};

const personCollections: Readonly<Record<PersonKind, 'staff' | 'students' | 'parents'>> = {
  staff: 'staff',
  student: 'students',
  parent: 'parents',
};

/** Documents per insert: small enough to keep each write short, large enough to import 5,000 records quickly. */
const WRITE_BATCH = 500;
const EDIT_ATTEMPTS = 5;
/** Reads of a whole roster an import may overtake before the reader gives up. */
const READ_ATTEMPTS = 5;
/** A packed roster larger than this is not kept (MongoDB's document limit is 16 MiB). */
const MAX_PACKED_BYTES = 8 * 1024 * 1024;

interface SchoolDoc {
  _id: string;
  name?: string;
  timeZone?: string;
  currentVersion?: number | null;
  versionSeq?: number;
  revision?: number;
  /** In-place edits of the current version since it became current. */
  versionEdits?: number;
  rosterUpdatedAt?: Date;
}

/**
 * Packed copies are found by `_id`, the one lookup FerretDB's SQLite backend pushes down: a city's
 * packed rosters are tens of megabytes that a filter on other fields would read through.
 */
const packedRosterId = (schoolId: string, version: number): string => `${schoolId}/v${version}`;

const packedRosterSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  version: z.number().int(),
  edits: z.number().int(),
  data: z.instanceof(Binary),
});
type PackedRoster = z.infer<typeof packedRosterSchema>;

/** The packed records, each still parsed with its collection's schema when read. */
const packedRecordsSchema = z.object(
  Object.fromEntries(rosterCollections.map((c) => [c, z.array(z.unknown())])) as Record<
    RosterCollection,
    z.ZodArray<z.ZodUnknown>
  >,
);

interface RecordTypes {
  staff: Staff;
  classes: SchoolClass;
  students: Student;
  parents: Parent;
  journals: Journal;
  lessons: Lesson;
  templates: Template;
}

export interface JournalPlanInputs {
  readonly school: School;
  readonly journal: Journal | null;
  readonly lessons: Lesson[];
  readonly templates: Template[];
}

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

export interface WriteProgress {
  readonly version: number;
  readonly written: number;
  readonly total: number;
}

export interface ReplaceRosterArgs {
  readonly snapshot: RosterSnapshot;
  /**
   * The state the new roster was derived from (a change set). The flip is refused if the roster
   * moved since, in-place edits included. A full snapshot passes null: it replaces whatever is there.
   */
  readonly basedOn: RosterState | null;
  /** Called after each batch is written; lets a test stop the process in the middle of an import. */
  readonly onProgress?: (progress: WriteProgress) => Promise<void> | void;
}

export interface RosterStore {
  getSchool(schoolId: string): Promise<School | null>;
  getState(schoolId: string): Promise<RosterState | null>;
  /** The whole current roster, every document validated; null before the first import. */
  loadRoster(schoolId: string): Promise<RosterSnapshot | null>;
  /** The current version's journals only: cheaper than the whole roster when that is all it takes. */
  listJournals(schoolId: string): Promise<Journal[]>;
  /** Every lesson of the current version, all journals and dates. */
  listSchoolLessons(schoolId: string): Promise<Lesson[]>;
  /** The roster and the state it was read at, for building a change set on top of it. */
  loadRosterWithState(
    schoolId: string,
  ): Promise<{ snapshot: RosterSnapshot; state: RosterState } | null>;
  getJournal(args: { schoolId: string; journalId: string }): Promise<Journal | null>;
  /** The journal's lessons on the given dates, by date and lesson number. */
  listLessons(args: {
    schoolId: string;
    journalId: string;
    dates: readonly string[];
  }): Promise<Lesson[]>;
  getLesson(args: { schoolId: string; lessonId: string }): Promise<Lesson | null>;
  listTemplates(schoolId: string): Promise<Template[]>;
  /**
   * What a journal's calls are planned from, read at one roster version: the school, the journal
   * (null if the roster has no such journal), its lessons on the dates `dates` picks in the
   * school's time zone, and the school's templates. Null before the school's first import.
   */
  journalPlanInputs(args: {
    schoolId: string;
    journalId: string;
    dates: (timeZone: string) => readonly string[];
  }): Promise<JournalPlanInputs | null>;
  /**
   * The template that governs the journal: one with an entry for it (preferring those sent to the
   * portal, then the latest start), else the portal template so V7 can say what it lacks.
   */
  getTemplateForJournal(args: { schoolId: string; journalId: string }): Promise<Template | null>;
  /** Switches a lesson online or changes its status in place; null if there is no such lesson. */
  updateLesson(args: {
    schoolId: string;
    lessonId: string;
    patch: { online?: boolean; status?: LessonStatus };
  }): Promise<Lesson | null>;
  /** Links (a number) or unlinks (null) a person's VK ID in place; null if there is no such person. */
  setPersonVkId(args: {
    schoolId: string;
    personKind: PersonKind;
    personId: string;
    vkId: number | null;
  }): Promise<{ previousVkId: number | null } | null>;
  /** Writes a new version and makes it current; returns the version it replaced. */
  replaceRoster(
    args: ReplaceRosterArgs,
  ): Promise<{ version: number; previousVersion: number | null }>;
}

export async function ensureRosterIndexes(db: Db): Promise<void> {
  for (const collection of rosterCollections) {
    await db
      .collection(rosterCollectionNames[collection])
      .createIndex(
        { schoolId: 1, version: 1, id: 1 },
        { unique: true, name: 'school_version_id' },
        {},
      );
  }
  await db
    .collection(rosterCollectionNames.lessons)
    .createIndex(
      { schoolId: 1, version: 1, journalId: 1, date: 1 },
      { name: 'school_version_journal_date' },
      {},
    );
  await db
    .collection(ROSTER_SNAPSHOTS)
    .createIndex({ schoolId: 1, version: 1 }, { name: 'school_version' }, {});
}

function conflict(schoolId: string): TypedError {
  return new TypedError(
    ErrorType.InvalidInput,
    'The roster changed while this import was written; retry it',
    {
      reason: 'concurrentImport',
      schoolId,
      errors: [
        {
          path: '(root)',
          message: 'the roster changed during the import; nothing was applied, retry',
        },
      ],
    },
  );
}

/** A stored document that fails its schema is a bug or tampering: name the record and fields, never values. */
function parseStored<C extends RosterCollection>(collection: C, doc: Document): RecordTypes[C] {
  const schema = rosterRecordSchemas[collection] as unknown as z.ZodType<RecordTypes[C]>;
  const result = schema.safeParse(doc);
  if (result.success) return result.data;
  const fields = [...new Set(result.error.issues.map((i) => i.path.join('.')))].join(', ');
  const id = typeof doc.id === 'string' ? doc.id : '?';
  throw new Error(`Stored ${collection} record ${id} is invalid (${fields})`);
}

const hiddenFields = { _id: 0, schoolId: 0, version: 0 } as const;

type RosterRecords = Omit<RosterSnapshot, 'school'>;

function packRecords(records: RosterRecords): Binary | null {
  const only = Object.fromEntries(rosterCollections.map((c) => [c, records[c]]));
  const data = gzipSync(JSON.stringify(only));
  return data.length > MAX_PACKED_BYTES ? null : new Binary(data);
}

function unpackRecords(data: Binary): RosterRecords {
  const packed = packedRecordsSchema.parse(JSON.parse(gunzipSync(data.buffer).toString('utf8')));
  const read = <C extends RosterCollection>(collection: C): RecordTypes[C][] =>
    packed[collection].map((record) => parseStored(collection, record as Document));
  return {
    staff: read('staff'),
    classes: read('classes'),
    students: read('students'),
    parents: read('parents'),
    journals: read('journals'),
    lessons: read('lessons'),
    templates: read('templates'),
  };
}

const isDuplicateKey = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && 'code' in error && error.code === 11000;

export function createRosterStore({ db }: { db: Db }): RosterStore {
  const schools = db.collection<SchoolDoc>(SCHOOLS);
  const col = (collection: RosterCollection) => db.collection(rosterCollectionNames[collection]);
  const packedRosters = db.collection<PackedRoster>(ROSTER_SNAPSHOTS);

  async function getState(schoolId: string): Promise<RosterState | null> {
    const doc = await schools.findOne(
      { _id: schoolId },
      { projection: { currentVersion: 1, revision: 1 } },
    );
    if (typeof doc?.currentVersion !== 'number') return null;
    return { version: doc.currentVersion, revision: doc.revision ?? 0 };
  }

  async function readAll<C extends RosterCollection>(
    collection: C,
    schoolId: string,
    version: number,
  ): Promise<RecordTypes[C][]> {
    // Sorting by _id returns records in the order the import listed them.
    const docs = await col(collection)
      .find({ schoolId, version }, { projection: hiddenFields, sort: { _id: 1 } })
      .toArray();
    return docs.map((doc) => parseStored(collection, doc));
  }

  async function readOne<C extends RosterCollection>(
    collection: C,
    schoolId: string,
    filter: Document,
  ): Promise<RecordTypes[C] | null> {
    const state = await getState(schoolId);
    if (!state) return null;
    const doc = await col(collection).findOne(
      { schoolId, version: state.version, ...filter },
      { projection: hiddenFields },
    );
    return doc ? parseStored(collection, doc) : null;
  }

  const templateCache = new Map<string, Promise<Template[]>>();
  function templatesAt(schoolId: string, version: number): Promise<Template[]> {
    const key = `${schoolId}\u0000${version}`;
    const cached = templateCache.get(key);
    if (cached) {
      // Most recently used last, so the first key is the one to evict.
      templateCache.delete(key);
      templateCache.set(key, cached);
      return cached;
    }
    const read = readAll('templates', schoolId, version);
    templateCache.set(key, read);
    read.catch(() => templateCache.delete(key));
    for (const oldest of templateCache.keys()) {
      if (templateCache.size <= TEMPLATE_CACHE_SCHOOLS) break;
      templateCache.delete(oldest);
    }
    return read;
  }

  async function lessonsAt(args: {
    schoolId: string;
    version: number;
    journalId: string;
    dates: readonly string[];
  }): Promise<Lesson[]> {
    const docs = await col('lessons')
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

  async function getSchool(schoolId: string): Promise<School | null> {
    const doc = await schools.findOne({ _id: schoolId });
    if (typeof doc?.currentVersion !== 'number') return null;
    return schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
  }

  async function readRecords(schoolId: string, version: number): Promise<RosterRecords> {
    const [staff, classes, students, parents, journals, lessons, templates] = await Promise.all([
      readAll('staff', schoolId, version),
      readAll('classes', schoolId, version),
      readAll('students', schoolId, version),
      readAll('parents', schoolId, version),
      readAll('journals', schoolId, version),
      readAll('lessons', schoolId, version),
      readAll('templates', schoolId, version),
    ]);
    return { staff, classes, students, parents, journals, lessons, templates };
  }

  /** The version's packed records if they include exactly `edits` in-place edits. */
  async function readPacked(
    schoolId: string,
    version: number,
    edits: number,
  ): Promise<RosterRecords | null> {
    const doc = await packedRosters.findOne({ _id: packedRosterId(schoolId, version) });
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
  async function pack(
    schoolId: string,
    version: number,
    edits: number,
    records: RosterRecords,
  ): Promise<void> {
    const data = packRecords(records);
    if (!data) return;
    const _id = packedRosterId(schoolId, version);
    try {
      await packedRosters.replaceOne(
        { _id, edits: { $lt: edits } },
        { schoolId, version, edits, data },
        { upsert: true },
      );
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
  }

  async function loadRosterWithState(
    schoolId: string,
  ): Promise<{ snapshot: RosterSnapshot; state: RosterState } | null> {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const doc = await schools.findOne({ _id: schoolId });
      if (typeof doc?.currentVersion !== 'number') return null;
      const version = doc.currentVersion;
      // Read before the records: an edit counts itself after it has written its record.
      const edits = doc.versionEdits ?? 0;
      const school = schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
      const state = { version, revision: doc.revision ?? 0 };
      const packed = await readPacked(schoolId, version, edits);
      if (packed) return { snapshot: { school, ...packed }, state };

      const records = await readRecords(schoolId, version);
      // An import that flipped meanwhile may have swept some of the records read: read again.
      if ((await getState(schoolId))?.version !== version) continue;
      await pack(schoolId, version, edits, records);
      return { snapshot: { school, ...records }, state };
    }
    throw new Error(`The roster of school ${schoolId} kept changing while it was read`);
  }

  /**
   * An in-place edit of one current-version document, safe against a concurrent import (see the
   * module comment). Returns null when the record does not exist in the current version.
   */
  async function editInPlace<C extends RosterCollection>(
    collection: C,
    schoolId: string,
    id: string,
    set: Document,
  ): Promise<{ before: RecordTypes[C]; after: RecordTypes[C] } | null> {
    for (let attempt = 0; attempt < EDIT_ATTEMPTS; attempt++) {
      const state = await getState(schoolId);
      if (!state) return null;
      const before = await col(collection).findOneAndUpdate(
        { schoolId, version: state.version, id },
        { $set: set },
        // No projection: FerretDB's findAndModify rejects one; parsing drops the bookkeeping fields.
        { returnDocument: 'before' },
      );
      if (!before) {
        // Missing, or the version was swept by an import that flipped just now: look again.
        if ((await getState(schoolId))?.version === state.version) return null;
        continue;
      }
      const bumped = await schools.updateOne(
        { _id: schoolId, currentVersion: state.version },
        { $inc: { revision: 1, versionEdits: 1 } },
      );
      if (bumped.matchedCount === 0) continue;
      const previous = parseStored(collection, before);
      return { before: previous, after: parseStored(collection, { ...before, ...set }) };
    }
    throw conflict(schoolId);
  }

  async function replaceRoster({
    snapshot,
    basedOn,
    onProgress,
  }: ReplaceRosterArgs): Promise<{ version: number; previousVersion: number | null }> {
    const schoolId = snapshot.school.id;
    // Taking the version number and reading the current one in one atomic step gives every
    // import its own version and tells it exactly which version it must replace.
    const allocated = await schools.findOneAndUpdate(
      { _id: schoolId },
      { $inc: { versionSeq: 1 } },
      { upsert: true, returnDocument: 'after' },
    );
    if (!allocated || typeof allocated.versionSeq !== 'number') {
      throw new Error(`Could not allocate a roster version for school ${schoolId}`);
    }
    const version = allocated.versionSeq;
    const previousVersion =
      typeof allocated.currentVersion === 'number' ? allocated.currentVersion : null;
    if (
      basedOn &&
      (basedOn.version !== previousVersion || basedOn.revision !== (allocated.revision ?? 0))
    ) {
      throw conflict(schoolId);
    }

    try {
      const total = rosterCollections.reduce((n, c) => n + snapshot[c].length, 0);
      let written = 0;
      for (const collection of rosterCollections) {
        const records = snapshot[collection] as object[];
        for (let start = 0; start < records.length; start += WRITE_BATCH) {
          const batch = records
            .slice(start, start + WRITE_BATCH)
            .map((r) => ({ ...r, schoolId, version }));
          await col(collection).insertMany(batch, { ordered: true });
          written += batch.length;
          await onProgress?.({ version, written, total });
        }
      }

      const flipFilter: Document = { _id: schoolId, currentVersion: previousVersion };
      if (basedOn)
        flipFilter.revision = basedOn.revision === 0 ? { $in: [0, null] } : basedOn.revision;
      const data = packRecords(snapshot);
      if (data) {
        await packedRosters.insertOne({
          _id: packedRosterId(schoolId, version),
          schoolId,
          version,
          edits: 0,
          data,
        });
      }

      const flipped = await schools.updateOne(flipFilter, {
        $set: {
          currentVersion: version,
          versionEdits: 0,
          name: snapshot.school.name,
          timeZone: snapshot.school.timeZone,
          rosterUpdatedAt: new Date(),
        },
      });
      if (flipped.matchedCount === 0) throw conflict(schoolId);
    } catch (error) {
      await dropVersions(schoolId, { $eq: version }).catch(() => undefined);
      throw error;
    }

    // Readers have moved to the new version: older ones, and any an interrupted import left
    // behind, are garbage. Newer versions belong to imports still running and are left alone.
    await dropVersions(schoolId, { $lt: version });
    return { version, previousVersion };
  }

  async function dropVersions(schoolId: string, version: Document): Promise<void> {
    for (const collection of rosterCollections)
      await col(collection).deleteMany({ schoolId, version });
    await packedRosters.deleteMany({ schoolId, version });
  }

  return {
    getSchool,
    getState,
    loadRosterWithState,
    async loadRoster(schoolId) {
      return (await loadRosterWithState(schoolId))?.snapshot ?? null;
    },
    async listJournals(schoolId) {
      const state = await getState(schoolId);
      return state ? readAll('journals', schoolId, state.version) : [];
    },
    async listSchoolLessons(schoolId) {
      const state = await getState(schoolId);
      return state ? readAll('lessons', schoolId, state.version) : [];
    },
    getJournal: ({ schoolId, journalId }) => readOne('journals', schoolId, { id: journalId }),
    getLesson: ({ schoolId, lessonId }) => readOne('lessons', schoolId, { id: lessonId }),
    async listLessons({ schoolId, journalId, dates }) {
      const state = await getState(schoolId);
      return state ? lessonsAt({ schoolId, version: state.version, journalId, dates }) : [];
    },
    async listTemplates(schoolId) {
      const state = await getState(schoolId);
      return state ? templatesAt(schoolId, state.version) : [];
    },
    async journalPlanInputs({ schoolId, journalId, dates }) {
      const doc = await schools.findOne({ _id: schoolId });
      if (typeof doc?.currentVersion !== 'number') return null;
      const version = doc.currentVersion;
      const school = schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
      const [journal, lessons, templates] = await Promise.all([
        col('journals')
          .findOne({ schoolId, version, id: journalId }, { projection: hiddenFields })
          .then((found) => (found ? parseStored('journals', found) : null)),
        lessonsAt({ schoolId, version, journalId, dates: dates(school.timeZone) }),
        templatesAt(schoolId, version),
      ]);
      return { school, journal, lessons, templates };
    },
    async getTemplateForJournal({ schoolId, journalId }) {
      const state = await getState(schoolId);
      if (!state) return null;
      const templates = await readAll('templates', schoolId, state.version);
      const rank = (t: Template): [number, string] => [t.sendToPortal ? 1 : 0, t.validFrom ?? ''];
      const better = (a: Template, b: Template): number => {
        const [pa, fa] = rank(a);
        const [pb, fb] = rank(b);
        return pb - pa || (fb < fa ? -1 : fb > fa ? 1 : 0);
      };
      const withJournal = templates
        .filter((t) => t.entries.some((e) => e.journalId === journalId))
        .sort(better);
      return withJournal[0] ?? templates.filter((t) => t.sendToPortal).sort(better)[0] ?? null;
    },
    async updateLesson({ schoolId, lessonId, patch }) {
      const set: Document = {};
      if (patch.online !== undefined) set.online = patch.online;
      if (patch.status !== undefined) set.status = patch.status;
      if (Object.keys(set).length === 0) return readOne('lessons', schoolId, { id: lessonId });
      const edited = await editInPlace('lessons', schoolId, lessonId, set);
      return edited?.after ?? null;
    },
    async setPersonVkId({ schoolId, personKind, personId, vkId }) {
      const edited = await editInPlace(personCollections[personKind], schoolId, personId, { vkId });
      return edited ? { previousVkId: edited.before.vkId } : null;
    },
    replaceRoster,
  };
}
