import { Client, Connection } from '@temporalio/client';
import {
  NativeConnection,
  Runtime,
  makeTelemetryFilterString,
  type Worker,
} from '@temporalio/worker';
import type { Db, MongoClient } from 'mongodb';
import type { Config } from './config';
import type { Logger } from './logger';
import { createMessengerProvider, type MessengerProvider } from '../messenger/provider';
import { connectMongo, ensureIndexes } from '../store/db';
import { createRateSlots } from '../store/rate-slots';
import { createSecretBox, resolveSecretsKey, type SecretBox } from '../store/secrets';
import { createSettingsStore, type SettingsStore } from '../store/settings-store';
import { createWorkflowGateway, type WorkflowGateway } from '../client/workflow-gateway';
import { limitHeapGrowth } from './heap';
import { createSferumWorker } from './worker';
import type { WorkflowSource } from '../workflow-code/source';
import { buildApi } from '../api/server';
import { createAuditPort } from '../audit/port';
import { createRunIncidentReader } from '../client/run-incidents';
import { ensureArchiveSchedule } from '../client/archive-schedule';
import { deploymentVersion } from './deployment';

/**
 * The process-wide pieces every entry point shares: one MongoDB connection, one Temporal client,
 * the settings store with its secret box and the messenger provider.
 */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly mongo: MongoClient;
  readonly db: Db;
  readonly connection: Connection;
  readonly client: Client;
  readonly gateway: WorkflowGateway;
  readonly box: SecretBox;
  readonly settings: SettingsStore;
  readonly messengers: MessengerProvider;
  close(): Promise<void>;
}

export async function openApp(args: {
  config: Config;
  logger: Logger;
  mongoUri: string;
}): Promise<App> {
  const { config, logger } = args;
  const box = createSecretBox(resolveSecretsKey(config));
  const { client: mongo, db } = await connectMongo(args.mongoUri, config.MONGODB_DB);
  await ensureIndexes(db);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const settings = createSettingsStore({ db, box });
  const messengers = createMessengerProvider({
    settings,
    baseUrl: config.VK_API_BASE,
    apiVersion: config.VK_API_VERSION,
    rateLimitPerSecond: config.VK_RATE_LIMIT_PER_SECOND,
    ...(config.VK_RATE_LIMIT_SCOPE === 'cluster' ? { slots: createRateSlots(db) } : {}),
  });
  return {
    config,
    logger,
    mongo,
    db,
    connection,
    client,
    gateway: createWorkflowGateway(client),
    box,
    settings,
    messengers,
    async close() {
      await messengers.close();
      await connection.close();
      await mongo.close();
    },
  };
}

let runtimeInstalled = false;

/** Routes the SDK's own logs through pino and exposes its metrics for Prometheus. */
export function installRuntime(
  logger: Logger,
  metrics: { host: string; port: number } | null,
): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: {
      log: (level, message, meta) =>
        logger[
          level === 'WARN'
            ? 'warn'
            : level === 'ERROR'
              ? 'error'
              : level === 'DEBUG' || level === 'TRACE'
                ? 'debug'
                : 'info'
        ]({ ...meta, component: 'temporal' }, message),
      trace: (message, meta) => logger.trace({ ...meta, component: 'temporal' }, message),
      debug: (message, meta) => logger.debug({ ...meta, component: 'temporal' }, message),
      info: (message, meta) => logger.info({ ...meta, component: 'temporal' }, message),
      warn: (message, meta) => logger.warn({ ...meta, component: 'temporal' }, message),
      error: (message, meta) => logger.error({ ...meta, component: 'temporal' }, message),
    },
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(metrics === null
        ? {}
        : { metrics: { prometheus: { bindAddress: `${metrics.host}:${metrics.port}` } } }),
    },
  });
}

export async function startWorker(
  app: App,
  opts: { workflows?: WorkflowSource; identity?: string } = {},
): Promise<Worker> {
  limitHeapGrowth(app.config.WORKER_HEAP_GROWING_PERCENT);
  const connection = await NativeConnection.connect({ address: app.config.TEMPORAL_ADDRESS });
  // The archive must run wherever a worker runs: closed runs vanish after the server's retention.
  await ensureArchiveSchedule(app.client);
  const worker = await createSferumWorker({
    connection,
    namespace: app.config.TEMPORAL_NAMESPACE,
    db: app.db,
    logger: app.logger,
    deps: {
      settings: app.settings,
      messengers: app.messengers,
      gateway: app.gateway,
      runIncidents: createRunIncidentReader(app.client),
      platformEvents: { callEndSignal: app.config.VK_CALL_END_SIGNAL },
    },
    ...(opts.workflows ? { workflows: opts.workflows } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    deployment: deploymentVersion(app.config.SFERUM_DEPLOYMENT_NAME),
  });
  return worker;
}

/**
 * Moves journal runs still open under their legacy workflow IDs to their school-qualified ones.
 * Called once a worker runs: the hand-over's messages need a worker to answer them.
 */
export function handOverLegacyJournals(app: App): void {
  app.gateway.handOverLegacyJournals().then(
    (moved) => {
      if (moved > 0) app.logger.info({ moved }, 'journal workflows moved to school-qualified IDs');
    },
    (error: unknown) => {
      app.logger.warn(
        { err: error },
        'legacy journal workflows not moved; the next worker start tries again',
      );
    },
  );
}

/**
 * Brings up the platform events listener of every configured school (V5, C3); a school saved
 * later gets its listener with its settings. Called once a worker runs, like the hand-over.
 */
export function startPlatformListeners(app: App): void {
  void (async () => {
    for (const schoolId of await app.settings.listSchoolIds()) {
      await app.gateway.ensurePlatformEvents({ schoolId });
    }
  })().catch((error: unknown) => {
    app.logger.warn(
      { err: error },
      'platform listeners not started; the next worker start tries again',
    );
  });
}

export async function startApi(app: App) {
  const api = await buildApi({
    db: app.db,
    gateway: app.gateway,
    settings: app.settings,
    logger: app.logger,
    secretsBox: app.box,
    devMode: app.config.dev,
    audit: createAuditPort({ db: app.db, client: app.client }),
    readiness: {
      temporal: async () => {
        try {
          await app.connection.workflowService.getSystemInfo({});
          return true;
        } catch {
          return false;
        }
      },
    },
  });
  await api.listen({ host: app.config.API_HOST, port: app.config.API_PORT });
  return api;
}
