import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { bundleWorkflows } from '../../src/workflow-code/bundle';
import { MongoClient, type Db } from 'mongodb';
import { buildApi } from '../../src/api/server';
import type { ZodApp } from '../../src/api/context';
import type { RosterSnapshot } from '../../src/contracts/roster';
import { chatKeys } from '../../src/domain/chat-plan';
import { createLogger, type Logger } from '../../src/process/logger';
import { createMessengerProvider, type MessengerProvider } from '../../src/messenger/provider';
import { ensureIndexes } from '../../src/store/db';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSettingsStore, type SettingsStore } from '../../src/store/settings-store';
import { createSyncStore } from '../../src/store/sync-store';
import { createWorkflowGateway, type WorkflowGateway } from '../../src/client/workflow-gateway';
import { createSferumWorker } from '../../src/process/worker';
import { startEmulatorProcess, type EmulatorProcess } from './emulator-process';
import type { BenchServices } from './services';

/**
 * The call path as production wires it: the HTTP API and a worker built by `createSferumWorker`
 * with the production activities, over the bench's Temporal dev server and MongoDB-compatible
 * server, talking to the VK API emulator in its own process. Each stack has its own database and
 * task queue, so scenarios sharing the servers never meet each other's workflows.
 */
export interface CallsStack {
  readonly db: Db;
  readonly client: Client;
  readonly gateway: WorkflowGateway;
  readonly settings: SettingsStore;
  readonly emulator: EmulatorProcess;
  readonly taskQueue: string;
  readonly worker: Worker;
  /** The HTTP API's base URL. */
  readonly apiUrl: string;
  stop(): Promise<void>;
}

let bundle: Promise<{ code: string }> | undefined;

/** Webpack-bundling the workflows takes seconds: once per bench process. */
function workflowCode(): Promise<{ code: string }> {
  bundle ??= bundleWorkflows().then(({ code }) => ({ code }));
  return bundle;
}

export async function startCallsStack(
  services: BenchServices,
  opts: { logger?: Logger } = {},
): Promise<CallsStack> {
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    undo.length = 0;
  };
  try {
    const logger = opts.logger ?? createLogger('warn');
    const mongo = new MongoClient(services.mongoUri);
    await mongo.connect();
    undo.push(() => mongo.close());
    const db = mongo.db(`bench_${randomBytes(6).toString('hex')}`);
    undo.push(() => db.dropDatabase());
    await ensureIndexes(db);

    const emulator = await startEmulatorProcess();
    undo.push(() => emulator.stop());

    const connection = await Connection.connect({ address: services.temporalAddress });
    undo.push(() => connection.close());
    const client = new Client({ connection });
    const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
    const gateway = createWorkflowGateway(client, { taskQueue });
    const box = createSecretBox(DEV_SECRETS_KEY);
    const settings = createSettingsStore({ db, box });
    const messengers: MessengerProvider = createMessengerProvider({
      settings,
      baseUrl: emulator.url,
      apiVersion: '5.199',
      rateLimitPerSecond: 18,
    });
    undo.push(() => messengers.close());

    const native = await NativeConnection.connect({ address: services.temporalAddress });
    undo.push(() => native.close());
    const worker = await createSferumWorker({
      connection: native,
      namespace: 'default',
      db,
      logger,
      deps: { settings, messengers, gateway },
      workflows: { workflowBundle: await workflowCode() },
      taskQueue,
    });
    const running = worker.run();
    undo.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });

    const api: ZodApp = await buildApi({
      db,
      gateway,
      settings,
      logger,
      secretsBox: box,
      readiness: { temporal: () => Promise.resolve(true) },
    });
    await api.listen({ host: '127.0.0.1', port: 0 });
    undo.push(() => api.close());
    const { port } = api.server.address() as AddressInfo;

    return {
      db,
      client,
      gateway,
      settings,
      emulator,
      taskQueue,
      worker,
      apiUrl: `http://127.0.0.1:${port}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A school as the bench needs it: its community on the emulator and in the settings, its roster
 * imported (the school sync is not started: nothing else talks to the platform), and every
 * subject chat already made, as the sync would have made it (C2), so a start is a start and not
 * a chat creation.
 */
export async function seedSchool(
  stack: CallsStack,
  args: { roster: RosterSnapshot; communityId: number },
): Promise<void> {
  const schoolId = args.roster.school.id;
  const token = `bench-${randomBytes(16).toString('hex')}`;
  await stack.emulator.addCommunity({ communityId: args.communityId, token });
  await stack.settings.save({
    schoolId,
    input: { communityId: args.communityId, token, period: '30', enabled: true },
  });
  await importSnapshot({
    db: stack.db,
    input: args.roster,
    events: { rosterChanged: () => Promise.resolve() },
  });
  const sync = createSyncStore(stack.db);
  for (const journal of args.roster.journals) {
    const title = `${journal.subject} ${journal.id}`;
    const chatId = await stack.emulator.createChat({ communityId: args.communityId, title });
    await sync.upsertChat({
      schoolId,
      key: chatKeys.subject(journal.id),
      kind: 'subject',
      title,
      chatId,
      createIntentAt: null,
      managedMembers: [],
      managedAdmins: [],
      retired: false,
      lastRunId: null,
    });
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A line on stderr at most every `everyMs`, so a long setup shows it is moving. */
export function progress(label: string, everyMs = 3_000): (line: string, force?: boolean) => void {
  let last = 0;
  return (line, force = false) => {
    const now = Date.now();
    if (!force && now - last < everyMs) return;
    last = now;
    process.stderr.write(`${label}: ${line}\n`);
  };
}
