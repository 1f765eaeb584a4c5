import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/**
 * With V8 context reuse, every module the workflow code imports is evaluated afresh for each
 * workflow run the worker holds in its cache; only preloaded modules are evaluated once per
 * worker thread and shared. zod is most of the bundle (the update validators' schemas need it):
 * loaded per run it multiplied the worker's memory per cached journal workflow
 * (bench/scale.bench.ts has the figures). It keeps no per-workflow state (schemas are built by the
 * importing modules, which stay per run), so sharing it cannot leak one workflow's state into
 * another; the SDK deep-freezes shared modules, which zod tolerates.
 */
export const workflowBundlerOptions: { readonly preloadModules: readonly string[] } = {
  preloadModules: [require.resolve('./preload')],
};

const quiet = (): void => undefined;

/**
 * Bundles the workflow code the one way it runs everywhere (production bundle, a worker that
 * bundles at start-up, the audit, tests, benchmarks), so nothing is measured or replayed on a
 * bundle built differently. Webpack's chatter is dropped; its errors are printed.
 */
export function bundleWorkflows(
  args: { readonly workflowsPath?: string } = {},
): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: args.workflowsPath ?? require.resolve('../../workflows'),
    preloadModules: [...workflowBundlerOptions.preloadModules],
    logger: {
      trace: quiet,
      debug: quiet,
      info: quiet,
      warn: quiet,
      error: console.error,
      log: quiet,
    },
  });
}
