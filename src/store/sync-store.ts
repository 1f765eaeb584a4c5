import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { z } from 'zod';
import { chatKinds } from '../contracts/school-sync';
import {
  heldPlanSchema,
  runSummarySchema,
  type HeldPlan,
  type RunSummary,
} from '../contracts/sync-records';
import { personKinds } from '../contracts/roster';

/**
 * Our own state of a school's sync: the chats we manage (with their platform IDs and the members
 * we put there), the stored plans and the run summaries. Every write is a single-document update,
 * so it holds on servers without transactions.
 */

const managedChatSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  key: z.string(),
  kind: z.enum(chatKinds),
  title: z.string(),
  chatId: z.number().int().positive().nullable(),
  /** Set before `createChat` is sent: a retry after a lost reply adopts instead of creating again. */
  createIntentAt: z.date().nullable(),
  managedMembers: z.array(z.number().int()),
  managedAdmins: z.array(z.number().int()),
  retired: z.boolean(),
  lastRunId: z.string().nullable(),
  /**
   * What the attempts of one run have done to this chat so far, so a retried attempt (after a
   * fault or a killed worker) still reports the chat it created or the members it added.
   */
  runProgress: z
    .object({
      runId: z.string(),
      created: z.boolean(),
      adopted: z.boolean(),
      added: z.number().int(),
      removed: z.number().int(),
      adminsChanged: z.number().int(),
    })
    .nullable()
    .optional(),
  updatedAt: z.date(),
});
export type ManagedChat = z.infer<typeof managedChatSchema>;
/** A managed chat as the sync writes it; the store adds the key and the time. */
export type ChatRecord = Omit<ManagedChat, '_id' | 'updatedAt'>;

const plannedChatSchema = z.object({
  key: z.string(),
  kind: z.enum(chatKinds),
  title: z.string(),
  classId: z.string().optional(),
  journalId: z.string().optional(),
  members: z.array(z.number().int()),
  admins: z.array(z.number().int()),
  /** A chat we manage that the roster no longer wants: its managed members are removed. */
  retire: z.boolean(),
  /**
   * Managed members the plan wants out but whose removal the guard holds: they stay in the chat
   * (and managed) until the whole plan is approved. Absent: none.
   */
  keep: z.array(z.number().int()).optional(),
  /** What the plan expects to change, from our records: shown by `plan`, checked by the guard. */
  expected: z.object({
    create: z.boolean(),
    add: z.number().int(),
    remove: z.number().int(),
  }),
});
export type PlannedChat = z.infer<typeof plannedChatSchema>;

const planDocSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  runId: z.string(),
  createdAt: z.date(),
  status: z.enum(['ready', 'held', 'approved']),
  chats: z.array(plannedChatSchema),
  skipped: z.array(
    z.object({
      personKind: z.enum(personKinds),
      personId: z.string(),
      chatKey: z.string(),
      reason: z.literal('noVkId'),
    }),
  ),
  held: heldPlanSchema.nullable(),
  approvedBy: z.string().nullable(),
});
export type StoredPlan = z.infer<typeof planDocSchema>;

/** A run as stored: its summary, under the school. */
const runDocSchema = runSummarySchema.omit({ runId: true }).extend({
  _id: z.string(),
  schoolId: z.string(),
});

export interface JournalsNotified {
  readonly version: number;
  /** Journal ID → fingerprint of its plan's inputs. */
  readonly fingerprints: Readonly<Record<string, string>>;
}

export interface SyncStore {
  ensureIndexes(): Promise<void>;
  listChats(schoolId: string): Promise<ManagedChat[]>;
  getChat(schoolId: string, key: string): Promise<ManagedChat | null>;
  upsertChat(chat: ChatRecord): Promise<void>;
  /** Many chats in one round trip; each is still a single-document write. */
  upsertChats(chats: readonly ChatRecord[]): Promise<void>;
  /**
   * Chats with no record yet, inserted in one round trip (far cheaper than upserts on FerretDB).
   * Fails on a chat recorded meanwhile, so a retry sees that record instead of overwriting it.
   */
  insertChats(chats: readonly ChatRecord[]): Promise<void>;
  recordCreateIntent(schoolId: string, key: string): Promise<void>;
  savePlan(plan: Omit<StoredPlan, '_id' | 'createdAt'>): Promise<StoredPlan>;
  getPlan(schoolId: string, planId: string): Promise<StoredPlan | null>;
  latestPlan(schoolId: string): Promise<StoredPlan | null>;
  /** The newest plan still waiting for approval: the part the guard lets through is stored apart. */
  latestHeldPlan(schoolId: string): Promise<StoredPlan | null>;
  savePlanHeld(schoolId: string, planId: string, held: HeldPlan): Promise<void>;
  approvePlan(schoolId: string, planId: string, approvedBy: string): Promise<boolean>;
  saveRun(run: RunSummary & { schoolId: string }): Promise<void>;
  latestRun(schoolId: string): Promise<RunSummary | null>;
  /**
   * The roster version the school's journal workflows were last told about, with a fingerprint of
   * what each journal plans from at that version (absent for records written before they were kept).
   */
  getJournalsNotified(schoolId: string): Promise<JournalsNotified | null>;
  setJournalsNotified(schoolId: string, notified: JournalsNotified): Promise<void>;
}

export function createSyncStore(db: Db): SyncStore {
  const chats = db.collection<ManagedChat>('managed_chats');
  const plans = db.collection<StoredPlan>('sync_plans');
  const runs = db.collection<z.infer<typeof runDocSchema>>('sync_runs');
  const meta = db.collection<{
    _id: string;
    journalsNotifiedVersion: number;
    journalFingerprints?: Record<string, string>;
  }>('sync_meta');
  const chatId = (schoolId: string, key: string): string => `${schoolId}:${key}`;

  return {
    async ensureIndexes() {
      await chats.createIndex({ schoolId: 1, key: 1 }, { unique: true }, {});
      await plans.createIndex({ schoolId: 1, createdAt: -1 });
      await runs.createIndex({ schoolId: 1, finishedAt: -1 });
    },

    async listChats(schoolId) {
      const docs = await chats.find({ schoolId }).toArray();
      return docs.map((d) => managedChatSchema.parse(d));
    },

    async getChat(schoolId, key) {
      const doc = await chats.findOne({ _id: chatId(schoolId, key) });
      return doc ? managedChatSchema.parse(doc) : null;
    },

    async upsertChat(chat) {
      const doc: ManagedChat = {
        ...chat,
        _id: chatId(chat.schoolId, chat.key),
        updatedAt: new Date(),
      };
      await chats.replaceOne({ _id: doc._id }, doc, { upsert: true });
    },

    async upsertChats(records) {
      if (records.length === 0) return;
      const updatedAt = new Date();
      await chats.bulkWrite(
        records.map((chat) => {
          const doc: ManagedChat = { ...chat, _id: chatId(chat.schoolId, chat.key), updatedAt };
          return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
        }),
        { ordered: false },
      );
    },

    async insertChats(records) {
      if (records.length === 0) return;
      const updatedAt = new Date();
      await chats.insertMany(
        records.map((chat) => ({ ...chat, _id: chatId(chat.schoolId, chat.key), updatedAt })),
        { ordered: false },
      );
    },

    async recordCreateIntent(schoolId, key) {
      await chats.updateOne(
        { _id: chatId(schoolId, key) },
        { $set: { createIntentAt: new Date(), updatedAt: new Date() } },
      );
    },

    async savePlan(plan) {
      const doc: StoredPlan = { ...plan, _id: `plan-${randomUUID()}`, createdAt: new Date() };
      await plans.insertOne(doc);
      return doc;
    },

    async getPlan(schoolId, planId) {
      const doc = await plans.findOne({ _id: planId, schoolId });
      return doc ? planDocSchema.parse(doc) : null;
    },

    async latestPlan(schoolId) {
      const doc = await plans.find({ schoolId }).sort({ createdAt: -1 }).limit(1).next();
      return doc ? planDocSchema.parse(doc) : null;
    },

    async latestHeldPlan(schoolId) {
      const doc = await plans
        .find({ schoolId, status: 'held' })
        .sort({ createdAt: -1 })
        .limit(1)
        .next();
      return doc ? planDocSchema.parse(doc) : null;
    },

    async savePlanHeld(schoolId, planId, held) {
      await plans.updateOne({ _id: planId, schoolId }, { $set: { held } });
    },

    async approvePlan(schoolId, planId, approvedBy) {
      const result = await plans.updateOne(
        { _id: planId, schoolId, status: { $in: ['held', 'approved'] } },
        { $set: { status: 'approved', approvedBy } },
      );
      return result.matchedCount === 1;
    },

    async saveRun(run) {
      const { runId, schoolId, ...rest } = run;
      await runs.replaceOne({ _id: runId }, { schoolId, ...rest }, { upsert: true });
    },

    async latestRun(schoolId) {
      const doc = await runs.find({ schoolId }).sort({ finishedAt: -1 }).limit(1).next();
      if (!doc) return null;
      const { _id: runId, planId, startedAt, finishedAt, ...counts } = runDocSchema.parse(doc);
      return {
        runId,
        planId,
        startedAt,
        finishedAt,
        chatsCreated: counts.chatsCreated,
        chatsAdopted: counts.chatsAdopted,
        membersAdded: counts.membersAdded,
        membersRemoved: counts.membersRemoved,
        adminsChanged: counts.adminsChanged,
        skippedNoVkId: counts.skippedNoVkId,
        unmanagedMembers: counts.unmanagedMembers,
        errors: counts.errors,
        ...(counts.incidents === undefined ? {} : { incidents: counts.incidents }),
      };
    },

    async getJournalsNotified(schoolId) {
      const doc = await meta.findOne({ _id: schoolId });
      if (typeof doc?.journalsNotifiedVersion !== 'number') return null;
      const fingerprints = z
        .record(z.string(), z.string())
        .catch({})
        .parse(doc.journalFingerprints ?? {});
      return { version: doc.journalsNotifiedVersion, fingerprints };
    },

    async setJournalsNotified(schoolId, { version, fingerprints }) {
      await meta.updateOne(
        { _id: schoolId },
        { $set: { journalsNotifiedVersion: version, journalFingerprints: { ...fingerprints } } },
        { upsert: true },
      );
    },
  };
}

export type { HeldPlan };
