import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { RunIncident } from '../contracts/sync-records';
import { describeIncident, historyIncidents } from '../audit/incidents';

/** A run summary keeps the first few; the history and the audit have them all. */
export const MAX_RUN_INCIDENTS = 20;

/**
 * The incidents of a workflow run since a moment, read from its history on the server: what a
 * sync run's summary keeps, so the status and the run log show the outage a run got through.
 */
export type RunIncidentReader = (args: {
  workflowId: string;
  runId: string;
  since: number;
}) => Promise<RunIncident[]>;

export function createRunIncidentReader(client: Client): RunIncidentReader {
  return async ({ workflowId, runId, since }) => {
    const history: unknown = JSON.parse(
      historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory()),
    );
    return historyIncidents({ workflowId, runId, history })
      .filter((i) => i.at >= since)
      .slice(0, MAX_RUN_INCIDENTS)
      .map((i) => ({
        kind: i.kind,
        at: new Date(i.at).toISOString(),
        subject: i.subject,
        attempts: i.attempts,
        delayMs: i.delayMs,
        reason: i.reason,
        text: describeIncident(i),
      }));
  };
}
