import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/dev/processes';
import {
  ferretPoolArithmetic,
  postgresBinDir,
  startFerretOnPostgres,
  startPostgres,
  type FerretOnPostgres,
  type PostgresCluster,
} from '../../src/dev/postgres';

/**
 * A MongoDB-compatible server for the scenarios that read a city's rosters: FerretDB on its
 * PostgreSQL backend, over a throwaway private PostgreSQL cluster (src/dev/postgres.ts, which
 * `npm run cluster` runs too). FerretDB's SQLite backend (what `npm start` and the tests use)
 * pushes only `_id` lookups down, so every roster read scans the whole collection: with 10,000
 * journals in it, one journal load costs a fraction of a second of FerretDB CPU. The PostgreSQL
 * backend pushes equality filters down to SQL, which is the production shape (MongoDB with the
 * roster indexes) closely enough for a worker benchmark.
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

/** Two MongoDB clients per scenario (the bench's and a worker process's), 40 connections each. */
const POOL = { clients: 2, clientPool: 40 };

export async function startPostgresMongo(
  progress: (line: string) => void,
): Promise<PostgresMongo | undefined> {
  const external = process.env.MONGODB_URI;
  if (external) {
    return { uri: external, pid: undefined, kind: 'external', stop: () => Promise.resolve() };
  }
  if (!postgresBinDir()) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'sferum-bench-pg-'));
  let postgres: PostgresCluster | undefined;
  let ferret: FerretOnPostgres | undefined;
  const stop = async (): Promise<void> => {
    // FerretDB first, so PostgreSQL's fast shutdown has no client left to wait for.
    await ferret?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    postgres = await startPostgres({
      // The cluster's own folder is the temporary one: its owner, `postgres` when run as root,
      // must be able to enter it, and mkdtemp's folder is private to its creator.
      dir,
      port: await freePort(),
      maxConnections: ferretPoolArithmetic(POOL).pgPool + 20,
      // A throwaway cluster: nothing here must survive a crash.
      durable: false,
      logFile: join(dir, 'postgres.log'),
    });
    ferret = await startFerretOnPostgres({
      postgres,
      database: 'ferretdb',
      port: await freePort(),
      stateDir: join(dir, 'ferretdb'),
      logFile: join(dir, 'ferretdb.log'),
      ...POOL,
      progress,
    });
    return { uri: ferret.uri, pid: ferret.pid, kind: 'ferretdb-postgresql', stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
