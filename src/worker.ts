import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Db } from 'mongodb';
import { TASK_QUEUE } from './contracts/ids';
import { createActivities, type ActivityDeps } from '../activities';
import type { Logger } from './logger';
import { decisionSinks } from './decision-sink';
import { workflowBundlerOptions } from './workflow-bundling';

/** Where the workflow code comes from: a prebuilt bundle in production, the sources in dev and tests. */
export type WorkflowSource =
  Pick<WorkerOptions, 'workflowBundle'> | Pick<WorkerOptions, 'workflowsPath'>;

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
  const workflows = args.workflows ?? workflowSourceFromEnv();
  return Worker.create({
    connection: args.connection,
    namespace: args.namespace,
    taskQueue: args.taskQueue ?? TASK_QUEUE,
    ...workflows,
    ...('workflowsPath' in workflows
      ? { bundlerOptions: { preloadModules: [...workflowBundlerOptions.preloadModules] } }
      : {}),
    activities: createActivities({ db: args.db, logger: args.logger, ...args.deps }),
    sinks: decisionSinks(args.logger),
    ...(args.identity ? { identity: args.identity } : {}),
    // A cached run costs the worker about 0.4–0.5 MiB (its modules and state in the workflow
    // thread, with the shared libraries preloaded: src/workflow-bundling.ts); a run not cached
    // costs nothing, its state is on the server. bench/scale.bench.ts holds a worker with 10,000
    // sleeping journals to 1 GiB: 1,000 cached runs on top of its ~250 MiB leave room for a
    // wake-up burst, where 2,000 would not. A larger cache would buy little: a journal wakes a
    // few times a day, and with thousands of journals per worker most wake-ups find their run
    // evicted whatever the size, and replay a history that continue-as-new keeps short.
    maxCachedWorkflows: 1_000,
  });
}

export { Db };
