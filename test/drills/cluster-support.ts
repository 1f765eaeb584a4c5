import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { MongoClient } from 'mongodb';
import { workflowIds, TASK_QUEUE } from '../../src/contracts/ids';
import { startCluster, type Cluster } from '../../src/dev/cluster';
import { freePort, freePortFrom } from '../../src/dev/processes';
import { createLogger } from '../../src/process/logger';
import { createMessengerProvider } from '../../src/messenger/provider';
import { ensureIndexes } from '../../src/store/db';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { createSettingsStore } from '../../src/store/settings-store';
import { createWorkflowGateway } from '../../src/client/workflow-gateway';
import { workflowBundlerOptions } from '../../src/workflow-code/bundle';
import type { Stack } from '../support/stack';
import {
  CallWatch,
  drillSchool,
  MINUTE,
  type CallDrill,
  type DrillSchool,
  type DrillWorker,
  untilBellReady,
} from './calls-support';

/**
 * The drills on the production topology (src/dev/cluster.ts): Temporal on PostgreSQL, FerretDB
 * on PostgreSQL, two worker processes and optionally two API processes, in a temporary folder.
 * The test process holds a client `Stack` on the cluster's database and Temporal (it runs no
 * worker), so the call drills' checks (calls-support.ts) apply unchanged.
 */

export const BUILD_A = 'drill-build-a';

export interface ClusterDrillEnv {
  readonly cluster: Cluster;
  readonly stack: Stack;
  stop(): Promise<void>;
}

export async function startClusterDrillEnv(args: { apis: number }): Promise<ClusterDrillEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'sferum-cluster-drill-'));
  // PostgreSQL runs as `postgres` when the tests run as root: it must be able to enter the folder.
  await chmod(dir, 0o755);
  // Temporal's ports must stay below 32768 (its PostgreSQL membership table); spread the drills'
  // starting points so two runs on one machine rarely probe the same ports.
  const temporalPort = await freePortFrom(20_000 + Math.floor(Math.random() * 10_000));
  const cluster = await startCluster({
    dir,
    workers: 2,
    namespace: 'default',
    buildId: BUILD_A,
    ports: {
      postgres: await freePort(),
      temporal: temporalPort,
      temporalUi: undefined,
      mongo: await freePort(),
      emulator: await freePort(),
      portal: await freePort(),
      apis: await Promise.all(Array.from({ length: args.apis }, () => freePort())),
      metricsBase: await freePortFrom(temporalPort + 20),
    },
    progress: () => undefined,
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const mongo = new MongoClient(cluster.mongoUri);
  const db = mongo.db('sferum');
  await ensureIndexes(db);
  const connection = await Connection.connect({ address: cluster.temporalAddress });
  const client = new Client({ connection });
  const box = createSecretBox(DEV_SECRETS_KEY);
  const settings = createSettingsStore({ db, box });
  const logger = createLogger('warn');
  const messengers = createMessengerProvider({
    settings,
    baseUrl: cluster.emulator.url,
    apiVersion: '5.199',
    rateLimitPerSecond: 18,
  });
  const stack: Stack = {
    db,
    client,
    gateway: createWorkflowGateway(client),
    emulator: cluster.emulator,
    settings,
    messengers,
    logger,
    taskQueue: TASK_QUEUE,
    startWorker: () => Promise.reject(new Error('the cluster runs the workers')),
    async stop() {
      await messengers.close();
    },
  };
  return {
    cluster,
    stack,
    async stop() {
      await stack.stop();
      await connection.close().catch(() => undefined);
      await mongo.close();
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Cluster worker `index` as a drill's worker: SIGKILL, and a fresh process of the same build. */
export function clusterWorker(cluster: Cluster, index: number): DrillWorker {
  return {
    async start() {
      await cluster.startWorker(index);
    },
    async kill() {
      await cluster.workers[index]?.process.kill();
    },
    stderr: () => '',
  };
}

/**
 * A school of `journals` journals whose calls fall due at the first whole minute at least
 * `leadMs` away, imported through the production wiring, with its subject chats made and every
 * journal workflow asleep until the bell (as calls-support's `setUpDrill`, on the cluster).
 */
export async function setUpClusterDrill(
  t: TestContext,
  env: ClusterDrillEnv,
  args: { name: string; journals: number; leadMs: number; communityId: number },
): Promise<CallDrill> {
  const { stack } = env;
  // The checks read the emulator's whole state: each drill starts on an empty platform.
  stack.emulator.reset();
  const token = `drill-token-${randomBytes(12).toString('hex')}`;
  stack.emulator.addCommunity(args.communityId, token);
  const dueAt = Math.ceil((Date.now() + args.leadMs) / MINUTE) * MINUTE;
  const school: DrillSchool = drillSchool({ name: args.name, journals: args.journals, dueAt });
  const live: { watch?: CallWatch } = {};
  t.after(async () => {
    live.watch?.stop();
    await Promise.all(
      [
        workflowIds.schoolSync(school.schoolId),
        ...school.journals.map((j) =>
          workflowIds.journalCalls({ schoolId: school.schoolId, journalId: j.journalId }),
        ),
      ].map((id) =>
        stack.client.workflow
          .getHandle(id)
          .terminate('drill over')
          .catch(() => undefined),
      ),
    );
  });
  await stack.settings.save({
    schoolId: school.schoolId,
    input: { communityId: args.communityId, token, period: '30', enabled: true },
  });
  await importSnapshot({
    db: stack.db,
    input: school.roster,
    events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
  });
  await untilBellReady({
    stack,
    school,
    dueAt,
    chatsBy: dueAt - 15_000,
    plannedBy: dueAt - 12_000,
  });
  assert.ok(Date.now() < dueAt - 10_000, 'the drill was set up 10 s before the calls were due');
  const watch = new CallWatch(stack.emulator);
  live.watch = watch;
  let startsBeforeDue: number | undefined;
  // Unref'd: a drill that ends before its bell must not keep the test process waiting for it.
  setTimeout(
    () => {
      startsBeforeDue = stack.emulator.stats.byMethod['calls.start'] ?? 0;
    },
    Math.max(0, dueAt - Date.now()),
  ).unref();
  return {
    stack,
    school,
    watch,
    worker: clusterWorker(env.cluster, 0),
    startsBeforeDue: () => startsBeforeDue ?? stack.emulator.stats.byMethod['calls.start'] ?? 0,
  };
}

/** Each call's delay from its due time to the platform's start, sorted, and the p99. */
export function startDelays(
  drill: CallDrill,
  announced: readonly { startedAt: number }[],
): { p50: number; p99: number; max: number } {
  const delays = announced.map((a) => a.startedAt - drill.school.dueAt).sort((a, b) => a - b);
  const at = (q: number): number =>
    delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: delays[delays.length - 1] ?? 0 };
}

/** Build 2's workflow bundle (the code plus ./build-2/interceptors.ts), beside the cluster's. */
export async function writeBuild2Bundle(cluster: Cluster): Promise<{ path: string; code: string }> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    preloadModules: [...workflowBundlerOptions.preloadModules],
    workflowInterceptorModules: [require.resolve('./build-2/interceptors')],
  });
  const path = join(dirname(cluster.workflowBundle), 'workflow-bundle-build-2.js');
  await writeFile(path, code);
  return { path, code };
}

export interface RecordedHistory {
  readonly workflowId: string;
  readonly history: History;
}

export async function fetchHistories(
  client: Client,
  workflowIds: readonly string[],
): Promise<RecordedHistory[]> {
  return Promise.all(
    workflowIds.map(async (workflowId) => ({
      workflowId,
      history: await client.workflow.getHandle(workflowId).fetchHistory(),
    })),
  );
}

/** The replay failures of `histories` on the code in `code`: an empty list when all replay. */
export async function replayFailures(
  code: string,
  histories: readonly RecordedHistory[],
): Promise<string[]> {
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    {
      workflowBundle: { code },
      replayName: 'cluster-upgrade-drill',
      // The workflows record their decisions through this sink; a replay has nowhere to send them.
      sinks: { decisions: { record: { fn: () => undefined } } },
    },
    histories,
  )) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  return failures;
}

export interface PressOutcome {
  readonly journalId: string;
  /** 200 (started, or the start it had already made) or 409 (refused: a call is running). */
  readonly status: 200 | 409;
  /** Requests the client sent for this press: more than one when an API process was gone. */
  readonly attempts: number;
}

/**
 * A teacher's press of the journal's start button, as a client that retries on another API
 * process when its connection fails or the API answers 5xx (what a load balancer's retry or the
 * page's own retry does), up to `attempts` times.
 */
export async function press(args: {
  apis: readonly string[];
  first: number;
  journalId: string;
  lessonId: string;
  token: string;
  attempts?: number;
}): Promise<PressOutcome> {
  const max = args.attempts ?? 8;
  let lastError = '';
  for (let attempt = 1; attempt <= max; attempt += 1) {
    const base = args.apis[(args.first + attempt - 1) % args.apis.length];
    try {
      const response = await fetch(`${base}/journals/${args.journalId}/call/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${args.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ lessonId: args.lessonId }),
        signal: AbortSignal.timeout(30_000),
      });
      await response.arrayBuffer();
      if (response.status === 200 || response.status === 409) {
        return { journalId: args.journalId, status: response.status, attempts: attempt };
      }
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 250 * attempt));
  }
  throw new Error(`${args.journalId}: press not answered after ${max} attempts (${lastError})`);
}
