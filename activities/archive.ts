import { Context, log } from '@temporalio/activity';
import type { Db } from 'mongodb';
import { archiveFromVisibility } from '../src/client/archive-histories';
import { createHistoryArchive } from '../src/store/history-archive';
import type { ReplayWorkflowSource } from '../src/audit/replay-runs';
import { replayArchived } from '../src/audit/stored-replays';
// A cycle (src/process/worker.ts builds the activities), harmless: used only when an activity runs.
import { workflowSourceFromEnv } from '../src/workflow-code/source';
import type { ArchiveActivities } from '../src/contracts/archive';

/** Counts only: the result lands in the archiver's history, which needs no more. */
/**
 * The replay pass's share of the activity's time (its start-to-close timeout is 30 minutes): a
 * backlog, after a new build or the first deploy, is worked through over several passes.
 */
const REPLAY_BUDGET_MS = 15 * 60_000;

export function createArchiveActivities({
  db,
  workflows,
}: {
  db: Db;
  /** The code the replay pass replays with; by default the workers' own (src/process/worker.ts). */
  workflows?: ReplayWorkflowSource;
}): ArchiveActivities {
  let indexes: Promise<void> | undefined;
  return {
    async archiveHistories({ schoolId }) {
      indexes ??= createHistoryArchive(db).ensureIndexes();
      await indexes;
      const context = Context.current();
      const outcome = await archiveFromVisibility({
        db,
        // The worker's own client: the activity talks to the server the worker polls.
        client: context.client,
        ...(schoolId === undefined ? {} : { schoolId }),
        onRun: (done) => context.heartbeat(done),
      });
      for (const failure of outcome.failed) log.warn('history not archived', { ...failure });
      const replay = await replayArchived({
        db,
        workflows: workflows ?? workflowSourceFromEnv(),
        ...(schoolId === undefined ? {} : { schoolId }),
        budgetMs: REPLAY_BUDGET_MS,
        onRun: (done) => context.heartbeat(done),
      });
      if (replay.failed > 0)
        log.warn('archived runs that no longer replay', {
          failed: replay.failed,
          buildId: replay.buildId,
        });
      return {
        archived: outcome.archived,
        unchanged: outcome.unchanged,
        failed: outcome.failed.length,
        replayed: replay.replayed,
        replayFailed: replay.failed,
        replayPending: replay.pending,
      };
    },
  };
}
