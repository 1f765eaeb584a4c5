import { gunzipSync, gzipSync } from 'node:zlib';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Binary, type Db } from 'mongodb';
import { z } from 'zod';
import { JournalIdKey, SchoolIdKey } from '../contracts/search-attributes';
import { JOURNAL_CALLS_WORKFLOW } from '../workflow-gateway';

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
});
export type ArchivedRun = z.infer<typeof archivedRunSchema>;
export type ArchivedRunMeta = Omit<ArchivedRun, 'history'>;

export interface ArchiveOutcome {
  /** Runs fetched and written (new, or open runs refreshed). */
  archived: number;
  /** Closed runs already archived: nothing fetched. */
  unchanged: number;
  /** Runs whose history could not be fetched (e.g. dropped by retention before we got to them). */
  failed: { workflowId: string; runId: string; error: string }[];
}

/** The events that end a run; any other last event means the run is still open. */
const CLOSING_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
]);

/** The few fields of a JSON history (protojson form) the archive reads. */
const historyJsonSchema = z.object({
  events: z
    .array(
      z.looseObject({
        eventType: z.string(),
        eventTime: z.string().optional(),
        workflowExecutionStartedEventAttributes: z
          .looseObject({
            workflowType: z.looseObject({ name: z.string() }).optional(),
            continuedExecutionRunId: z.string().optional(),
            input: z
              .looseObject({ payloads: z.array(z.looseObject({ data: z.string().optional() })) })
              .optional(),
          })
          .optional(),
      }),
    )
    .min(1),
});

export interface HistorySummary {
  workflowType: string;
  closed: boolean;
  status: string;
  startTime: Date;
  closeTime: Date | null;
  continuedFromRunId: string | null;
  eventCount: number;
  /** The journal workflow's input names its school and journal (opaque IDs). */
  input: { schoolId?: string; journalId?: string };
}

/** Reads what the archive indexes from a JSON history, without replaying it. */
export function summarizeHistory(json: string): HistorySummary {
  const parsed = historyJsonSchema.parse(JSON.parse(json));
  const first = parsed.events[0];
  const last = parsed.events[parsed.events.length - 1];
  if (!first || !last) throw new Error('empty history');
  const started = first.workflowExecutionStartedEventAttributes;
  const closed = CLOSING_EVENTS.has(last.eventType);
  let input: HistorySummary['input'] = {};
  const data = started?.input?.payloads[0]?.data;
  if (data) {
    const decoded: unknown = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
    const shape = z.looseObject({ schoolId: z.string(), journalId: z.string() }).partial();
    const result = shape.safeParse(decoded);
    if (result.success) {
      input = {
        ...(result.data.schoolId === undefined ? {} : { schoolId: result.data.schoolId }),
        ...(result.data.journalId === undefined ? {} : { journalId: result.data.journalId }),
      };
    }
  }
  return {
    workflowType: started?.workflowType?.name ?? '',
    closed,
    status: closed ? last.eventType.replace('EVENT_TYPE_WORKFLOW_EXECUTION_', '') : 'RUNNING',
    startTime: new Date(first.eventTime ?? 0),
    closeTime: closed && last.eventTime ? new Date(last.eventTime) : null,
    continuedFromRunId: started?.continuedExecutionRunId || null,
    eventCount: parsed.events.length,
    input,
  };
}

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
  };
}

/** The upsert filter skips closed runs, so re-archiving one collides on `_id`: that is the no-op. */
function isDuplicateKey(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000
  );
}

/**
 * Archives one run: a closed run already in the archive is left alone without asking the server;
 * anything else is fetched and (re)written.
 */
export async function archiveRun(args: {
  archive: HistoryArchive;
  client: Client;
  workflowId: string;
  runId: string;
  schoolId?: string;
  journalId?: string;
  knownClosed?: boolean;
}): Promise<{ meta: ArchivedRunMeta; fetched: boolean }> {
  const { archive, client, workflowId, runId } = args;
  const existing = await archive.getMeta(workflowId, runId);
  if (existing?.closed) return { meta: existing, fetched: false };
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const json = historyToJSON(history);
  const summary = summarizeHistory(json);
  const schoolId = args.schoolId ?? summary.input.schoolId;
  const journalId = args.journalId ?? summary.input.journalId;
  if (!schoolId || !journalId) {
    throw new Error(`run ${workflowId}/${runId} names no school or journal`);
  }
  const meta = await archive.put({ workflowId, runId, schoolId, journalId, json });
  return { meta, fetched: true };
}

/**
 * Archives a workflow's whole chain of runs, latest first, walking back through each run's
 * `continuedExecutionRunId`. Needs no visibility store, so it works on the time-skipping test
 * server too (which has no ListWorkflowExecutions).
 */
export async function archiveWorkflowChain(args: {
  archive: HistoryArchive;
  client: Client;
  workflowId: string;
  schoolId?: string;
  journalId?: string;
}): Promise<ArchiveOutcome> {
  const outcome: ArchiveOutcome = { archived: 0, unchanged: 0, failed: [] };
  const latest = await args.client.workflow.getHandle(args.workflowId).describe();
  let runId: string | null = latest.runId;
  const seen = new Set<string>();
  while (runId && !seen.has(runId)) {
    const current: string = runId;
    seen.add(current);
    try {
      const { meta, fetched } = await archiveRun({ ...args, runId: current });
      if (fetched) outcome.archived += 1;
      else outcome.unchanged += 1;
      runId = meta.continuedFromRunId;
    } catch (error) {
      outcome.failed.push({ workflowId: args.workflowId, runId: current, error: errorText(error) });
      runId = null;
    }
  }
  return outcome;
}

/** The visibility query for journal workflow runs, of one school or all. */
export function journalRunsQuery(schoolId?: string): string {
  const base = `WorkflowType = '${JOURNAL_CALLS_WORKFLOW}'`;
  return schoolId ? `${base} AND ${SchoolIdKey.name} = '${schoolId.replace(/'/g, "\\'")}'` : base;
}

/**
 * Archives every journal workflow run the server still knows (closed ones before retention takes
 * them, continued-as-new ones included: visibility lists each run), through the visibility store.
 * Closed runs already archived cost one `findOne` and no history fetch.
 */
export async function archiveFromVisibility(args: {
  db: Db;
  client: Client;
  schoolId?: string;
  onRun?: (done: number) => void;
}): Promise<ArchiveOutcome> {
  const archive = createHistoryArchive(args.db);
  const outcome: ArchiveOutcome = { archived: 0, unchanged: 0, failed: [] };
  let done = 0;
  for await (const info of args.client.workflow.list({ query: journalRunsQuery(args.schoolId) })) {
    const ids = idsOf(info);
    try {
      const { fetched } = await archiveRun({
        archive,
        client: args.client,
        workflowId: info.workflowId,
        runId: info.runId,
        ...ids,
      });
      if (fetched) outcome.archived += 1;
      else outcome.unchanged += 1;
    } catch (error) {
      outcome.failed.push({
        workflowId: info.workflowId,
        runId: info.runId,
        error: errorText(error),
      });
    }
    done += 1;
    args.onRun?.(done);
  }
  return outcome;
}

function idsOf(info: WorkflowExecutionInfo): { schoolId?: string; journalId?: string } {
  const schoolId = info.typedSearchAttributes.get(SchoolIdKey);
  const journalId = info.typedSearchAttributes.get(JournalIdKey);
  return {
    ...(schoolId === undefined ? {} : { schoolId }),
    ...(journalId === undefined ? {} : { journalId }),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
