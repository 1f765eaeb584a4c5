import { Connection } from '@temporalio/client';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../process/config';
import { describeDeployment, setCurrentVersion, setRampingVersion } from '../process/deployment';

/**
 * `sferum-sync deployment show | set-current <buildId> | ramp <buildId> <percent>`: the rollout
 * steps of docs/operating.md "Rolling upgrades", against TEMPORAL_ADDRESS and the deployment
 * named by SFERUM_DEPLOYMENT_NAME (default `sferum-sync`, what `npm run cluster` uses).
 */
export function registerDeploymentCommands(program: Command): void {
  const deployment = program
    .command('deployment')
    .description('Worker Versioning: show the worker deployment, ramp or switch its current build');

  deployment
    .command('show')
    .description('the current and ramping builds and every version the server knows')
    .action(() =>
      withDeployment(async (connection, namespace, deploymentName) => {
        const state = await describeDeployment(connection, { namespace, deploymentName });
        process.stdout.write(`${JSON.stringify({ deploymentName, ...state }, null, 2)}\n`);
      }),
    );

  deployment
    .command('set-current <buildId>')
    .description('route every new workflow task (AutoUpgrade: running workflows too) to this build')
    .action((buildId: string) =>
      withDeployment(async (connection, namespace, deploymentName) => {
        await setCurrentVersion(connection, { namespace, version: { deploymentName, buildId } });
        process.stdout.write(`${deploymentName}: current build is now ${buildId}\n`);
      }),
    );

  deployment
    .command('ramp <buildId> <percent>')
    .description(
      'send this percentage of workflows to the build while the current one keeps the rest',
    )
    .action((buildId: string, percentText: string) => {
      const percentage = Number(percentText);
      if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
        throw new InvalidArgumentError('percent must be between 0 and 100');
      }
      return withDeployment(async (connection, namespace, deploymentName) => {
        await setRampingVersion(connection, {
          namespace,
          version: { deploymentName, buildId },
          percentage,
        });
        process.stdout.write(`${deploymentName}: ${buildId} ramping at ${percentage}%\n`);
      });
    });
}

async function withDeployment(
  run: (connection: Connection, namespace: string, deploymentName: string) => Promise<void>,
): Promise<void> {
  const config = loadConfig();
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    await run(
      connection,
      config.TEMPORAL_NAMESPACE,
      config.SFERUM_DEPLOYMENT_NAME ?? 'sferum-sync',
    );
  } finally {
    await connection.close();
  }
}
