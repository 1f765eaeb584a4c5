import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Db } from 'mongodb';
import { createActivities } from '../../activities';
import { createRunIncidentReader } from '../../src/client/run-incidents';
import { createEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/vk';
import { createLogger, type Logger } from '../../src/process/logger';
import { createMessengerProvider, type MessengerProvider } from '../../src/messenger/provider';
import { decisionSinks } from '../../src/process/decision-sink';
import { ensureIndexes } from '../../src/store/db';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSettingsStore, type SettingsStore } from '../../src/store/settings-store';
import { createWorkflowGateway, type WorkflowGateway } from '../../src/client/workflow-gateway';
import { openTestDb, workflowBundle, type TestServices } from './services';

/**
 * The real system for integration tests: MongoDB-compatible server, Temporal dev server, the VK
 * API emulator and a worker with the production activities, on a task queue of its own.
 */
export interface Stack {
  readonly db: Db;
  readonly client: Client;
  readonly gateway: WorkflowGateway;
  readonly emulator: Emulator;
  readonly settings: SettingsStore;
  readonly messengers: MessengerProvider;
  readonly logger: Logger;
  readonly taskQueue: string;
  /** Starts a worker (again, e.g. after a kill); the stack stops it at the end. */
  startWorker(): Promise<Worker>;
  stop(): Promise<void>;
}

export async function startStack(args: {
  services: TestServices;
  emulatorOptions?: Partial<EmulatorOptions>;
  logger?: Logger;
  /** Where the messenger sends VK calls; the emulator itself unless a test puts something in front. */
  vkBaseUrl?: (emulatorUrl: string) => string;
}): Promise<Stack> {
  const mongo = await openTestDb(args.services.mongoUri);
  await ensureIndexes(mongo.db);
  const emulator = await createEmulator({ options: { ...args.emulatorOptions } });
  const connection = await Connection.connect({ address: args.services.temporalAddress });
  const client = new Client({ connection });
  const logger = args.logger ?? createLogger('silent');
  const settings = createSettingsStore({ db: mongo.db, box: createSecretBox(DEV_SECRETS_KEY) });
  const messengers = createMessengerProvider({
    settings,
    baseUrl: args.vkBaseUrl?.(emulator.url) ?? emulator.url,
    apiVersion: '5.199',
    rateLimitPerSecond: 18,
  });
  // The production gateway, pointed at this test's own task queue.
  const taskQueue = `it-${Math.random().toString(36).slice(2, 10)}`;
  const gateway = createWorkflowGateway(client, { taskQueue });
  const workers: { worker: Worker; run: Promise<void>; native: NativeConnection }[] = [];

  return {
    db: mongo.db,
    client,
    gateway,
    emulator,
    settings,
    messengers,
    logger,
    taskQueue,
    async startWorker() {
      const native = await NativeConnection.connect({ address: args.services.temporalAddress });
      const worker = await Worker.create({
        connection: native,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities: createActivities({
          db: mongo.db,
          logger,
          settings,
          messengers,
          gateway,
          runIncidents: createRunIncidentReader(client),
        }),
        sinks: decisionSinks(logger),
      });
      workers.push({ worker, run: worker.run(), native });
      return worker;
    },
    async stop() {
      for (const w of workers) {
        if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
        await w.run.catch(() => undefined);
        await w.native.close();
      }
      await messengers.close();
      await connection.close();
      await emulator.close();
      await mongo.drop();
    },
  };
}
