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

/**
 * Services a fault drill owns, so it can stop and restart them without touching the run's shared
 * servers: a MongoDB-compatible server (mongod or FerretDB, never MONGODB_URI, which cannot be
 * stopped from here) and a Temporal dev server with a database file, so a restart keeps every
 * workflow. Both come back on the same port with the same data.
 */
export interface DrillServices {
  readonly mongoUri: string;
  readonly temporalAddress: string;
  /** Stops the MongoDB-compatible server; its data stays. */
  stopMongo(): Promise<void>;
  startMongo(): Promise<void>;
  stopTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  stop(): Promise<void>;
}

const quiet = (): void => undefined;

export async function startDrillServices(): Promise<DrillServices> {
  const dir = await mkdtemp(join(tmpdir(), 'sferum-drill-'));
  const mongoPort = await freePort();
  const temporalPort = await freePort();
  let mongo: MongoServer | undefined;
  let temporal: TemporalDevServer | undefined;
  let mongoUri = '';
  let temporalAddress = '';

  async function upMongo(): Promise<void> {
    if (mongo) return;
    mongo = await startMongo({
      port: mongoPort,
      dataDir: join(dir, 'mongo'),
      logFile: join(dir, 'mongo.log'),
      progress: quiet,
    });
    mongoUri = mongo.uri;
  }
  async function upTemporal(): Promise<void> {
    if (temporal) return;
    temporal = await startTemporalDevServer({
      port: temporalPort,
      dbFile: join(dir, 'temporal', 'temporal.db'),
      logFile: join(dir, 'temporal.log'),
      progress: quiet,
    });
    temporalAddress = temporal.address;
  }
  const services: DrillServices = {
    get mongoUri() {
      return mongoUri;
    },
    get temporalAddress() {
      return temporalAddress;
    },
    async stopMongo() {
      await mongo?.stop();
      mongo = undefined;
    },
    startMongo: upMongo,
    async stopTemporal() {
      await temporal?.stop();
      temporal = undefined;
    },
    startTemporal: upTemporal,
    async stop() {
      await services.stopTemporal();
      await services.stopMongo();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await upMongo();
    await upTemporal();
  } catch (error) {
    await services.stop();
    throw error;
  }
  return services;
}

/**
 * Drills run in CI at a reduced size; `SFERUM_DRILL_SCALE=full` (what `npm run drills` sets) runs
 * them at full size.
 */
export function drillScale(): 'reduced' | 'full' {
  return process.env.SFERUM_DRILL_SCALE === 'full' ? 'full' : 'reduced';
}
