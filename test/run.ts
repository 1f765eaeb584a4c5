import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  projectRoot,
  ensureTestServer,
  ensureTemporalServer,
  ensureFerretDb,
  findMongod,
} from '../src/dev/tools';
import { startTestServices } from './support/services';

/**
 * `npm test`: the whole suite on real services. Builds the tools if needed (with progress), starts
 * one Temporal server (with its Web UI, for the browser test) and one MongoDB-compatible
 * server for the run, then hands every test file to node's test runner, whose summary ends the
 * output.
 */
const SUITES = [
  'unit',
  'contract',
  'workflow',
  'replay',
  'api',
  'security',
  'integration',
  'drills',
  'e2e',
];

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...testFiles(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const suites = only.length > 0 ? only : SUITES;
  const files = suites.flatMap((suite) => {
    try {
      return testFiles(join(projectRoot, 'test', suite));
    } catch {
      return [];
    }
  });
  if (files.length === 0) {
    console.error(`no test files in ${suites.join(', ')}`);
    return 1;
  }
  // Unit tests are pure: they need no services, which keeps `npm run check` quick.
  const pureOnly = suites.every((suite) => suite === 'unit');
  let env: NodeJS.ProcessEnv = process.env;
  let stop = (): Promise<void> => Promise.resolve();
  if (!pureOnly) {
    await ensureTemporalServer();
    if (!process.env.MONGODB_URI && !findMongod()) await ensureFerretDb();
    const testServer = await ensureTestServer();
    const services = await startTestServices({ ui: true });
    stop = () => services.stop();
    env = {
      ...process.env,
      MONGODB_URI: services.mongoUri,
      SFERUM_TEST_TEMPORAL_ADDRESS: services.temporalAddress,
      SFERUM_TEST_TEMPORAL_UI_URL: services.temporalUiUrl ?? '',
      SFERUM_TEST_SERVER_PATH: testServer,
    };
    console.error(
      `[test] Temporal ${services.temporalAddress} (UI ${services.temporalUiUrl ?? 'off'}), MongoDB ${services.mongoUri}`,
    );
  }
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  console.error(`[test] ${files.length} test files from ${suites.join(', ')}`);
  try {
    return await new Promise<number>((resolveRun) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--test',
          `--test-concurrency=${process.env.SFERUM_TEST_CONCURRENCY ?? '2'}`,
          '--test-timeout=600000',
          ...files.map((f) => relative(projectRoot, f)),
        ],
        {
          cwd: projectRoot,
          stdio: 'inherit',
          env,
        },
      );
      child.on('exit', (code) => resolveRun(code ?? 1));
    });
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
