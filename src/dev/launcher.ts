import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../process/config';
import { workflowIds } from '../contracts/ids';
import { createEmulator } from '../emulator/vk';
import { createLogger } from '../process/logger';
import {
  handOverLegacyJournals,
  startPlatformListeners,
  installRuntime,
  openApp,
  startApi,
  startWorker,
  type App,
} from '../process/app';
import { DEMO_COMMUNITY_ID, seedDemoSchool } from './demo';
import type { RunningService } from './services';
import { startMongo, startTemporalDevServer } from './services';
import { dataDir, consoleProgress, projectRoot } from './tools';
import { ManagedProcess, portOpen, waitUntil } from './processes';

/**
 * `npm start`: the whole system on embedded defaults. Temporal dev server (SQLite file, Web UI),
 * a MongoDB-compatible server, the VK API emulator, the worker and the API, with a demo school.
 * Ctrl-C stops everything it started, in reverse order.
 */
export async function startEverything(): Promise<void> {
  const started: RunningService[] = [];
  let app: App | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let stopping = false;
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };

  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\nstopping…');
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun?.catch(() => undefined);
    await app?.close().catch(() => undefined);
    for (const service of started.reverse()) {
      await service.stop().catch(() => undefined);
    }
    say('stopped.');
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  try {
    const config = loadConfig({ SFERUM_DEV: '1', ...process.env });
    const logDir = join(dataDir(), 'logs');
    const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
    const [host, portText] = config.TEMPORAL_ADDRESS.split(':');
    say('starting the Temporal dev server…');
    const temporal = await startTemporalDevServer({
      port: Number(portText ?? 7233),
      uiPort: config.TEMPORAL_UI_PORT,
      dbFile: join(dataDir(), 'temporal.sqlite'),
      logFile: join(logDir, 'temporal.log'),
      namespace: config.TEMPORAL_NAMESPACE,
      progress: consoleProgress,
    });
    started.push(temporal);
    say('starting the MongoDB-compatible server…');
    const mongo = await startMongo({
      port: config.LOCAL_MONGO_PORT,
      dataDir: dataDir(),
      logFile: join(logDir, 'mongo.log'),
      externalUri: config.MONGODB_URI,
      progress: consoleProgress,
    });
    started.push(mongo);
    const emulator = await createEmulator({
      port: config.EMULATOR_PORT,
      host: host ?? '127.0.0.1',
      stateFile: join(dataDir(), 'emulator.json'),
    });
    started.push({ name: 'emulator', stop: () => emulator.close() });
    const portal = await startPortalEmulator({ port: config.PORTAL_EMULATOR_PORT, logDir });
    started.push(portal.process);

    const opened = await openApp({
      config: { ...config, VK_API_BASE: emulator.url },
      logger,
      mongoUri: mongo.uri,
    });
    app = opened;
    installRuntime(logger, { host: config.METRICS_HOST, port: config.METRICS_PORT });
    say('building the workflow bundle and starting the worker…');
    worker = await startWorker(app, { identity: 'sferum-dev-worker' });
    workerRun = worker.run();
    handOverLegacyJournals(app);
    startPlatformListeners(app);
    const api = await startApi(app);
    started.push({ name: 'api', stop: () => api.close() });

    const demo = await seedDemoSchool(app, {
      now: Date.now(),
      emulatorUrl: emulator.url,
      addCommunity: (id, token) => emulator.addCommunity(id, token),
      portalUrl: portal.url,
    });
    // The start-up check is the real thing: the demo school's workflow answers through the worker.
    await waitUntil(
      'the demo school workflow to answer',
      async () => (await opened.gateway.syncStatus(demo.schoolId)) !== null,
      { timeoutMs: 60_000 },
    );
    const apiUrl = `http://${config.API_HOST}:${config.API_PORT}`;
    say(
      [
        '',
        'Sferum sync is up.',
        `  school workflow:  ${workflowIds.schoolSync(demo.schoolId)} answers (Temporal ↔ worker ↔ MongoDB)`,
        `  Temporal Web UI:  ${temporal.uiUrl ?? '(headless)'}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows`,
        `  API:              ${apiUrl}  (OpenAPI: ${apiUrl}/docs)`,
        `  journal page:     ${apiUrl}/journals/${demo.journalId}/page?token=${demo.teacherToken}`,
        `  school page:      ${apiUrl}/schools/${demo.schoolId}/page?key=${demo.adminKey}`,
        `  emulator state:   ${emulator.url}/__emulator/state`,
        `  city portal:      ${portal.url}/__portal/state  (the e-diary's webhook: call links arrive here)`,
        `  MongoDB:          ${mongo.uri} (${mongo.kind})`,
        `  worker metrics:   http://127.0.0.1:${config.METRICS_PORT}/metrics`,
        '',
        `The demo school's chats are being created now (workflow ${workflowIds.schoolSync(demo.schoolId)}).`,
        `Its online lesson ${demo.lessonId} starts at ${demo.lessonStart} (the school's time); the call starts by itself 20 minutes before.`,
        `Admin key for ${demo.schoolId}: ${demo.adminKey}`,
        '',
        `The platform's events reach the service through the school's listener (workflow ${workflowIds.platformEvents(demo.schoolId)}).`,
        'Act as a person in the Sferum app (docs/platform-events.md):',
        `  end the call "in Sferum" (its callId is in the emulator state's calls; the journal page says it ended within seconds):`,
        `    curl -s -XPOST ${emulator.url}/__emulator/person/calls/end -H 'content-type: application/json' -d '{"callId":"<callId>"}'`,
        `  remove a member by hand (a chatId and a member from the emulator state's chats; the sync puts them back within seconds):`,
        `    curl -s -XPOST ${emulator.url}/__emulator/person/members/remove -H 'content-type: application/json' -d '{"communityId":${DEMO_COMMUNITY_ID},"chatId":<chatId>,"userId":<memberId>}'`,
        'Logs: .data/logs/. Press Ctrl-C to stop everything.',
      ].join('\n'),
    );
    await workerRun;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    await stopAll();
    process.exitCode = 1;
  }
}

/**
 * The city portal emulator runs in a process of its own, as the real portal is another system:
 * what it receives crossed a real HTTP hop with its signature.
 */
async function startPortalEmulator(args: {
  port: number;
  logDir: string;
}): Promise<{ url: string; process: ManagedProcess }> {
  const child = await ManagedProcess.start({
    name: 'portal emulator',
    command: process.execPath,
    argv: [
      '--import',
      'tsx',
      join(projectRoot, 'src', 'cli', 'main.ts'),
      'portal-emulator',
      '--port',
      String(args.port),
    ],
    logFile: join(args.logDir, 'portal-emulator.log'),
  });
  await waitUntil('the portal emulator', () => portOpen(args.port), {
    timeoutMs: 30_000,
    process: child,
  });
  return { url: `http://127.0.0.1:${args.port}`, process: child };
}
