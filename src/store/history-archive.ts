import { gunzipSync, gzipSync } from 'node:zlib';
import { Binary, type Db } from 'mongodb';
import { z } from 'zod';
import { summarizeHistory } from '../contracts/history';
import { storedReplaySchema, type StoredReplay } from '../contracts/replay-result';

/**
 * The history archive. The server drops closed runs after its retention (24 h on the dev server),
 * and a journal workflow that continued-as-new leaves its earlier runs closed, so every run's
 * history is copied into MongoDB, gzip-compressed JSON (the format `temporal workflow show
 * --output json` writes and replay reads). One document per run, keyed `workflowId/runId`:
 * archiving is an idempotent upsert, and a closed run, whose history can no longer change, is
 * never fetched twice.
 */
export const HISTORY_ARCHIVE = 'history_archive';

const archivedRunSchema = z.object({
  _id: z.string(),
  schoolId: z.string(),
  journalId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  workflowType: z.string(),
  closed: z.boolean(),
  status: z.string(),
  startTime: z.date(),
  closeTime: z.date().nullable().default(null),
  /** The run this one continued from, so a chain can be walked without the server. */
  continuedFromRunId: z.string().nullable().default(null),
  eventCount: z.number().int(),
  /** Bytes of the uncompressed JSON, to watch the archive's growth. */
  jsonBytes: z.number().int(),
  history: z.instanceof(Binary),
  archivedAt: z.date(),
  /**
   * A closed run's replay, kept so the audit need not replay it again while the workflow code's
   * build is the same (src/audit/stored-replays.ts). A damaged one reads as none: replayed afresh.
   */
  replay: storedReplaySchema.nullable().catch(null).default(null),
});
export type ArchivedRun = z.infer<typeof archivedRunSchema>;
export type ArchivedRunMeta = Omit<ArchivedRun, 'history'>;

export interface HistoryArchive {
  ensureIndexes(): Promise<void>;
  getMeta(workflowId: string, runId: string): Promise<ArchivedRunMeta | null>;
  /** Stores one run's JSON history; the caller says which school and journal it belongs to. */
  put(args: {
    workflowId: string;
    runId: string;
    schoolId: string;
    journalId: string;
    json: string;
  }): Promise<ArchivedRunMeta>;
  /** Runs of a school (optionally one journal) that were alive at some point of [from, to). */
  list(args: {
    schoolId: string;
    journalId?: string;
    from?: Date;
    to?: Date;
  }): Promise<ArchivedRunMeta[]>;
  /** The run's history as the JSON text it was archived from. */
  readJson(workflowId: string, runId: string): Promise<string | null>;
  /** Keeps a closed run's replay beside it (an open run's history, and so its replay, may change). */
  putReplay(workflowId: string, runId: string, replay: StoredReplay): Promise<void>;
  /** Closed runs with no replay by this build, at most `limit`, oldest first. */
  pendingReplays(args: {
    buildId: string;
    limit: number;
    schoolId?: string;
  }): Promise<{ workflowId: string; runId: string }[]>;
  countPendingReplays(args: { buildId: string; schoolId?: string }): Promise<number>;
  /** Forgets every stored replay (or one school's), so the next pass replays them all. */
  clearReplays(args: { schoolId?: string }): Promise<number>;
}

const META_PROJECTION = { history: 0 } as const;

export function createHistoryArchive(db: Db): HistoryArchive {
  const runs = db.collection<ArchivedRun>(HISTORY_ARCHIVE);
  const parseMeta = (doc: unknown): ArchivedRunMeta =>
    archivedRunSchema.omit({ history: true }).parse(doc);
  return {
    async ensureIndexes() {
      await runs.createIndex({ schoolId: 1, journalId: 1, startTime: 1 });
      await runs.createIndex({ closed: 1 });
    },
    async getMeta(workflowId, runId) {
      const doc = await runs.findOne(
        { _id: `${workflowId}/${runId}` },
        { projection: META_PROJECTION },
      );
      return doc ? parseMeta(doc) : null;
    },
    async put({ workflowId, runId, schoolId, journalId, json }) {
      const summary = summarizeHistory(json);
      const doc: ArchivedRun = {
        _id: `${workflowId}/${runId}`,
        schoolId,
        journalId,
        workflowId,
        runId,
        workflowType: summary.workflowType,
        closed: summary.closed,
        status: summary.status,
        startTime: summary.startTime,
        closeTime: summary.closeTime,
        continuedFromRunId: summary.continuedFromRunId,
        eventCount: summary.eventCount,
        jsonBytes: Buffer.byteLength(json),
        history: new Binary(gzipSync(json)),
        archivedAt: new Date(),
        replay: null,
      };
      // A closed run is written once; re-archiving it must not rewrite (or shrink) what is there.
      await runs
        .replaceOne({ _id: doc._id, closed: { $ne: true } }, doc, { upsert: true })
        .catch((error: unknown) => {
          if (isDuplicateKey(error)) return;
          throw error;
        });
      return parseMeta(doc);
    },
    async list({ schoolId, journalId, from, to }) {
      const filter: Record<string, unknown> = { schoolId, ...(journalId ? { journalId } : {}) };
      if (to) filter.startTime = { $lt: to };
      // An open run (no close time) may still be alive in the range.
      if (from) filter.$or = [{ closeTime: null }, { closeTime: { $gte: from } }];
      const docs = await runs
        .find(filter, { projection: META_PROJECTION })
        .sort({ startTime: 1 })
        .toArray();
      return docs.map(parseMeta);
    },
    async readJson(workflowId, runId) {
      const doc = await runs.findOne(
        { _id: `${workflowId}/${runId}` },
        { projection: { history: 1 } },
      );
      if (!doc) return null;
      return gunzipSync(doc.history.buffer).toString('utf8');
    },
    async putReplay(workflowId, runId, replay) {
      await runs.updateOne(
        { _id: `${workflowId}/${runId}`, closed: true },
        { $set: { replay: storedReplaySchema.parse(replay) } },
      );
    },
    async pendingReplays({ buildId, limit, schoolId }) {
      const docs = await runs
        .find(pendingFilter(buildId, schoolId), { projection: { workflowId: 1, runId: 1 } })
        .sort({ startTime: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => ({ workflowId: d.workflowId, runId: d.runId }));
    },
    countPendingReplays({ buildId, schoolId }) {
      return runs.countDocuments(pendingFilter(buildId, schoolId));
    },
    async clearReplays({ schoolId }) {
      const result = await runs.updateMany(
        { ...(schoolId ? { schoolId } : {}), replay: { $ne: null } },
        { $set: { replay: null } },
      );
      return result.modifiedCount;
    },
  };
}

function pendingFilter(buildId: string, schoolId: string | undefined): Record<string, unknown> {
  return { closed: true, 'replay.buildId': { $ne: buildId }, ...(schoolId ? { schoolId } : {}) };
}

/** The upsert filter skips closed runs, so re-archiving one collides on `_id`: that is the no-op. */
function isDuplicateKey(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000
  );
}
