import { NativeConnection, Worker } from '@temporalio/worker';
import type { Db } from 'mongodb';
import { TASK_QUEUE } from '../contracts/ids';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Logger } from './logger';
import { decisionSinks } from './decision-sink';
import { workflowSourceFromEnv, type WorkflowSource } from '../workflow-code/source';
import { workflowBundlerOptions } from '../workflow-code/bundle';
import { workerDeploymentOptions } from './deployment';
import type { WorkerDeploymentVersion } from '@temporalio/common';

export async function createSferumWorker(args: {
  connection: NativeConnection;
  namespace: string;
  db: Db;
  logger: Logger;
  deps: Omit<ActivityDeps, 'db' | 'logger'>;
  workflows?: WorkflowSource;
  taskQueue?: string;
  identity?: string;
  /** Joins this worker deployment version (src/process/deployment.ts); unversioned without it. */
  deployment?: WorkerDeploymentVersion | undefined;
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
    ...(args.deployment
      ? { workerDeploymentOptions: workerDeploymentOptions(args.deployment) }
      : {}),
    // A cached run costs the worker its modules and state in the workflow thread (the shared
    // libraries are preloaded: src/workflow-code/bundle.ts), and a run not cached costs nothing,
    // its state is on the server. 500 holds a worker with 10,000 sleeping journals under 1 GiB
    // (bench/scale.bench.ts, docs/benchmarks.md) and is what the SDK itself would pick for a 1 GiB
    // heap with context reuse. A larger cache would buy little: a journal wakes a few times a day,
    // and with thousands of journals per worker most wake-ups find their run evicted whatever the
    // size, and replay a history that continue-as-new keeps short.
    maxCachedWorkflows: 500,
    // Armed automatic starts (workflows/journal-calls.ts) each hold a slot for up to 45 s before
    // their bell, and every journal due at one bell is armed at once: the SDK's default of 100
    // would leave the rest waiting for a slot past their due time. They are timers and requests,
    // not CPU; the platform's rate limit is enforced per community token in the client.
    maxConcurrentActivityTaskExecutions: 2_000,
  });
}

export { Db };
