import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, type Collection, type Db, type Document } from 'mongodb';
import { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { dottedPath } from '../contracts/zod-issues';
import {
  rosterCollections,
  rosterRecordSchemas,
  type PersonKind,
  type RosterCollection,
  type RosterRecordTypes,
  type RosterSnapshot,
  type Template,
} from '../contracts/roster';

/** The roster's documents in MongoDB (see `roster-store.ts` for how versions keep them whole). */

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

export const personCollections: Readonly<Record<PersonKind, 'staff' | 'students' | 'parents'>> = {
  staff: 'staff',
  student: 'students',
  parent: 'parents',
};

/** Documents per insert: small enough to keep each write short, large enough to import 5,000 records quickly. */
export const WRITE_BATCH = 500;
export const EDIT_ATTEMPTS = 5;
/** Reads of a whole roster an import may overtake before the reader gives up. */
export const READ_ATTEMPTS = 5;
/** A packed roster larger than this is not kept (MongoDB's document limit is 16 MiB). */
export const MAX_PACKED_BYTES = 8 * 1024 * 1024;

export interface SchoolDoc {
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
export const packedRosterId = (schoolId: string, version: number): string =>
  `${schoolId}/v${version}`;

export const packedRosterSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  version: z.number().int(),
  edits: z.number().int(),
  data: z.instanceof(Binary),
});
export type PackedRoster = z.infer<typeof packedRosterSchema>;

/** The packed records, each still parsed with its collection's schema when read. */
export const packedRecordsSchema = z.object(
  Object.fromEntries(rosterCollections.map((c) => [c, z.array(z.unknown())])) as Record<
    RosterCollection,
    z.ZodArray<z.ZodUnknown>
  >,
);

export type RecordTypes = RosterRecordTypes;

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

export function conflict(schoolId: string): TypedError {
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
export function parseStored<C extends RosterCollection>(
  collection: C,
  doc: Document,
): RecordTypes[C] {
  const schema = rosterRecordSchemas[collection] as unknown as z.ZodType<RecordTypes[C]>;
  const result = schema.safeParse(doc);
  if (result.success) return result.data;
  const fields = [...new Set(result.error.issues.map((i) => dottedPath(i.path, '')))].join(', ');
  const id = typeof doc.id === 'string' ? doc.id : '?';
  throw new Error(`Stored ${collection} record ${id} is invalid (${fields})`);
}

export const hiddenFields = { _id: 0, schoolId: 0, version: 0 } as const;

export type RosterRecords = Omit<RosterSnapshot, 'school'>;

export function packRecords(records: RosterRecords): Binary | null {
  const only = Object.fromEntries(rosterCollections.map((c) => [c, records[c]]));
  const data = gzipSync(JSON.stringify(only));
  return data.length > MAX_PACKED_BYTES ? null : new Binary(data);
}

export function unpackRecords(data: Binary): RosterRecords {
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

export const isDuplicateKey = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && 'code' in error && error.code === 11000;

/** The collections one store reads and writes, and its cache of parsed templates. */
export interface RosterDb {
  readonly schools: Collection<SchoolDoc>;
  readonly col: (collection: RosterCollection) => Collection;
  readonly packedRosters: Collection<PackedRoster>;
  readonly templateCache: Map<string, Promise<Template[]>>;
}

export function rosterDb(db: Db): RosterDb {
  return {
    schools: db.collection<SchoolDoc>(SCHOOLS),
    col: (collection) => db.collection(rosterCollectionNames[collection]),
    packedRosters: db.collection<PackedRoster>(ROSTER_SNAPSHOTS),
    templateCache: new Map(),
  };
}
