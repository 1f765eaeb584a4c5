import type { Db } from 'mongodb';
import { z } from 'zod';

/**
 * Calls we started (keyed by the workflow's call key, so a retried start reuses the call) and the
 * join links written onto lessons for the e-diary (V4).
 */
// Missing and null read the same: some MongoDB-compatible servers drop null fields on upsert.
const callDocSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
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
  journalId: z.string(),
  callKey: z.string(),
  joinLink: z.string(),
  publishedAt: z.date(),
  endedAt: z.date().nullable().default(null),
});
export type LessonLink = z.infer<typeof lessonLinkSchema>;

export interface CallStore {
  ensureIndexes(): Promise<void>;
  getCall(callKey: string): Promise<CallDoc | null>;
  recordStarting(
    doc: Pick<CallDoc, '_id' | 'schoolId' | 'journalId' | 'lessonId' | 'startedBy'>,
  ): Promise<void>;
  /**
   * The platform call exists. `startedBy` is the attempt's actor: a teacher's start can reuse the
   * key an automatic start armed and then cancelled (one key per next call, workflows/journal-calls.ts).
   */
  recordStarted(
    callKey: string,
    call: { callId: string; joinLink: string; startedBy: string },
  ): Promise<void>;
  /** Notes that calls.forceFinish is about to be sent (kept from the first attempt on). */
  recordFinishRequested(callKey: string): Promise<void>;
  recordEnded(callKey: string, args: { endedBy: string; endedInSferum: boolean }): Promise<void>;
  writeLessonLink(link: Omit<LessonLink, 'publishedAt' | 'endedAt'>): Promise<void>;
  getLessonLink(lessonId: string): Promise<LessonLink | null>;
  listLessonLinks(schoolId: string, lessonIds: readonly string[]): Promise<LessonLink[]>;
  listCalls(args: { schoolId: string; journalId?: string }): Promise<CallDoc[]>;
}

export function createCallStore(db: Db): CallStore {
  const calls = db.collection<CallDoc>('calls');
  const links = db.collection<LessonLink>('lesson_links');
  return {
    async ensureIndexes() {
      await calls.createIndex({ schoolId: 1, journalId: 1, status: 1 });
      await links.createIndex({ schoolId: 1, journalId: 1 });
    },
    async getCall(callKey) {
      const doc = await calls.findOne({ _id: callKey });
      return doc ? callDocSchema.parse(doc) : null;
    },
    async recordStarting(doc) {
      await calls.updateOne(
        { _id: doc._id },
        {
          $setOnInsert: {
            schoolId: doc.schoolId,
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
    async recordStarted(callKey, { callId, joinLink, startedBy }) {
      await calls.updateOne(
        { _id: callKey },
        { $set: { status: 'running', callId, joinLink, startedBy, startedAt: new Date() } },
      );
    },
    async recordFinishRequested(callKey) {
      await calls.updateOne(
        { _id: callKey, finishRequestedAt: null },
        { $set: { finishRequestedAt: new Date() } },
      );
    },
    async recordEnded(callKey, { endedBy, endedInSferum }) {
      await calls.updateOne(
        { _id: callKey, status: { $ne: 'ended' } },
        { $set: { status: 'ended', endedAt: new Date(), endedBy, endedInSferum } },
      );
      await links.updateMany({ callKey, endedAt: null }, { $set: { endedAt: new Date() } });
    },
    async writeLessonLink(link) {
      await links.updateOne(
        { _id: link._id },
        { $set: { ...link, publishedAt: new Date(), endedAt: null } },
        { upsert: true },
      );
    },
    async getLessonLink(lessonId) {
      const doc = await links.findOne({ _id: lessonId });
      return doc ? lessonLinkSchema.parse(doc) : null;
    },
    async listLessonLinks(schoolId, lessonIds) {
      const docs = await links.find({ schoolId, _id: { $in: [...lessonIds] } }).toArray();
      return docs.map((d) => lessonLinkSchema.parse(d));
    },
    async listCalls({ schoolId, journalId }) {
      const docs = await calls.find({ schoolId, ...(journalId ? { journalId } : {}) }).toArray();
      return docs.map((d) => callDocSchema.parse(d));
    },
  };
}
