import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { MongoClient, type Db } from 'mongodb';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { freePort } from '../../src/dev/processes';
import { startMongo, startTemporalDevServer, type RunningService } from '../../src/dev/services';
import { ensureTestServer } from '../../src/dev/tools';
import { bundleWorkflows } from '../../src/workflow-code/bundle';

/**
 * Real services for tests. `npm test` (test/run.ts) starts one Temporal dev server and one
 * MongoDB-compatible server for the whole run and passes them in the environment; a test file run
 * on its own starts its own.
 */
export interface TestServices {
  readonly mongoUri: string;
  readonly temporalAddress: string;
  readonly temporalUiUrl: string | undefined;
}

const quiet = (): void => undefined;

export async function startTestServices(
  opts: { ui?: boolean } = {},
): Promise<TestServices & { stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sferum-test-'));
  const started: RunningService[] = [];
  try {
    const mongo = await startMongo({
      port: await freePort(),
      dataDir: dir,
      logFile: join(dir, 'mongo.log'),
      externalUri: process.env.MONGODB_URI,
      progress: quiet,
    });
    started.push(mongo);
    const temporal = await startTemporalDevServer({
      port: await freePort(),
      ...(opts.ui ? { uiPort: await freePort() } : {}),
      logFile: join(dir, 'temporal.log'),
      progress: quiet,
    });
    started.push(temporal);
    return {
      mongoUri: mongo.uri,
      temporalAddress: temporal.address,
      temporalUiUrl: temporal.uiUrl,
      async stop() {
        for (const s of started.reverse()) await s.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const s of started.reverse()) await s.stop();
    throw error;
  }
}

/** Registers before/after hooks and returns a getter for the services of this test file. */
export function useServices(): () => TestServices {
  let services: TestServices | undefined;
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    const fromEnv = process.env.SFERUM_TEST_TEMPORAL_ADDRESS;
    if (fromEnv && process.env.MONGODB_URI) {
      services = {
        mongoUri: process.env.MONGODB_URI,
        temporalAddress: fromEnv,
        temporalUiUrl: process.env.SFERUM_TEST_TEMPORAL_UI_URL,
      };
      return;
    }
    const started = await startTestServices({ ui: true });
    services = started;
    stop = () => started.stop();
  });
  after(async () => {
    await stop?.();
  });
  return () => {
    if (!services) throw new Error('test services are not started yet');
    return services;
  };
}

/** A fresh database per test, dropped afterwards, so tests never see each other's data. */
export async function openTestDb(
  mongoUri: string,
): Promise<{ db: Db; client: MongoClient; drop(): Promise<void> }> {
  const client = new MongoClient(mongoUri);
  await client.connect();
  const db = client.db(`test_${randomBytes(6).toString('hex')}`);
  return {
    db,
    client,
    async drop() {
      await db.dropDatabase();
      await client.close();
    },
  };
}

export function testServerPath(): Promise<string> {
  return process.env.SFERUM_TEST_SERVER_PATH
    ? Promise.resolve(process.env.SFERUM_TEST_SERVER_PATH)
    : ensureTestServer(quiet);
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Webpack-bundling the workflows takes seconds: do it once per test process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}
