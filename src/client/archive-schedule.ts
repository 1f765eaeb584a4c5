import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import { TASK_QUEUE, workflowIds } from '../contracts/ids';

export const ARCHIVER_SCHEDULE_ID = 'history-archiver';
export const HISTORY_ARCHIVER_WORKFLOW = 'historyArchiverWorkflow';

/**
 * A pass every 15 minutes keeps the archive far ahead of the server's retention (24 h on the
 * dev server) and an open run's archived history at most a quarter of an hour stale.
 */
export const DEFAULT_ARCHIVE_EVERY = '15 minutes';

function scheduleOptions(args: {
  taskQueue: string;
  every: string;
}): ScheduleOptions & Required<Pick<ScheduleOptions, 'policies'>> {
  return {
    scheduleId: ARCHIVER_SCHEDULE_ID,
    spec: { intervals: [{ every: args.every }] },
    action: {
      type: 'startWorkflow',
      workflowType: HISTORY_ARCHIVER_WORKFLOW,
      taskQueue: args.taskQueue,
      workflowId: workflowIds.historyArchiver(),
      args: [{}],
      staticSummary: 'Archive journal workflow histories into MongoDB',
      staticDetails:
        'Copies every journal calls run (closed, continued-as-new and open) into the `history_archive` ' +
        'collection, gzip-compressed, before retention drops it; the audit replays them from there.',
    },
    policies: {
      // A pass that outlives the interval is never doubled: the next one simply waits its turn.
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '1 hour',
      pauseOnFailure: false,
    },
    state: { note: 'History archive for the missed-call audit (docs/audit.md)' },
  };
}

/**
 * Creates the archiver's schedule, or brings an existing one to the wanted interval and task
 * queue. Safe to call at every start-up of every worker.
 */
export async function ensureArchiveSchedule(
  client: Client,
  opts: { taskQueue?: string; every?: string } = {},
): Promise<'created' | 'updated'> {
  const options = scheduleOptions({
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    every: opts.every ?? DEFAULT_ARCHIVE_EVERY,
  });
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(ARCHIVER_SCHEDULE_ID).update((previous) => ({
      ...previous,
      spec: options.spec,
      action: options.action,
      policies: options.policies,
    }));
    return 'updated';
  }
}
