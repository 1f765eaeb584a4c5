import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { TASK_QUEUE } from '../contracts/ids';
import { createEmulator, type Emulator } from '../emulator/vk';
import { describeDeployment, setCurrentVersion } from '../process/deployment';
import { workflowBundlerOptions } from '../workflow-code/bundle';
import { ManagedProcess, portOpen, waitUntil } from './processes';
import {
  ferretPoolArithmetic,
  startFerretOnPostgres,
  startPostgres,
  type FerretOnPostgres,
  type PostgresCluster,
} from './postgres';
import { startTemporalDevServer, type TemporalDevServer } from './services';
import { postgresPersistence } from './temporal-config';
import { consoleProgress, ensureTemporalSqlTool, projectRoot, type Progress } from './tools';

/**
 * The production topology on one machine, without Docker (docs/topology.md): a private PostgreSQL
 * cluster holding the Temporal server's persistence and visibility (schema by temporal-sql-tool)
 * and FerretDB's data; the Temporal server and its Web UI; N worker processes in one worker
 * deployment version and several API processes, each a `sferum-sync worker` / `api` process as in
 * production; the VK API emulator in this process and the portal emulator in its own.
 */

const execFileAsync = promisify(execFile);
const IP = '127.0.0.1';
export const DEPLOYMENT_NAME = 'sferum-sync';
/** Fixed when the databases are created; production sizes it (docs/scaling.md). */
const HISTORY_SHARDS = 4;
/** Per store and service: 4 services × 2 stores × this connections to PostgreSQL at most. */
const TEMPORAL_SQL_CONNS = 10;
/** Each MongoDB client (a worker, an API, this launcher) keeps to this many connections. */
const MONGO_CLIENT_POOL = 20;

export interface ClusterPorts {
  readonly postgres: number;
  readonly temporal: number;
  readonly temporalUi: number | undefined;
  readonly mongo: number;
  readonly emulator: number;
  readonly portal: number;
  /** One per API process. */
  readonly apis: readonly number[];
  /** Each worker's Prometheus port: the first, then one up per worker. */
  readonly metricsBase: number;
}

export interface ClusterOptions {
  readonly dir: string;
  readonly workers: number;
  readonly ports: ClusterPorts;
  readonly namespace: string;
  /** The workers' build ID (SFERUM_BUILD_ID), in deployment `sferum-sync`. */
  readonly buildId: string;
  readonly progress?: Progress;
}

export interface AppProcess {
  readonly name: string;
  readonly process: ManagedProcess;
  /** An API process's base URL. */
  readonly url?: string;
}

export interface Cluster {
  readonly postgres: PostgresCluster;
  readonly ferret: FerretOnPostgres;
  readonly temporal: () => TemporalDevServer;
  readonly emulator: Emulator;
  readonly portalUrl: string;
  readonly mongoUri: string;
  readonly temporalAddress: string;
  readonly workers: AppProcess[];
  readonly apis: AppProcess[];
  readonly workflowBundle: string;
  /** Stops the Temporal server (and its Web UI); `startTemporal` brings it back on its data. */
  stopTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  /**
   * A worker process of `build` (default: the cluster's build ID and workflow bundle), started
   * and polling; a worker already at `index` must have been stopped.
   */
  startWorker(
    index: number,
    build?: { buildId: string; workflowBundle: string },
  ): Promise<AppProcess>;
  startApi(index: number): Promise<AppProcess>;
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const progress = opts.progress ?? consoleProgress;
  const logDir = join(opts.dir, 'logs');
  await mkdir(logDir, { recursive: true });
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    stoppers.length = 0;
  };
  try {
    // MongoDB clients: every worker, two APIs, this launcher, and two spare (a CLI, a restart).
    const pool = {
      clients: opts.workers + opts.ports.apis.length + 3,
      clientPool: MONGO_CLIENT_POOL,
    };
    progress('[cluster] PostgreSQL…');
    const postgres = await startPostgres({
      dir: join(opts.dir, 'postgresql'),
      port: opts.ports.postgres,
      maxConnections: ferretPoolArithmetic(pool).pgPool + 8 * TEMPORAL_SQL_CONNS + 20,
      durable: true,
      logFile: join(logDir, 'postgresql.log'),
    });
    stoppers.push(() => postgres.stop());
    progress('[cluster] Temporal schema (temporal-sql-tool)…');
    await setUpTemporalSchema(postgres, progress);
    progress('[cluster] Temporal server on PostgreSQL…');
    const temporalArgs = {
      port: opts.ports.temporal,
      ...(opts.ports.temporalUi === undefined ? {} : { uiPort: opts.ports.temporalUi }),
      logFile: join(logDir, 'temporal.log'),
      namespace: opts.namespace,
      configDir: join(opts.dir, 'temporal'),
      persistence: postgresPersistence({
        host: postgres.host,
        port: postgres.port,
        user: postgres.user,
        database: 'temporal',
        visibilityDatabase: 'temporal_visibility',
        numHistoryShards: HISTORY_SHARDS,
        maxConns: TEMPORAL_SQL_CONNS,
      }),
      progress,
    };
    let temporal = await startTemporalDevServer(temporalArgs);
    stoppers.push(() => temporal.stop());
    progress('[cluster] FerretDB on PostgreSQL…');
    const ferret = await startFerretOnPostgres({
      postgres,
      database: 'ferretdb',
      port: opts.ports.mongo,
      stateDir: join(opts.dir, 'ferretdb'),
      logFile: join(logDir, 'ferretdb.log'),
      ...pool,
      progress,
    });
    stoppers.push(() => ferret.stop());
    const emulator = await createEmulator({
      port: opts.ports.emulator,
      host: IP,
      stateFile: join(opts.dir, 'emulator.json'),
    });
    stoppers.push(() => emulator.close());
    const portal = await startNodeProcess({
      name: 'portal emulator',
      argv: ['portal-emulator', '--port', String(opts.ports.portal)],
      env: {},
      logFile: join(logDir, 'portal-emulator.log'),
    });
    await waitUntil('the portal emulator', () => portOpen(opts.ports.portal), {
      timeoutMs: 30_000,
      process: portal,
    });
    stoppers.push(() => portal.stop());
    progress('[cluster] bundling the workflow code once for every worker…');
    const workflowBundle = join(opts.dir, 'workflow-bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      preloadModules: [...workflowBundlerOptions.preloadModules],
    });
    await writeFile(workflowBundle, code);

    const appEnv: NodeJS.ProcessEnv = {
      SFERUM_DEV: '1',
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: opts.namespace,
      MONGODB_URI: ferret.uri,
      VK_API_BASE: emulator.url,
      // Several workers send for the same communities: the platform's limit must hold across them.
      VK_RATE_LIMIT_SCOPE: 'cluster',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    };
    const workers: AppProcess[] = [];
    const apis: AppProcess[] = [];
    const cluster: Cluster = {
      postgres,
      ferret,
      temporal: () => temporal,
      emulator,
      portalUrl: `http://${IP}:${opts.ports.portal}`,
      mongoUri: ferret.uri,
      temporalAddress: temporal.address,
      workers,
      apis,
      workflowBundle,
      async stopTemporal() {
        await temporal.stop();
      },
      async startTemporal() {
        temporal = await startTemporalDevServer(temporalArgs);
      },
      async startWorker(index, build = { buildId: opts.buildId, workflowBundle }) {
        const { buildId } = build;
        const name = `worker-${index + 1}`;
        const proc = await startNodeProcess({
          name,
          argv: ['worker'],
          env: {
            ...appEnv,
            SFERUM_WORKFLOW_BUNDLE: build.workflowBundle,
            SFERUM_DEPLOYMENT_NAME: DEPLOYMENT_NAME,
            SFERUM_BUILD_ID: buildId,
            METRICS_PORT: String(opts.ports.metricsBase + index),
          },
          logFile: join(logDir, `${name}.log`),
        });
        const version = { deploymentName: DEPLOYMENT_NAME, buildId };
        await waitUntil(
          `${name} polling`,
          () => polling(temporal.address, opts.namespace, version, proc.pid),
          {
            timeoutMs: 120_000,
            intervalMs: 500,
            process: proc,
          },
        );
        const entry = { name, process: proc };
        workers[index] = entry;
        return entry;
      },
      async startApi(index) {
        const name = `api-${index + 1}`;
        const port = opts.ports.apis[index];
        if (port === undefined) throw new Error(`no port for ${name}`);
        const proc = await startNodeProcess({
          name,
          argv: ['api'],
          env: { ...appEnv, API_HOST: IP, API_PORT: String(port) },
          logFile: join(logDir, `${name}.log`),
        });
        await waitUntil(name, () => portOpen(port), { timeoutMs: 60_000, process: proc });
        const entry = { name, process: proc, url: `http://${IP}:${port}` };
        apis[index] = entry;
        return entry;
      },
      async stop() {
        await Promise.all([...workers, ...apis].map((p) => p.process.stop(15_000)));
        await stopAll();
      },
    };
    stoppers.push(() =>
      Promise.all([...workers, ...apis].map((p) => p.process.stop(15_000))).then(() => undefined),
    );
    progress(`[cluster] ${opts.workers} workers (build ${opts.buildId})…`);
    // One after another: each worker's start creates or updates the archive schedule, and two
    // updates at once conflict.
    for (let i = 0; i < opts.workers; i += 1) await cluster.startWorker(i);
    await makeCurrent(temporal.address, opts.namespace, {
      deploymentName: DEPLOYMENT_NAME,
      buildId: opts.buildId,
    });
    progress(`[cluster] ${opts.ports.apis.length} API processes…`);
    await Promise.all(opts.ports.apis.map((_, i) => cluster.startApi(i)));
    return cluster;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * What docker-compose's `temporal-schema` job runs: both databases created if missing, versioned
 * from 0.0 and brought to the release's schema (embedded in the tool). Idempotent, so it runs at
 * every start and upgrades the schema when the pinned server version moves.
 */
async function setUpTemporalSchema(pg: PostgresCluster, progress: Progress): Promise<void> {
  const tool = await ensureTemporalSqlTool(progress);
  for (const [database, schema] of [
    ['temporal', 'postgresql/v12/temporal'],
    ['temporal_visibility', 'postgresql/v12/visibility'],
  ] as const) {
    await pg.createDatabase(database);
    const base = [
      ...['--endpoint', pg.host, '--port', String(pg.port), '--user', pg.user],
      ...['--plugin', 'postgres12', '--database', database],
    ];
    await execFileAsync(tool, [...base, 'setup-schema', '-v', '0.0']);
    await execFileAsync(tool, [...base, 'update-schema', '--schema-name', schema]);
  }
}

function startNodeProcess(args: {
  name: string;
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
}): Promise<ManagedProcess> {
  return ManagedProcess.start({
    name: args.name,
    command: process.execPath,
    argv: ['--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts'), ...args.argv],
    env: { ...process.env, ...args.env },
    logFile: args.logFile,
    cwd: projectRoot,
  });
}

async function withConnection<T>(address: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

/** True once the process `pid` polls the task queue as a worker of `version`. */
async function polling(
  address: string,
  namespace: string,
  version: WorkerDeploymentVersion,
  pid: number | undefined,
): Promise<boolean> {
  return withConnection(address, async (c) => {
    const { versionTaskQueues } = await c.workflowService.describeWorkerDeploymentVersion({
      namespace,
      deploymentVersion: version,
    });
    const known = (versionTaskQueues ?? []).some((q) => q.name === TASK_QUEUE);
    if (!known) return false;
    const { pollers } = await c.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: TASK_QUEUE },
    });
    return (pollers ?? []).some((p) => p.identity?.startsWith(`${String(pid)}@`) ?? false);
  });
}

/** Makes `version` current unless it is, retrying while the server learns of its pollers. */
export async function makeCurrent(
  address: string,
  namespace: string,
  version: WorkerDeploymentVersion,
): Promise<void> {
  await waitUntil(
    `build ${version.buildId} as the current version`,
    () =>
      withConnection(address, async (c) => {
        const state = await describeDeployment(c, {
          namespace,
          deploymentName: version.deploymentName,
        }).catch(() => undefined);
        if (state?.current === version.buildId) return true;
        await setCurrentVersion(c, { namespace, version });
        return true;
      }),
    { timeoutMs: 60_000, intervalMs: 1_000 },
  );
}
