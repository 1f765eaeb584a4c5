import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { MongoClient } from 'mongodb';
import { summarizeHistory } from '../../src/contracts/history';
import { freePort } from '../../src/dev/processes';
import { startMongo } from '../../src/dev/services';
import { testServerPath } from '../support/services';
import { registerSearchAttributes, runSchoolDay } from './scenarios';

/**
 * Records the replay fixtures: runs the simulated school day of scenarios.ts on Temporal's Java
 * time-skipping server and writes every run of every workflow it started, as the JSON history
 * `temporal workflow show --output json` would export, into test/fixtures/histories/.
 *
 *   npx tsx test/replay/record-fixtures.ts
 *
 * Uses MONGODB_URI when set, else starts a local MongoDB-compatible server. Rewrites the whole
 * folder, so fixtures of a workflow change are refreshed deliberately, in one commit.
 */
export const FIXTURES_DIR = resolve(__dirname, '..', 'fixtures', 'histories');

export interface FixtureEntry {
  readonly file: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly workflowType: string;
  readonly scenario: string;
  readonly events: number;
}

/** Every run of a workflow, oldest first, walking back through continue-as-new. */
async function fetchRunChain(
  client: Client,
  workflowId: string,
): Promise<{ runId: string; json: string }[]> {
  const runs: { runId: string; json: string }[] = [];
  let runId: string | null = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const json = historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory());
    runs.unshift({ runId, json });
    runId = summarizeHistory(json).continuedFromRunId;
  }
  return runs;
}

const SCENARIOS: Readonly<Record<string, string>> = {
  'journal-calls-j1':
    'full school day: auto start and end, manual start, manual start refused, manual end, ended in Sferum',
  'journal-calls-j2': 'template incomplete: manual only',
  'journal-calls-j3': 'earlier lesson unpublished while a later one ran',
  'journal-calls-j4': 'platform failing for the whole window',
  'journal-calls-j5': 'lesson published 30 minutes late',
  'journal-calls-j6': 'continue-as-new with a call running',
  'school-sync-school-audit': 'school sync cycles with continue-as-new',
};

async function main(): Promise<void> {
  // J4's failing starts are the point of the scenario; the SDK's warning per attempt is noise here.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
    },
  });
  const work = await mkdtemp(join(tmpdir(), 'sferum-fixtures-'));
  const mongo = await startMongo({
    port: await freePort(),
    dataDir: work,
    logFile: join(work, 'mongo.log'),
    externalUri: process.env.MONGODB_URI,
  });
  const mongoClient = new MongoClient(mongo.uri);
  await mongoClient.connect();
  const db = mongoClient.db(`fixtures_${Date.now()}`);
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await testServerPath() } },
  });
  try {
    await registerSearchAttributes(env);
    const run = await runSchoolDay({ env, db, log: (line) => console.error(`[record] ${line}`) });
    await rm(FIXTURES_DIR, { recursive: true, force: true });
    await mkdir(FIXTURES_DIR, { recursive: true });
    const manifest: FixtureEntry[] = [];
    for (const workflowId of [
      ...run.journalWorkflowIds,
      run.continueAsNewWorkflowId,
      run.schoolWorkflowId,
    ]) {
      const chain = await fetchRunChain(env.client, workflowId);
      for (const [index, { runId, json }] of chain.entries()) {
        const file =
          chain.length === 1 ? `${workflowId}.json` : `${workflowId}.run${index + 1}.json`;
        const summary = summarizeHistory(json);
        await writeFile(join(FIXTURES_DIR, file), `${JSON.stringify(JSON.parse(json), null, 1)}\n`);
        manifest.push({
          file,
          workflowId,
          runId,
          workflowType: summary.workflowType,
          scenario: SCENARIOS[workflowId] ?? workflowId,
          events: summary.eventCount,
        });
        console.error(`[record] ${file}: ${summary.eventCount} events, ${summary.status}`);
      }
    }
    await writeFile(join(FIXTURES_DIR, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    console.error(
      `[record] ${(await readdir(FIXTURES_DIR)).length - 1} histories in ${FIXTURES_DIR}`,
    );
  } finally {
    await env.teardown();
    await db.dropDatabase().catch(() => undefined);
    await mongoClient.close();
    await mongo.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
