import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { decisionSinks } from '../../src/process/decision-sink';
import { createLogger } from '../../src/process/logger';
import { createMessengerProvider } from '../../src/messenger/provider';
import { connectMongo } from '../../src/store/db';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSettingsStore } from '../../src/store/settings-store';
import { createWorkflowGateway } from '../../src/client/workflow-gateway';

/**
 * A production worker in a process of its own, run by journal-calls.test.ts so the test can kill
 * it with SIGKILL in the middle of starting a call. It serves the test stack's task queue with the
 * real activities, over the test's database and emulator, and the workflow bundle the test wrote.
 */
async function main(): Promise<void> {
  const env = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  const taskQueue = env('TASK_QUEUE');
  const temporalAddress = env('TEMPORAL_ADDRESS');
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const { db } = await connectMongo(env('MONGODB_URI'), env('TEST_DB_NAME'));
  const settings = createSettingsStore({ db, box: createSecretBox(DEV_SECRETS_KEY) });
  const messengers = createMessengerProvider({
    settings,
    baseUrl: env('EMULATOR_URL'),
    apiVersion: '5.199',
    rateLimitPerSecond: 20,
  });
  const client = new Client({ connection: await Connection.connect({ address: temporalAddress }) });
  const logger = createLogger('silent');
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: temporalAddress }),
    taskQueue,
    workflowBundle: { codePath: env('WORKFLOW_BUNDLE_PATH') },
    activities: createActivities({
      db,
      logger,
      settings,
      messengers,
      gateway: createWorkflowGateway(client, { taskQueue }),
    }),
    sinks: decisionSinks(logger),
  });
  process.stdout.write('worker running\n');
  await worker.run();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
