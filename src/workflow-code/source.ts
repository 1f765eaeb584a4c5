import type { WorkerOptions } from '@temporalio/worker';

/** Where the workflow code comes from: a prebuilt bundle in production, the sources in dev and tests. */
export type WorkflowSource =
  Pick<WorkerOptions, 'workflowBundle'> | Pick<WorkerOptions, 'workflowsPath'>;

export function workflowSourceFromEnv(): WorkflowSource {
  const bundle = process.env.SFERUM_WORKFLOW_BUNDLE;
  return bundle
    ? { workflowBundle: { codePath: bundle } }
    : { workflowsPath: require.resolve('../../workflows') };
}
