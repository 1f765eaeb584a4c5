import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createRunIncidentReader } from '../../src/client/run-incidents';
import { decisionSinks } from '../../src/process/decision-sink';
import { createLogger } from '../../src/process/logger';
import { createMessengerProvider } from '../../src/messenger/provider';
import { connectMongo } from '../../src/store/db';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSettingsStore } from '../../src/store/settings-store';
import { createWorkflowGateway } from '../../src/client/workflow-gateway';

/**
 * A production worker in a process of its own (started by worker-process.ts), so a test or a drill
 * can SIGKILL it in the middle of a sync: the worker `startStack().startWorker()` builds (the
 * production activities over the test's database, task queue and emulator), with everything
 * passed in the environment.
 */
function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

async function main(): Promise<void> {
  const address = need('TEMPORAL_ADDRESS');
  const taskQueue = need('TASK_QUEUE');
  // The SDK's own warnings (failed polls while a drill has the server down) would drown the test output.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const { client: mongo, db } = await connectMongo(need('MONGODB_URI'), need('TEST_DB_NAME'));
  const logger = createLogger(process.env.LOG_LEVEL ?? 'silent');
  const settings = createSettingsStore({ db, box: createSecretBox(DEV_SECRETS_KEY) });
  const messengers = createMessengerProvider({
    settings,
    baseUrl: need('EMULATOR_URL'),
    apiVersion: '5.199',
    rateLimitPerSecond: 18,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const gateway = createWorkflowGateway(client, { taskQueue });
  const native = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: { codePath: need('WORKFLOW_BUNDLE') },
    activities: createActivities({
      db,
      logger,
      settings,
      messengers,
      gateway,
      runIncidents: createRunIncidentReader(client),
    }),
    sinks: decisionSinks(logger),
  });
  process.stdout.write('ready\n');
  try {
    await worker.run();
  } finally {
    await messengers.close();
    await connection.close();
    await native.close();
    await mongo.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
