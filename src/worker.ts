import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Db } from 'mongodb';
import { TASK_QUEUE } from './contracts/ids';
import { createActivities, type ActivityDeps } from '../activities';
import type { Logger } from './logger';
import { decisionSinks } from './decision-sink';

/** Where the workflow code comes from: a prebuilt bundle in production, the sources in dev and tests. */
export type WorkflowSource = Pick<WorkerOptions, 'workflowBundle'> | Pick<WorkerOptions, 'workflowsPath'>;

export function workflowSourceFromEnv(): WorkflowSource {
  const bundle = process.env.SFERUM_WORKFLOW_BUNDLE;
  return bundle
    ? { workflowBundle: { codePath: bundle } }
    : { workflowsPath: require.resolve('../workflows') };
}

export async function createSferumWorker(args: {
  connection: NativeConnection;
  namespace: string;
  db: Db;
  logger: Logger;
  deps: Omit<ActivityDeps, 'db' | 'logger'>;
  workflows?: WorkflowSource;
  taskQueue?: string;
  identity?: string;
}): Promise<Worker> {
  return Worker.create({
    connection: args.connection,
    namespace: args.namespace,
    taskQueue: args.taskQueue ?? TASK_QUEUE,
    ...(args.workflows ?? workflowSourceFromEnv()),
    activities: createActivities({ db: args.db, logger: args.logger, ...args.deps }),
    sinks: decisionSinks(args.logger),
    ...(args.identity ? { identity: args.identity } : {}),
    // Journal workflows sleep for hours; keeping more of them cached saves replays on wake-up.
    maxCachedWorkflows: 2_000,
  });
}

export { Db };
