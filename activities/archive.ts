import { Context, log } from '@temporalio/activity';
import type { Db } from 'mongodb';
import { archiveFromVisibility } from '../src/audit/archive';
import { createHistoryArchive } from '../src/store/history-archive';

/** Counts only: the result lands in the archiver's history, which needs no more. */
export interface ArchiveSummary {
  readonly archived: number;
  readonly unchanged: number;
  readonly failed: number;
}

export interface ArchiveActivities {
  /** Copies every journal workflow run the server still holds into MongoDB (idempotent). */
  archiveHistories(args: { schoolId?: string }): Promise<ArchiveSummary>;
}

export function createArchiveActivities({ db }: { db: Db }): ArchiveActivities {
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
      return {
        archived: outcome.archived,
        unchanged: outcome.unchanged,
        failed: outcome.failed.length,
      };
    },
  };
}
