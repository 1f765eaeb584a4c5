import { activityInfo } from '@temporalio/activity';
import type { RunIncidentReader } from '../../src/client/run-incidents';
import type { RunIncident, RunSummary } from '../../src/contracts/sync-records';
import type { ChatApplyResult, SyncActivities } from '../../src/contracts/sync-activities';
import type { Logger } from 'pino';
import type { SyncStore } from '../../src/store/sync-store';

export interface RecordDeps {
  readonly logger: Logger;
  readonly sync: Pick<SyncStore, 'saveRun'>;
  /** The run's incidents for its summary, read from its history; absent (the plan CLI): none. */
  readonly runIncidents?: RunIncidentReader;
}

/** `recordRun`: the run's summary, from the chats' results and what held the run up. */
export function createRecordRun(deps: RecordDeps): SyncActivities['recordRun'] {
  return async ({ schoolId, runId, planId, startedAt, results, errors, skippedNoVkId }) => {
    const sum = (pick: (r: ChatApplyResult) => number): number =>
      results.reduce((n, r) => n + pick(r), 0);
    let summary: RunSummary = {
      runId,
      planId,
      startedAt,
      finishedAt: new Date().toISOString(),
      chatsCreated: results.filter((r) => r.created).length,
      chatsAdopted: results.filter((r) => r.adopted).length,
      membersAdded: sum((r) => r.added),
      membersRemoved: sum((r) => r.removed),
      adminsChanged: sum((r) => r.adminsChanged),
      skippedNoVkId,
      unmanagedMembers: sum((r) => r.unmanaged),
      errors: errors + sum((r) => r.failedOps),
    };
    const incidents = await runIncidents(deps, startedAt);
    if (incidents.length > 0) summary = { ...summary, incidents };
    await deps.sync.saveRun({ ...summary, schoolId });
    deps.logger.info({ schoolId, ...summary }, 'sync run recorded');
    return summary;
  };
}

/**
 * What held this run up (retries, a lost worker, a server restart), from the workflow's history.
 * The summary is recorded without them when the history cannot be read: they are a report,
 * not a reason to fail the run.
 */
async function runIncidents(deps: RecordDeps, startedAt: string): Promise<RunIncident[]> {
  if (!deps.runIncidents) return [];
  const execution = activityInfo().workflowExecution;
  if (!execution) return [];
  const { workflowId, runId } = execution;
  try {
    return await deps.runIncidents({ workflowId, runId, since: Date.parse(startedAt) });
  } catch (error) {
    deps.logger.warn(
      { workflowId, error: error instanceof Error ? error.message : String(error) },
      'run incidents not read',
    );
    return [];
  }
}
