import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerDeploymentOptions } from '@temporalio/worker';

/**
 * Worker Versioning (Temporal worker deployments, docs/operating.md "Rolling upgrades"). A worker
 * started with `SFERUM_DEPLOYMENT_NAME` joins that deployment under its build ID; the server sends
 * workflow tasks only to the deployment's current version (and a ramping one), so a new build
 * takes over when the operator, or `sferum-sync deployment set-current`, says so, not when its
 * first process happens to poll. Without the variable the worker is unversioned, as in `npm start`
 * and the tests.
 *
 * Every workflow here is AutoUpgrade: a journal or school workflow lives for weeks and is woken by
 * timers, signals and updates at any time, and a pinned run would need its build's workers kept
 * up until the run continues-as-new; with AutoUpgrade the old build's workers can stop as soon as
 * the new build is current, and a code change that would alter a running history is guarded by
 * `patched()`, as it always was here, checked by the replay suite against both builds' histories.
 */

const projectRoot = join(__dirname, '..', '..');

/** `SFERUM_BUILD_ID`, else the package version and the git commit (with `-dirty` for local edits). */
export function resolveBuildId(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.SFERUM_BUILD_ID;
  if (given) return given;
  const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  const git = (args: string[]): string | undefined => {
    const result = spawnSync('git', args, { cwd: projectRoot, encoding: 'utf8' });
    return result.status === 0 ? result.stdout.trim() : undefined;
  };
  const commit = git(['rev-parse', '--short=12', 'HEAD']);
  if (!commit) return version;
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  return `${version}+${commit}${dirty ? '-dirty' : ''}`;
}

export function deploymentVersion(
  deploymentName: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): WorkerDeploymentVersion | undefined {
  return deploymentName ? { deploymentName, buildId: resolveBuildId(env) } : undefined;
}

export function workerDeploymentOptions(version: WorkerDeploymentVersion): WorkerDeploymentOptions {
  return { version, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' };
}

/**
 * Makes `version` the deployment's current version: new and AutoUpgrade workflows move to it at
 * their next workflow task. The version must have pollers (its workers running) unless
 * `allowNoPollers`.
 */
export async function setCurrentVersion(
  connection: Connection,
  args: { namespace: string; version: WorkerDeploymentVersion; identity?: string },
): Promise<void> {
  await connection.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: args.namespace,
    deploymentName: args.version.deploymentName,
    buildId: args.version.buildId,
    identity: args.identity ?? 'sferum-sync deployment',
  });
}

/** Sends `percentage` of new workflow runs to `version` while the current one keeps the rest. */
export async function setRampingVersion(
  connection: Connection,
  args: {
    namespace: string;
    version: WorkerDeploymentVersion;
    percentage: number;
    identity?: string;
  },
): Promise<void> {
  await connection.workflowService.setWorkerDeploymentRampingVersion({
    namespace: args.namespace,
    deploymentName: args.version.deploymentName,
    buildId: args.version.buildId,
    percentage: args.percentage,
    identity: args.identity ?? 'sferum-sync deployment',
  });
}

export interface DeploymentState {
  readonly current: string | undefined;
  readonly ramping: string | undefined;
  readonly rampingPercentage: number;
  readonly versions: readonly { buildId: string; status: string }[];
}

export async function describeDeployment(
  connection: Connection,
  args: { namespace: string; deploymentName: string },
): Promise<DeploymentState> {
  const { workerDeploymentInfo: info } =
    await connection.workflowService.describeWorkerDeployment(args);
  const routing = info?.routingConfig;
  return {
    current: routing?.currentDeploymentVersion?.buildId ?? undefined,
    ramping: routing?.rampingDeploymentVersion?.buildId ?? undefined,
    rampingPercentage: routing?.rampingVersionPercentage ?? 0,
    versions: (info?.versionSummaries ?? []).map((v) => ({
      buildId: v.deploymentVersion?.buildId ?? '?',
      status: String(v.status ?? '?'),
    })),
  };
}
