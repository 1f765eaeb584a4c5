import { join } from 'node:path';
import { loadConfig } from '../process/config';
import { workflowIds } from '../contracts/ids';
import { resolveBuildId } from '../process/deployment';
import { createLogger } from '../process/logger';
import { openApp, type App } from '../process/app';
import { startCluster, DEPLOYMENT_NAME, type Cluster, type ClusterPorts } from './cluster';
import { seedDemoSchool } from './demo';
import { consoleProgress, dataDir } from './tools';

/**
 * `npm run cluster`: the production topology (docs/topology.md) under `.data/cluster/`, on ports
 * of its own so it can run beside `npm start`. Ctrl-C stops every process it started, the app's
 * first, PostgreSQL last; the data stays for the next start.
 */
export const CLUSTER_PORTS: ClusterPorts = {
  postgres: 5442,
  temporal: 7243,
  temporalUi: 8243,
  mongo: 27037,
  emulator: 8989,
  portal: 8988,
  apis: [3001, 3002],
  metricsBase: 9471,
};

export async function runCluster(opts: { workers: number }): Promise<void> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  let cluster: Cluster | undefined;
  let app: App | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\nstopping the cluster…');
    await app?.close().catch(() => undefined);
    await cluster?.stop();
    say('stopped.');
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  try {
    const dir = join(dataDir(), 'cluster');
    const buildId = resolveBuildId();
    const namespace = 'default';
    cluster = await startCluster({
      dir,
      workers: opts.workers,
      ports: CLUSTER_PORTS,
      namespace,
      buildId,
      progress: consoleProgress,
    });
    const config = loadConfig({
      SFERUM_DEV: '1',
      ...process.env,
      TEMPORAL_ADDRESS: cluster.temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
    });
    app = await openApp({
      config: { ...config, VK_API_BASE: cluster.emulator.url },
      logger: createLogger('warn'),
      mongoUri: cluster.mongoUri,
    });
    const emulator = cluster.emulator;
    const demo = await seedDemoSchool(app, {
      now: Date.now(),
      emulatorUrl: emulator.url,
      addCommunity: (id, token) => emulator.addCommunity(id, token),
      portalUrl: cluster.portalUrl,
    });
    const ui = `http://127.0.0.1:${String(CLUSTER_PORTS.temporalUi)}`;
    const api = (port: number): string => `http://127.0.0.1:${port}`;
    const logs = join(dir, 'logs');
    say(
      [
        '',
        'Sferum sync cluster is up (docs/topology.md).',
        `  Temporal:          ${cluster.temporalAddress} on PostgreSQL 127.0.0.1:${CLUSTER_PORTS.postgres} (databases temporal, temporal_visibility)`,
        `  Temporal Web UI:   ${ui}/namespaces/${namespace}/workflows`,
        `  worker deployment: ${ui}/namespaces/${namespace}/worker-deployments  (${DEPLOYMENT_NAME}, current build ${buildId})`,
        ...cluster.workers.map(
          (w, i) =>
            `  ${w.name}:${' '.repeat(Math.max(1, 18 - w.name.length - 1))}pid ${String(w.process.pid)}, metrics http://127.0.0.1:${CLUSTER_PORTS.metricsBase + i}/metrics`,
        ),
        ...cluster.apis.map(
          (a, i) =>
            `  ${a.name}:${' '.repeat(Math.max(1, 18 - a.name.length - 1))}${api(CLUSTER_PORTS.apis[i] ?? 0)}  (OpenAPI: /docs)`,
        ),
        `  MongoDB:           ${cluster.mongoUri} (FerretDB on PostgreSQL)`,
        `  VK API emulator:   ${emulator.url}/__emulator/state`,
        `  city portal:       ${cluster.portalUrl}/__portal/state`,
        `  journal page:      ${api(CLUSTER_PORTS.apis[0] ?? 0)}/journals/${demo.journalId}/page?token=${demo.teacherToken}`,
        `  school page:       ${api(CLUSTER_PORTS.apis[1] ?? 0)}/schools/${demo.schoolId}/page?key=${demo.adminKey}`,
        '',
        `The demo school syncs now (workflow ${workflowIds.schoolSync(demo.schoolId)}); its lesson ${demo.lessonId} starts at ${demo.lessonStart} (the school's time).`,
        `Data: ${dir}. Logs: ${logs}. Roll out a build: docs/operating.md "Rolling upgrades".`,
        'Press Ctrl-C to stop everything.',
      ].join('\n'),
    );
    await new Promise<void>(() => undefined);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    await stop();
    process.exitCode = 1;
  }
}
