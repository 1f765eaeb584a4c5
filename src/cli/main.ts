#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../process/config';
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
import { TypedError } from '../contracts/errors';
import { importChangeSet, importSnapshot } from '../store/roster-import';
import { issueAdminKey, issuePortalKey, issueTeacherToken } from '../store/auth-store';
import { keyHolderRefusal, type KeyHolderLookups } from '../store/key-holder';
import { createRosterStore } from '../store/roster-store';
import { createSyncStore } from '../store/sync-store';
import { runEmulatorCli } from '../emulator/vk';
import { runPortalEmulatorCli } from '../emulator/portal';
import { startEverything } from '../dev/launcher';
import { runCluster } from '../dev/cluster-launcher';
import { registerDeploymentCommands } from './deployment';
import { printPlan } from './plan';
import { registerAuditCommands } from './audit';

const program = new Command()
  .name('sferum-sync')
  .description(
    'Keeps a school’s VK Sferum chats and video lessons in step with the school system.',
  );

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}

/** Opens the app against the configured services (MONGODB_URI and TEMPORAL_ADDRESS). */
async function withApp<T>(run: (app: App) => Promise<T>): Promise<T> {
  const config = loadConfig();
  if (!config.MONGODB_URI)
    throw new Error('MONGODB_URI is not set (npm start sets up a local one)');
  const app = await openApp({
    config,
    logger: createLogger(config.LOG_LEVEL),
    mongoUri: config.MONGODB_URI,
  });
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

program
  .command('start')
  .description('bring the whole system up on embedded defaults, with a demo school')
  .action(() => startEverything());

program
  .command('cluster')
  .description(
    'run the production topology locally: Temporal on PostgreSQL, N workers, two APIs (docs/topology.md)',
  )
  .option('--workers <n>', 'worker processes', positiveInt, 2)
  .action((opts: { workers: number }) => runCluster(opts));

registerDeploymentCommands(program);

program
  .command('worker')
  .description('run the Temporal worker (production)')
  .action(async () => {
    const config = loadConfig();
    const logger = createLogger(config.LOG_LEVEL);
    if (!config.MONGODB_URI) throw new Error('MONGODB_URI is required');
    const app = await openApp({ config, logger, mongoUri: config.MONGODB_URI });
    installRuntime(logger, { host: config.METRICS_HOST, port: config.METRICS_PORT });
    const worker = await startWorker(app);
    const running = worker.run();
    handOverLegacyJournals(app);
    startPlatformListeners(app);
    await running;
    await app.close();
  });

program
  .command('api')
  .description('run the HTTP API (production)')
  .action(async () => {
    const config = loadConfig();
    const logger = createLogger(config.LOG_LEVEL);
    if (!config.MONGODB_URI) throw new Error('MONGODB_URI is required');
    const app = await openApp({ config, logger, mongoUri: config.MONGODB_URI });
    const api = await startApi(app);
    const stop = (): void => void api.close().then(() => app.close());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('emulator')
  .description('run the VK API emulator alone')
  .option('--port <n>', 'port to listen on', port, 8999)
  .option('--state <file>', 'persist the emulator state to this file')
  .action(async (opts: { port: number; state?: string }) => {
    await runEmulatorCli({ port: opts.port, ...(opts.state ? { stateFile: opts.state } : {}) });
  });

program
  .command('portal-emulator')
  .description("run the city portal emulator (the e-diary's webhook) alone")
  .option('--port <n>', 'port to listen on', port, 8998)
  .action(async (opts: { port: number }) => {
    await runPortalEmulatorCli({ port: opts.port });
  });

program
  .command('import <file>')
  .description('import a roster snapshot, or a change set with --changes')
  .option('--changes', 'the file is a change set')
  .action(async (file: string, opts: { changes?: boolean }) => {
    const input: unknown = JSON.parse(await readFile(file, 'utf8'));
    await withApp(async (app) => {
      const events = {
        rosterChanged: (e: { schoolId: string; changeId: string }) => app.gateway.rosterChanged(e),
      };
      const summary = opts.changes
        ? await importChangeSet({ db: app.db, input, events })
        : await importSnapshot({ db: app.db, input, events });
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    });
  });

/** The settings file, with the manual's proxy lines (S2) from `--proxy` as its `proxyText`. */
async function readSettingsInput(file: string, proxyFile: string | undefined): Promise<unknown> {
  const input: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (proxyFile === undefined) return input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  return { ...input, proxyText: await readFile(proxyFile, 'utf8') };
}

program
  .command('settings <schoolId> <file>')
  .description('save a school’s settings (community ID, token, proxy, period) from a JSON file')
  .option(
    '--proxy <file>',
    'the proxy as the manual writes it: proxy_server=…, proxy_port=…, proxy_username=…, proxy_password=…, proxy_auth=1|0, one a line',
  )
  .action(async (schoolId: string, file: string, opts: { proxy?: string }) => {
    const input = await readSettingsInput(file, opts.proxy);
    await withApp(async (app) => {
      const saved = await app.settings.save({ schoolId, input });
      await app.gateway.settingsChanged({ schoolId, period: saved.period });
      process.stdout.write(`${JSON.stringify(saved, null, 2)}\n`);
    });
  });

program
  .command('plan <schoolId>')
  .description(
    'compute and store a plan exactly as a sync run would, and print it, without touching the messenger',
  )
  .option('--json', 'print JSON')
  .action(async (schoolId: string, opts: { json?: boolean }) => {
    await withApp(async (app) => {
      await printPlan({ app, sync: createSyncStore(app.db), schoolId, json: opts.json ?? false });
    });
  });

function keyHolderLookups(app: App): KeyHolderLookups {
  const roster = createRosterStore({ db: app.db });
  return {
    getSchool: (schoolId) => roster.getSchool(schoolId),
    hasSettings: async (schoolId) => (await app.settings.getPublic(schoolId)) !== null,
    listStaff: async (schoolId) => (await roster.loadRoster(schoolId))?.staff ?? [],
  };
}

program
  .command('issue-key <schoolId>')
  .description(
    'issue a school admin key, a teacher token with --teacher <staffId>, or the portal key for the e-diary feed with --portal; printed once',
  )
  .option('--teacher <staffId>', 'issue a teacher token bound to this staff ID')
  .option('--portal', "issue the key the city portal reads the school's e-diary feed with")
  .action(async (schoolId: string, opts: { teacher?: string; portal?: boolean }) => {
    await withApp(async (app) => {
      const refusal = await keyHolderRefusal({
        lookups: keyHolderLookups(app),
        schoolId,
        ...(opts.teacher === undefined ? {} : { staffId: opts.teacher }),
      });
      if (refusal !== null) throw new Error(`no key issued: ${refusal}`);
      const issued = opts.teacher
        ? await issueTeacherToken({ db: app.db, schoolId, staffId: opts.teacher })
        : opts.portal
          ? await issuePortalKey({ db: app.db, schoolId })
          : await issueAdminKey({ db: app.db, schoolId });
      process.stdout.write(`${issued.secret}\n`);
    });
  });

registerAuditCommands(program, withApp);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof TypedError && Array.isArray(error.details?.errors)) {
    process.stderr.write(`${error.message}\n`);
    for (const e of error.details.errors as { path: string; message: string }[]) {
      process.stderr.write(`  ${e.path}: ${e.message}\n`);
    }
  } else {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
});
