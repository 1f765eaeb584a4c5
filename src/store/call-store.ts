import { MongoServerError, type Db } from 'mongodb';
import { z } from 'zod';
import { recordIds } from '../contracts/ids';

/**
 * Calls we started (keyed by school and the workflow's call key, so a retried start reuses the
 * call) and the join links written onto lessons for the e-diary (V4), keyed by school and lesson:
 * two schools' systems may both have a lesson `l-1` in a journal `j-1`.
 */
// Missing and null read the same: some MongoDB-compatible servers drop null fields on upsert.
const callDocSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  callKey: z.string(),
  journalId: z.string(),
  lessonId: z.string(),
  status: z.enum(['starting', 'running', 'ended']),
  callId: z.string().nullable().default(null),
  joinLink: z.string().nullable().default(null),
  startedBy: z.string(),
  startedAt: z.date().nullable().default(null),
  endedAt: z.date().nullable().default(null),
  endedBy: z.string().nullable().default(null),
  endedInSferum: z.boolean(),
  /** When we first sent calls.forceFinish: a later "call gone" may be our own end whose answer was lost. */
  finishRequestedAt: z.date().nullable().default(null),
});
export type CallDoc = z.infer<typeof callDocSchema>;

const lessonLinkSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  lessonId: z.string(),
  journalId: z.string(),
  callKey: z.string(),
  joinLink: z.string(),
  publishedAt: z.date(),
  endedAt: z.date().nullable().default(null),
});
export type LessonLink = z.infer<typeof lessonLinkSchema>;

/** A call of one school: call keys are made by the journal's workflow from the school system's IDs. */
export interface CallRef {
  readonly schoolId: string;
  readonly callKey: string;
}

export interface CallStore {
  /** Also moves records written before they were keyed by school (see `migrateLegacyKeys`). */
  ensureIndexes(): Promise<void>;
  getCall(ref: CallRef): Promise<CallDoc | null>;
  recordStarting(
    doc: Pick<CallDoc, 'schoolId' | 'callKey' | 'journalId' | 'lessonId' | 'startedBy'>,
  ): Promise<void>;
  /**
   * The platform call exists. `startedBy` is the attempt's actor: a teacher's start can reuse the
   * key an automatic start armed and then cancelled (one key per next call, workflows/journal-calls.ts).
   */
  recordStarted(
    ref: CallRef,
    call: { callId: string; joinLink: string; startedBy: string },
  ): Promise<void>;
  /** Notes that calls.forceFinish is about to be sent (kept from the first attempt on). */
  recordFinishRequested(ref: CallRef): Promise<void>;
  recordEnded(ref: CallRef, args: { endedBy: string; endedInSferum: boolean }): Promise<void>;
  writeLessonLink(link: Omit<LessonLink, '_id' | 'publishedAt' | 'endedAt'>): Promise<void>;
  getLessonLink(ref: { schoolId: string; lessonId: string }): Promise<LessonLink | null>;
  listLessonLinks(schoolId: string, lessonIds: readonly string[]): Promise<LessonLink[]>;
  /** The lessons a call's link went onto: they lose it when the call ends. */
  listLessonLinksOfCall(ref: CallRef): Promise<LessonLink[]>;
  listCalls(args: { schoolId: string; journalId?: string }): Promise<CallDoc[]>;
  /** V5: the calls a platform event saying "a call ended" may be about. */
  listRunningCalls(schoolId: string): Promise<CallDoc[]>;
}

export function createCallStore(db: Db): CallStore {
  const calls = db.collection<CallDoc>('calls');
  const links = db.collection<LessonLink>('lesson_links');
  const callId = (ref: CallRef): string => recordIds.call(ref);
  return {
    async ensureIndexes() {
      await migrateLegacyKeys(db, 'calls', 'callKey', ({ schoolId, key }) =>
        recordIds.call({ schoolId, callKey: key }),
      );
      await migrateLegacyKeys(db, 'lesson_links', 'lessonId', ({ schoolId, key }) =>
        recordIds.lessonLink({ schoolId, lessonId: key }),
      );
      await calls.createIndex({ schoolId: 1, journalId: 1, status: 1 });
      await links.createIndex({ schoolId: 1, journalId: 1 });
    },
    async getCall(ref) {
      const doc = await calls.findOne({ _id: callId(ref) });
      return doc ? callDocSchema.parse(doc) : null;
    },
    async recordStarting(doc) {
      await calls.updateOne(
        { _id: callId(doc) },
        {
          $setOnInsert: {
            schoolId: doc.schoolId,
            callKey: doc.callKey,
            journalId: doc.journalId,
            lessonId: doc.lessonId,
            startedBy: doc.startedBy,
            status: 'starting',
            callId: null,
            joinLink: null,
            startedAt: null,
            endedAt: null,
            endedBy: null,
            endedInSferum: false,
          },
        },
        { upsert: true },
      );
    },
    async recordStarted(ref, { callId: platformId, joinLink, startedBy }) {
      await calls.updateOne(
        { _id: callId(ref) },
        {
          $set: {
            status: 'running',
            callId: platformId,
            joinLink,
            startedBy,
            startedAt: new Date(),
          },
        },
      );
    },
    async recordFinishRequested(ref) {
      await calls.updateOne(
        { _id: callId(ref), finishRequestedAt: null },
        { $set: { finishRequestedAt: new Date() } },
      );
    },
    async recordEnded(ref, { endedBy, endedInSferum }) {
      await calls.updateOne(
        { _id: callId(ref), status: { $ne: 'ended' } },
        { $set: { status: 'ended', endedAt: new Date(), endedBy, endedInSferum } },
      );
      await links.updateMany(
        { schoolId: ref.schoolId, callKey: ref.callKey, endedAt: null },
        { $set: { endedAt: new Date() } },
      );
    },
    async writeLessonLink(link) {
      const _id = recordIds.lessonLink(link);
      await links.updateOne(
        { _id },
        { $set: { ...link, _id, publishedAt: new Date(), endedAt: null } },
        { upsert: true },
      );
    },
    async getLessonLink(ref) {
      const doc = await links.findOne({ _id: recordIds.lessonLink(ref) });
      return doc ? lessonLinkSchema.parse(doc) : null;
    },
    async listLessonLinks(schoolId, lessonIds) {
      // By `_id`: the one lookup FerretDB's SQLite backend pushes down.
      const ids = lessonIds.map((lessonId) => recordIds.lessonLink({ schoolId, lessonId }));
      const docs = await links.find({ _id: { $in: ids } }).toArray();
      return docs.map((d) => lessonLinkSchema.parse(d));
    },
    async listLessonLinksOfCall({ schoolId, callKey }) {
      const docs = await links.find({ schoolId, callKey }).toArray();
      return docs.map((d) => lessonLinkSchema.parse(d));
    },
    async listCalls({ schoolId, journalId }) {
      const docs = await calls.find({ schoolId, ...(journalId ? { journalId } : {}) }).toArray();
      return docs.map((d) => callDocSchema.parse(d));
    },
    async listRunningCalls(schoolId) {
      const docs = await calls.find({ schoolId, status: 'running' }).toArray();
      return docs.map((d) => callDocSchema.parse(d));
    },
  };
}

/**
 * Records written before they were keyed by school had the school system's own key as `_id`
 * (the call key, the lesson ID) and no field holding it. Each is copied under its school-qualified
 * `_id`, the key kept in `field`, and the old one removed; a copy made by an interrupted earlier
 * pass is left as it is. `_id` cannot change in place.
 */
async function migrateLegacyKeys(
  db: Db,
  name: string,
  field: string,
  newId: (doc: { schoolId: string; key: string }) => string,
): Promise<void> {
  const collection = db.collection(name);
  const legacy = await collection.find({ [field]: { $exists: false } }).toArray();
  for (const raw of legacy) {
    const doc = legacyDocSchema.parse(raw);
    try {
      await collection.insertOne({
        ...doc,
        [field]: doc._id,
        _id: newId({ schoolId: doc.schoolId, key: doc._id }) as never,
      });
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
    }
    await collection.deleteOne({ _id: doc._id as never });
  }
}

const legacyDocSchema = z.looseObject({ _id: z.string(), schoolId: z.string() });

const DUPLICATE_KEY = 11000;
