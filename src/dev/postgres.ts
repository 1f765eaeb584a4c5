import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, waitUntil } from './processes';
import { ping } from './services';
import { consoleProgress, ensureFerretDb, type Progress } from './tools';

/**
 * A private PostgreSQL cluster from Debian's `postgresql` programs (`initdb`, `postgres`), in a
 * folder of the caller's, and FerretDB on its PostgreSQL backend. The benchmarks run a throwaway
 * one; `npm run cluster` keeps one under `.data/cluster/` for the Temporal server's persistence
 * and visibility and for the app's MongoDB-compatible storage.
 */

export interface PostgresCluster {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly pid: number | undefined;
  readonly logFile: string;
  /** Fast shutdown (SIGINT): open sessions are ended, the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same data and port after `stop()`. */
  start(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}

const HOST = '127.0.0.1';
const USER = 'postgres';

export function postgresBinDir(): string | undefined {
  const fromConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const candidates: string[] = [];
  if (fromConfig.status === 0) candidates.push(fromConfig.stdout.trim());
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    for (const version of spawnSync('ls', [root], { encoding: 'utf8' }).stdout.split('\n')) {
      if (version.trim()) candidates.push(join(root, version.trim(), 'bin'));
    }
  }
  return candidates.find(
    (dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')),
  );
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` account. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error('running as root, but there is no `postgres` account to run PostgreSQL as');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.isDirectory()) await chownTree(join(path, entry.name), owner);
    else await chown(join(path, entry.name), owner.uid, owner.gid);
  }
}

/**
 * Creates the cluster in `dir` the first time (`dir/pgdata`), then runs it on `port`.
 * `durable: false` turns fsync and synchronous commit off, for throwaway benchmark clusters.
 */
export async function startPostgres(args: {
  dir: string;
  port: number;
  maxConnections: number;
  durable: boolean;
  logFile: string;
}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin) {
    throw new Error(
      "PostgreSQL's programs (initdb, postgres) were not found: on Debian, apt-get install postgresql",
    );
  }
  const owner = runAs();
  const data = join(args.dir, 'pgdata');
  const sockets = join(args.dir, 'sockets');
  await mkdir(sockets, { recursive: true });
  if (!existsSync(join(data, 'PG_VERSION'))) {
    await mkdir(data, { recursive: true });
    if (owner) await chownTree(args.dir, owner);
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
      { encoding: 'utf8', ...(owner ?? {}) },
    );
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stderr}`);
  }
  const settings = [
    'listen_addresses=127.0.0.1',
    `max_connections=${args.maxConnections}`,
    ...(args.durable ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
  ];
  let proc: ManagedProcess | undefined;
  const psql = (sql: string): { status: number | null; stderr: string } =>
    spawnSync(
      join(bin, 'psql'),
      ['-h', HOST, '-p', String(args.port), '-U', USER, '-d', 'postgres', '-tAc', sql],
      { encoding: 'utf8' },
    );
  const cluster: PostgresCluster = {
    host: HOST,
    port: args.port,
    user: USER,
    logFile: args.logFile,
    get pid() {
      return proc?.pid;
    },
    async start() {
      if (proc?.running) return;
      proc = await ManagedProcess.start({
        name: 'postgresql',
        command: join(bin, 'postgres'),
        argv: [
          '-D',
          data,
          '-p',
          String(args.port),
          '-k',
          sockets,
          ...settings.flatMap((s) => ['-c', s]),
        ],
        logFile: args.logFile,
        runAs: owner,
        stopSignal: 'SIGINT',
      });
      const running = proc;
      await waitUntil('PostgreSQL', () => Promise.resolve(psql('SELECT 1').status === 0), {
        timeoutMs: 60_000,
        intervalMs: 200,
        process: running,
      });
    },
    async stop() {
      await proc?.stop(30_000);
    },
    createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const exists = spawnSync(
        join(bin, 'psql'),
        [
          ...['-h', HOST, '-p', String(args.port), '-U', USER, '-d', 'postgres', '-tAc'],
          `SELECT 1 FROM pg_database WHERE datname = '${name}'`,
        ],
        { encoding: 'utf8' },
      );
      if (exists.stdout.trim() === '1') return Promise.resolve();
      const created = psql(`CREATE DATABASE ${name}`);
      if (created.status !== 0)
        throw new Error(`CREATE DATABASE ${name} failed:\n${created.stderr}`);
      return Promise.resolve();
    },
  };
  await cluster.start();
  return cluster;
}

/**
 * FerretDB 1.x's PostgreSQL backend deadlocks once half its PostgreSQL pool runs updates at once:
 * an update holds one connection for its query and waits for a second to write (seen with 350
 * call starts at one bell: 100 client connections, FerretDB's default pool of 50, every one of
 * them waiting). So each MongoDB client is kept to `clientPool` connections (`maxPoolSize` in the
 * URI) and FerretDB's `pool_max_conns` is at least twice the sum over its clients, plus a margin.
 */
export function ferretPoolArithmetic(args: { clients: number; clientPool: number }): {
  clientPool: number;
  pgPool: number;
} {
  return { clientPool: args.clientPool, pgPool: 2 * args.clients * args.clientPool + 20 };
}

export interface FerretOnPostgres {
  /** With `maxPoolSize` set to the client pool the arithmetic counted on. */
  readonly uri: string;
  readonly pid: number | undefined;
  readonly logFile: string;
  stop(): Promise<void>;
  /** SIGKILL, for the drills. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function startFerretOnPostgres(args: {
  postgres: PostgresCluster;
  database: string;
  port: number;
  stateDir: string;
  logFile: string;
  /** How many MongoDB clients (processes) share it, each with at most `clientPool` connections. */
  clients: number;
  clientPool: number;
  progress?: Progress;
}): Promise<FerretOnPostgres> {
  const ferretdb = await ensureFerretDb(args.progress ?? consoleProgress);
  await args.postgres.createDatabase(args.database);
  await mkdir(args.stateDir, { recursive: true });
  const { pgPool, clientPool } = ferretPoolArithmetic(args);
  const pg = args.postgres;
  const uri = `mongodb://${HOST}:${args.port}/?maxPoolSize=${clientPool}`;
  let proc: ManagedProcess | undefined;
  const ferret: FerretOnPostgres = {
    uri,
    logFile: args.logFile,
    get pid() {
      return proc?.pid;
    },
    async start() {
      if (proc?.running) return;
      proc = await ManagedProcess.start({
        name: 'ferretdb',
        command: ferretdb,
        argv: [
          '--handler=postgresql',
          `--postgresql-url=postgres://${pg.user}@${pg.host}:${pg.port}/${args.database}?pool_max_conns=${pgPool}`,
          `--listen-addr=${HOST}:${args.port}`,
          '--telemetry=disable',
          `--state-dir=${args.stateDir}`,
          '--log-level=warn',
          '--debug-addr=-',
        ],
        logFile: args.logFile,
      });
      const running = proc;
      await waitUntil('FerretDB (PostgreSQL backend)', () => ping(uri), {
        timeoutMs: 30_000,
        intervalMs: 200,
        process: running,
      });
    },
    async stop() {
      await proc?.stop();
    },
    async kill() {
      await proc?.kill();
    },
  };
  await ferret.start();
  return ferret;
}
