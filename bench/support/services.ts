import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/dev/processes';
import {
  startMongo,
  startTemporalDevServer,
  type MongoServer,
  type TemporalDevServer,
} from '../../src/dev/services';
import { ensureFerretDb, ensureTemporalServer, findMongod } from '../../src/dev/tools';

/**
 * The real services the system-level benchmarks run on: one Temporal dev server and one
 * MongoDB-compatible server (MONGODB_URI, mongod or FerretDB, as `npm start` picks), started on
 * first use and stopped when the run ends. A scenario that must own its server (the 10,000
 * sleeping workflows, whose memory is measured) starts its own with `startOwnTemporal`.
 */
export interface BenchServices {
  readonly mongoUri: string;
  readonly temporalAddress: string;
  /** Process IDs, for memory and CPU readings. */
  readonly temporalPid: number | undefined;
}

const quiet = (): void => undefined;
let shared: Promise<BenchServices> | undefined;
const cleanups: (() => Promise<void>)[] = [];

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sferum-bench-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function startOwnTemporal(opts: { dbFile?: string } = {}): Promise<TemporalDevServer> {
  await ensureTemporalServer();
  const dir = await scratchDir();
  const server = await startTemporalDevServer({
    port: await freePort(),
    logFile: join(dir, 'temporal.log'),
    progress: quiet,
    ...(opts.dbFile ? { dbFile: opts.dbFile } : {}),
  });
  cleanups.push(() => server.stop());
  return server;
}

export async function startOwnMongo(): Promise<MongoServer> {
  if (!process.env.MONGODB_URI && !findMongod()) await ensureFerretDb();
  const dir = await scratchDir();
  const mongo = await startMongo({
    port: await freePort(),
    dataDir: dir,
    logFile: join(dir, 'mongo.log'),
    externalUri: process.env.MONGODB_URI,
    progress: quiet,
  });
  cleanups.push(() => mongo.stop());
  return mongo;
}

export function benchServices(): Promise<BenchServices> {
  shared ??= (async () => {
    const mongo = await startOwnMongo();
    const temporal = await startOwnTemporal();
    return { mongoUri: mongo.uri, temporalAddress: temporal.address, temporalPid: temporal.pid };
  })();
  return shared;
}

/** Stops everything the run started, newest first. */
export async function stopBenchServices(): Promise<void> {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups.length = 0;
  shared = undefined;
}
