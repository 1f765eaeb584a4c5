import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { msToTs } from '@temporalio/common/lib/time';
import { searchAttributeKeys } from '../contracts/search-attributes';
import { freePort, freePortFrom, ManagedProcess, portOpen, waitUntil } from './processes';
import {
  dynamicConfig,
  internalPortsSchema,
  serverConfig,
  uiConfig,
  type InternalPorts,
  type ServerPorts,
} from './temporal-config';
import {
  consoleProgress,
  ensureFerretDb,
  ensureTemporalServer,
  findMongod,
  TOOL_VERSIONS,
  type Progress,
} from './tools';

/**
 * The real local services the embedded system and the tests run on: a Temporal server with its
 * Web UI and a MongoDB-compatible server (DESIGN.md §4).
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

const execFileAsync = promisify(execFile);
const IP = '127.0.0.1';
/** As the CLI's dev server had: closed runs are kept a day (docs/audit.md archives them first). */
const RETENTION = '1 day';

/**
 * The Temporal server (all four services in one process, SQLite) and, with `uiPort`, its Web UI
 * server, on the project's own configuration (./temporal-config.ts). The `namespace` and the
 * search attributes of src/contracts/search-attributes.ts are registered through the frontend
 * once it answers. With `dbFile` a restart keeps every workflow.
 */
export async function startTemporalDevServer(args: {
  port: number;
  uiPort?: number;
  dbFile?: string;
  logFile: string;
  namespace?: string;
  dynamicConfig?: Readonly<Record<string, unknown>>;
  /** Another `persistence` section (PostgreSQL: src/dev/cluster.ts) instead of SQLite. */
  persistence?: Readonly<Record<string, unknown>>;
  /** Where the configuration and the kept ports live; with `dbFile`, beside it by default. */
  configDir?: string;
  progress?: Progress;
}): Promise<TemporalDevServer> {
  const progress = args.progress ?? consoleProgress;
  const tools = await ensureTemporalServer(progress);
  const namespace = args.namespace ?? 'default';
  if (await portOpen(args.port)) {
    throw new Error(`port ${args.port} is already in use: is another Temporal server running?`);
  }
  if (args.uiPort !== undefined && (await portOpen(args.uiPort))) {
    throw new Error(`port ${args.uiPort} (Temporal Web UI) is already in use`);
  }
  const kept = args.configDir ?? (args.dbFile ? `${args.dbFile}.config` : undefined);
  const configDir = kept ?? (await mkdtemp(join(tmpdir(), 'sferum-temporal-')));
  await mkdir(configDir, { recursive: true });
  if (args.dbFile) await claimDatabase(args.dbFile, join(configDir, 'server-version'), progress);
  const removeConfig = kept
    ? () => Promise.resolve()
    : () => rm(configDir, { recursive: true, force: true });
  const ports: ServerPorts = {
    frontendGrpc: args.port,
    ...(await internalPorts(
      join(configDir, 'ports.json'),
      args.port,
      args.uiPort,
      // The PostgreSQL schema's membership table holds ports in a smallint.
      args.persistence ? (from) => freePortFrom(from, IP) : () => freePort(IP),
    )),
  };
  const dynamicConfigFile = join(configDir, 'dynamic-config.yaml');
  await writeFile(
    dynamicConfigFile,
    json(dynamicConfig({ ip: IP, frontendHttpPort: ports.frontendHttp }, args.dynamicConfig)),
  );
  await validateDynamicConfig(tools.server, dynamicConfigFile);
  const serverConfigFile = join(configDir, 'server.yaml');
  const config = serverConfig({
    ip: IP,
    ports,
    ...(args.dbFile ? { dbFile: args.dbFile } : {}),
    memoryDbName: `sferum-${ports.frontendGrpc}-${randomBytes(4).toString('hex')}`,
    dynamicConfigFile,
    logLevel: 'warn',
  });
  await writeFile(
    serverConfigFile,
    json(args.persistence ? { ...config, persistence: args.persistence } : config),
  );
  const started: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const proc of started.reverse()) await proc.stop();
    await removeConfig();
  };
  try {
    const server = await ManagedProcess.start({
      name: 'temporal',
      command: tools.server,
      argv: ['--config-file', serverConfigFile, '--allow-no-auth', 'start'],
      logFile: args.logFile,
      // The server's config loader reads no working-directory files with --config-file; the
      // working directory only decides where a stray relative path would land.
      cwd: configDir,
    });
    started.push(server);
    const address = `${IP}:${ports.frontendGrpc}`;
    await waitUntil(
      'Temporal server',
      () => withConnection(address, (c) => registerNamespace(c, namespace)),
      { timeoutMs: 60_000, intervalMs: 100, process: server },
    );
    await waitUntil(
      'Temporal search attributes',
      () => withConnection(address, (c) => registerSearchAttributes(c, namespace)),
      { timeoutMs: 30_000, intervalMs: 100, process: server },
    );
    let uiUrl: string | undefined;
    if (args.uiPort !== undefined) {
      const uiPort = args.uiPort;
      const uiRoot = join(configDir, 'ui');
      await mkdir(join(uiRoot, 'config'), { recursive: true });
      await writeFile(
        join(uiRoot, 'config', 'development.yaml'),
        json(uiConfig({ ip: IP, port: uiPort, temporalGrpcAddress: address, namespace })),
      );
      const ui = await ManagedProcess.start({
        name: 'temporal-ui',
        command: tools.ui,
        argv: ['--root', uiRoot, '--config', 'config', '--env', 'development', 'start'],
        logFile: args.logFile.replace(/(\.log)?$/, '-ui.log'),
        cwd: uiRoot,
      });
      started.push(ui);
      await waitUntil('Temporal Web UI', () => portOpen(uiPort), {
        timeoutMs: 30_000,
        process: ui,
      });
      uiUrl = `http://${IP}:${uiPort}`;
    }
    return { name: 'temporal', address, uiUrl, namespace, pid: server.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A SQLite database is only ever opened by the server version that created it: the server sets
 * up a new file's schema but has no upgrade path for SQLite, and the CLI's dev server (1.29) wrote
 * `.data/temporal.sqlite` before. A file of another or unknown version is moved aside, kept.
 */
async function claimDatabase(dbFile: string, stampFile: string, progress: Progress): Promise<void> {
  const version = TOOL_VERSIONS.temporalServer;
  const stamp = await readFile(stampFile, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  if (existsSync(dbFile) && stamp !== version) {
    const aside = `${dbFile}.${stamp ?? 'older'}.bak`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(dbFile + suffix)) await rename(dbFile + suffix, aside + suffix);
    }
    progress(`[temporal] ${dbFile} was written by another Temporal server; moved to ${aside}`);
  }
  await writeFile(stampFile, `${version}\n`);
}

/** The server ignores an unknown key with a log line; a renamed key must fail loudly instead. */
async function validateDynamicConfig(server: string, file: string): Promise<void> {
  const { stdout } = await execFileAsync(server, ['validate-dynamic-config', file]);
  const problems = stdout.split('\n').filter((line) => /^\s*(error|warning):/.test(line));
  if (problems.length > 0) {
    throw new Error(
      `dynamic config ${file} has keys the Temporal server does not know:\n${problems.join('\n')}`,
    );
  }
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

async function withConnection(
  address: string,
  fn: (connection: Connection) => Promise<boolean>,
): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

/** True once the namespace exists, registering it the first time the frontend answers. */
async function registerNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch (error) {
    if (!isGrpcStatus(error, GRPC_NOT_FOUND)) throw error;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    });
  } catch (error) {
    if (!isGrpcStatus(error, GRPC_ALREADY_EXISTS)) throw error;
  }
  await connection.workflowService.describeNamespace({ namespace });
  return true;
}

/** Adds the attributes the namespace lacks; a restart on a database file finds them there. */
async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
): Promise<boolean> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = searchAttributeKeys.filter((key) => !(key.name in existing.customAttributes));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.flatMap((key) => {
          const type = encodeSearchAttributeIndexedValueType(key.type);
          return type === undefined ? [] : [[key.name, type]];
        }),
      ),
    });
  }
  // Visible to list queries once the frontend can run one on each attribute.
  for (const key of searchAttributeKeys) {
    await connection.workflowService.listWorkflowExecutions({
      namespace,
      pageSize: 1,
      query: `${key.name} IS NOT NULL`,
    });
  }
  return true;
}

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

function isGrpcStatus(error: unknown, code: number): boolean {
  if (!isGrpcServiceError(error)) return false;
  const actual: number = error.code;
  return actual === code;
}

/**
 * The server's internal ports (frontend HTTP, the other services' gRPC, every membership port).
 * Beside a database file they are kept and reused: the membership table remembers the last run's
 * addresses for 20 s, and a restart at other ports would wait for those dead hosts to join.
 */
async function internalPorts(
  file: string,
  frontendPort: number,
  uiPort: number | undefined,
  candidatePort: (from: number) => Promise<number>,
): Promise<InternalPorts> {
  const taken = new Set([frontendPort, ...(uiPort === undefined ? [] : [uiPort])]);
  const kept = await readFile(file, 'utf8').then(
    (text) => internalPortsSchema.safeParse(JSON.parse(text)),
    () => undefined,
  );
  if (kept?.success) {
    const values = Object.values(kept.data);
    const clash = values.some((p) => taken.has(p));
    const busy = await Promise.all(values.map((p) => portOpen(p)));
    if (!clash && !busy.includes(true)) return kept.data;
  }
  let from = frontendPort + 1;
  const pick = async (): Promise<number> => {
    for (;;) {
      const candidate = await candidatePort(from);
      from = candidate + 1;
      if (!taken.has(candidate)) {
        taken.add(candidate);
        return candidate;
      }
    }
  };
  const ports: InternalPorts = {
    frontendHttp: await pick(),
    frontendMembership: await pick(),
    historyGrpc: await pick(),
    historyMembership: await pick(),
    matchingGrpc: await pick(),
    matchingMembership: await pick(),
    workerGrpc: await pick(),
    workerMembership: await pick(),
  };
  await writeFile(file, json(ports));
  return ports;
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

/** True once a MongoDB-compatible server at `uri` answers; its failure is the reason to wait on. */
export async function ping(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } finally {
    await client.close();
  }
}
