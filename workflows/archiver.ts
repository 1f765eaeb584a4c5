import { proxyActivities } from '@temporalio/workflow';
import type { ArchiveActivities, ArchiveSummary } from '../src/contracts/archive';

const { archiveHistories } = proxyActivities<ArchiveActivities>({
  startToCloseTimeout: '30 minutes',
  // The activity heartbeats once per run archived, so a stuck page of histories is noticed soon.
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '2 minutes', maximumAttempts: 5 },
});

/**
 * One pass of the history archiver, started by the `history-archiver` Temporal Schedule (see
 * src/audit/schedule.ts) so every pass is a run an operator can open in the Web UI. The work is
 * one activity: archiving is idempotent, so a retried or overlapping pass repeats nothing.
 */
export async function historyArchiverWorkflow(
  input: { schoolId?: string } = {},
): Promise<ArchiveSummary> {
  return archiveHistories(input.schoolId === undefined ? {} : { schoolId: input.schoolId });
}
