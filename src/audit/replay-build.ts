import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleWorkflows } from '../workflow-code/bundle';
import type { ReplayWorkflowSource } from './replay-runs';

/**
 * The workflow code a replay runs, as one bundle, and its build ID: a hash of the bundle's code
 * together with the incident reader (incidents.ts), since a stored replay holds what both made.
 *
 * Not the worker's deployment build ID (src/process/deployment.ts): that one is the package version and
 * git commit, so it changes with every commit, workflow code or not, and would have the whole
 * archive replayed after a change to an HTTP route; and a replay of edited workflow code from the
 * same checkout (the replay suite does it) would wrongly match it. The bundle hash changes exactly
 * when the code that replays does.
 */
export interface ReplayBuild {
  readonly code: string;
  readonly buildId: string;
}

const builds = new Map<string, Promise<ReplayBuild>>();
const bundles = new WeakMap<object, Promise<ReplayBuild>>();

/** Bundling takes seconds: each source is bundled (or read) once per process. */
export function replayBuild(source: ReplayWorkflowSource): Promise<ReplayBuild> {
  const path = 'workflowsPath' in source ? source.workflowsPath : undefined;
  if (path !== undefined) {
    let build = builds.get(path);
    if (!build) {
      build = bundleWorkflows({ workflowsPath: path }).then(({ code }) => withBuildId(code));
      builds.set(path, build);
    }
    return build;
  }
  const bundle = 'workflowBundle' in source ? source.workflowBundle : undefined;
  if (!bundle) throw new Error('the workflow source names neither a path nor a bundle');
  let build = bundles.get(bundle);
  if (!build) {
    build =
      'code' in bundle
        ? withBuildId(bundle.code)
        : readFile(bundle.codePath, 'utf8').then((code) => withBuildId(code));
    bundles.set(bundle, build);
  }
  return build;
}

let readerSource: Promise<string> | undefined;

async function withBuildId(code: string): Promise<ReplayBuild> {
  readerSource ??= readFile(require.resolve('./incidents'), 'utf8');
  const hash = createHash('sha256')
    .update(code)
    .update('\0')
    .update(await readerSource);
  return { code, buildId: `wf-${hash.digest('hex').slice(0, 20)}` };
}
