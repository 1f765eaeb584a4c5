import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { JournalIdKey, SchoolIdKey } from '../contracts/search-attributes';
import type { Db } from 'mongodb';
import { summarizeHistory } from '../contracts/history';
import {
  createHistoryArchive,
  type ArchivedRunMeta,
  type HistoryArchive,
} from '../store/history-archive';
import { JOURNAL_CALLS_WORKFLOW } from '../contracts/ids';

/** Copies journal workflow histories from the Temporal server into the archive (src/store/history-archive.ts). */

export interface ArchiveOutcome {
  /** Runs fetched and written (new, or open runs refreshed). */
  archived: number;
  /** Closed runs already archived: nothing fetched. */
  unchanged: number;
  /** Runs whose history could not be fetched (e.g. dropped by retention before we got to them). */
  failed: { workflowId: string; runId: string; error: string }[];
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
