import { MongoClient } from 'mongodb';
import { Connection } from '@temporalio/client';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { searchAttributeFlags } from '../contracts/search-attributes';
import { ManagedProcess, portOpen, waitUntil } from './processes';
import {
  consoleProgress,
  ensureFerretDb,
  ensureTemporalCli,
  findMongod,
  type Progress,
} from './tools';

/**
 * The real local services the embedded system and the tests run on: a Temporal CLI dev server
 * and a MongoDB-compatible server (DESIGN.md §4).
 */

export interface RunningService {
  readonly name: string;
  /** The server's process, when this code started it (memory and CPU readings, fault drills). */
  readonly pid?: number | undefined;
  stop(): Promise<void>;
}

export interface TemporalDevServer extends RunningService {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly namespace: string;
}

export async function startTemporalDevServer(args: {
  port: number;
  uiPort?: number;
  dbFile?: string;
  logFile: string;
  namespace?: string;
  dynamicConfig?: Readonly<Record<string, unknown>>;
  progress?: Progress;
}): Promise<TemporalDevServer> {
  const progress = args.progress ?? consoleProgress;
  const temporal = await ensureTemporalCli(progress);
  const namespace = args.namespace ?? 'default';
  const argv = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(args.port),
    '--namespace',
    namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    ...(args.uiPort === undefined ? ['--headless'] : ['--ui-port', String(args.uiPort)]),
    ...(args.dbFile ? ['--db-filename', args.dbFile] : []),
    ...searchAttributeFlags().flatMap((flag) => ['--search-attribute', flag]),
    ...Object.entries(args.dynamicConfig ?? {}).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
  ];
  if (args.dbFile) await mkdir(join(args.dbFile, '..'), { recursive: true });
  if (await portOpen(args.port)) {
    throw new Error(`port ${args.port} is already in use: is another Temporal server running?`);
  }
  const proc = await ManagedProcess.start({
    name: 'temporal',
    command: temporal,
    argv,
    logFile: args.logFile,
  });
  const address = `127.0.0.1:${args.port}`;
  await waitUntil(
    'Temporal dev server',
    async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return true;
      } finally {
        await connection.close();
      }
    },
    { timeoutMs: 60_000, intervalMs: 300, process: proc },
  );
  const uiUrl = args.uiPort === undefined ? undefined : `http://127.0.0.1:${args.uiPort}`;
  if (args.uiPort !== undefined) {
    const uiPort = args.uiPort;
    await waitUntil('Temporal Web UI', () => portOpen(uiPort), {
      timeoutMs: 30_000,
      process: proc,
    });
  }
  return { name: 'temporal', address, uiUrl, namespace, pid: proc.pid, stop: () => proc.stop() };
}

export interface MongoServer extends RunningService {
  readonly uri: string;
  readonly kind: 'external' | 'mongod' | 'ferretdb';
}

/**
 * `MONGODB_URI` if given; else `mongod` from PATH; else FerretDB with its SQLite backend. Code
 * that talks to it uses only what FerretDB 1.24 supports: no transactions, change streams or $lookup.
 */
export async function startMongo(args: {
  port: number;
  dataDir: string;
  logFile: string;
  externalUri?: string | undefined;
  progress?: Progress;
}): Promise<MongoServer> {
  if (args.externalUri) {
    const uri = args.externalUri;
    await waitUntil('MongoDB at MONGODB_URI', () => ping(uri), { timeoutMs: 15_000 });
    return { name: 'mongodb', uri, kind: 'external', stop: () => Promise.resolve() };
  }
  if (await portOpen(args.port)) {
    throw new Error(`port ${args.port} is already in use: set MONGODB_URI to use a running server`);
  }
  const mongod = findMongod();
  let proc: ManagedProcess;
  let kind: 'mongod' | 'ferretdb';
  if (mongod) {
    const dbPath = join(args.dataDir, 'mongod');
    await mkdir(dbPath, { recursive: true });
    kind = 'mongod';
    proc = await ManagedProcess.start({
      name: 'mongod',
      command: mongod,
      argv: ['--bind_ip', '127.0.0.1', '--port', String(args.port), '--dbpath', dbPath, '--quiet'],
      logFile: args.logFile,
    });
  } else {
    const ferretdb = await ensureFerretDb(args.progress ?? consoleProgress);
    const dbPath = join(args.dataDir, 'ferretdb');
    await mkdir(dbPath, { recursive: true });
    kind = 'ferretdb';
    proc = await ManagedProcess.start({
      name: 'ferretdb',
      command: ferretdb,
      argv: [
        '--handler=sqlite',
        `--sqlite-url=file:${dbPath}/`,
        `--listen-addr=127.0.0.1:${args.port}`,
        '--telemetry=disable',
        // FerretDB keeps a small state file; by default it lands in the working directory.
        `--state-dir=${dbPath}`,
        '--log-level=warn',
        '--debug-addr=-',
      ],
      logFile: args.logFile,
    });
  }
  const uri = `mongodb://127.0.0.1:${args.port}/`;
  await waitUntil(`MongoDB-compatible server (${kind})`, () => ping(uri), {
    timeoutMs: 30_000,
    process: proc,
  });
  return { name: kind, uri, kind, pid: proc.pid, stop: () => proc.stop() };
}

async function ping(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } finally {
    await client.close();
  }
}
