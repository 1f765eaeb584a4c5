import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort, waitUntil } from '../../src/dev/processes';
import { ensureFerretDb } from '../../src/dev/tools';

/**
 * A MongoDB-compatible server for the scenarios that read a city's rosters: FerretDB on its
 * PostgreSQL backend, over a private PostgreSQL cluster. FerretDB's SQLite backend (what
 * `npm start` and the tests use) pushes only `_id` lookups down, so every roster read scans the
 * whole collection: with 10,000 journals in it, one journal load costs a fraction of a second of
 * FerretDB CPU. The PostgreSQL backend pushes equality filters down to SQL, which is the
 * production shape (MongoDB with the roster indexes) closely enough for a worker benchmark.
 *
 * `MONGODB_URI` still wins, as everywhere. Without PostgreSQL's programs (Debian's `postgresql`
 * package) it returns `undefined` and the caller decides what to do.
 */
export interface PostgresMongo {
  readonly uri: string;
  /** FerretDB's process, for memory readings. */
  readonly pid: number | undefined;
  readonly kind: 'external' | 'ferretdb-postgresql';
  stop(): Promise<void>;
}

/**
 * FerretDB 1.x's PostgreSQL backend deadlocks once half its PostgreSQL pool runs updates at once:
 * an update holds one connection for its query and waits for a second to write (seen with 350
 * call starts at one bell: 100 client connections, FerretDB's default pool of 50, every one of
 * them waiting). Each MongoDB client of a scenario (the bench's, a worker process's) is kept to
 * `CLIENT_POOL` connections, and the pool holds two per connection of two clients.
 */
const CLIENT_POOL = 40;
const PG_POOL = 4 * CLIENT_POOL + 20;

function postgresBinDir(): string | undefined {
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

function start(
  command: string,
  argv: readonly string[],
  logFile: string,
  owner: { uid: number; gid: number } | undefined,
): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(owner ?? {}),
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
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

export async function startPostgresMongo(
  progress: (line: string) => void,
): Promise<PostgresMongo | undefined> {
  const external = process.env.MONGODB_URI;
  if (external) {
    return { uri: external, pid: undefined, kind: 'external', stop: () => Promise.resolve() };
  }
  const bin = postgresBinDir();
  if (!bin) return undefined;
  const ferretdb = await ensureFerretDb(progress);
  const owner = runAs();
  const dir = await mkdtemp(join(tmpdir(), 'sferum-bench-pg-'));
  let postgres: ChildProcess | undefined;
  let ferret: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    // FerretDB first, so PostgreSQL's fast shutdown (SIGINT) has no client left to wait for.
    if (ferret) await stopChild(ferret, 'SIGTERM');
    if (postgres) await stopChild(postgres, 'SIGINT');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const data = join(dir, 'pgdata');
    const sockets = join(dir, 'sockets');
    await mkdir(sockets);
    if (owner) await chownTree(dir, owner);
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
      { encoding: 'utf8', ...(owner ?? {}) },
    );
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stderr}`);
    const pgPort = await freePort();
    // A throwaway cluster: durability settings off, as nothing here must survive a crash.
    postgres = start(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(pgPort),
        '-k',
        sockets,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        `max_connections=${PG_POOL + 20}`,
      ],
      join(dir, 'postgres.log'),
      owner,
    );
    const isReady = join(bin, 'pg_isready');
    await waitUntil(
      'PostgreSQL',
      () =>
        Promise.resolve(spawnSync(isReady, ['-h', '127.0.0.1', '-p', String(pgPort)]).status === 0),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const created = spawnSync(
      join(bin, 'createdb'),
      ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', 'ferretdb'],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) throw new Error(`createdb failed:\n${created.stderr}`);
    const port = await freePort();
    const stateDir = join(dir, 'ferretdb');
    await mkdir(stateDir);
    ferret = start(
      ferretdb,
      [
        '--handler=postgresql',
        `--postgresql-url=postgres://postgres@127.0.0.1:${pgPort}/ferretdb?pool_max_conns=${PG_POOL}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--telemetry=disable',
        `--state-dir=${stateDir}`,
        '--log-level=warn',
        '--debug-addr=-',
      ],
      join(dir, 'ferretdb.log'),
      undefined,
    );
    const uri = `mongodb://127.0.0.1:${port}/?maxPoolSize=${CLIENT_POOL}`;
    await waitUntil('FerretDB (PostgreSQL backend)', () => ping(uri), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    return { uri, pid: ferret.pid, kind: 'ferretdb-postgresql', stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
