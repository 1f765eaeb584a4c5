/**
 * How the workflow code is bundled, wherever it is: the production bundle
 * (`src/dev/bundle-workflows.ts`), a worker that bundles its sources at start-up, the benchmarks.
 *
 * With V8 context reuse, every module the workflow code imports is evaluated afresh for each
 * workflow run the worker holds in its cache; only preloaded modules are evaluated once per
 * worker thread and shared. zod is most of the bundle (the update validators' schemas need it):
 * loaded per run it cost about 1.5 MiB of worker memory for every cached journal workflow, so
 * 2,000 cached journals alone outgrew a 1 GiB worker (bench/scale.bench.ts). It keeps no
 * per-workflow state (schemas are built by the importing modules, which stay per run), so sharing
 * it cannot leak one workflow's state into another; the SDK deep-freezes shared modules, which
 * zod tolerates (parse, errors and enums all run against the frozen module).
 */
export const workflowBundlerOptions: { readonly preloadModules: readonly string[] } = {
  preloadModules: [require.resolve('./workflow-preload')],
};
