import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { workflowBundle } from './services';

/**
 * A production worker in a process of its own (worker-main.ts), so a test or a drill can SIGKILL
 * it mid-activity or run it through a server outage as a deployed worker would.
 */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly stderr: string[];
  readonly exited: Promise<void>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL if it lingers. */
  stop(): Promise<void>;
}

/** Writes the workflow bundle into `dir` for worker processes to load; returns its path. */
export async function writeWorkflowBundle(dir: string): Promise<string> {
  const path = join(dir, 'workflows.js');
  await writeFile(path, (await workflowBundle()).code);
  return path;
}

export function spawnWorkerProcess(args: {
  temporalAddress: string;
  mongoUri: string;
  dbName: string;
  taskQueue: string;
  emulatorUrl: string;
  bundlePath: string;
  logLevel?: string;
}): Promise<WorkerProcess> {
  const stderr: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', require.resolve('./worker-main')], {
    env: {
      ...process.env,
      MONGODB_URI: args.mongoUri,
      TEST_DB_NAME: args.dbName,
      TEMPORAL_ADDRESS: args.temporalAddress,
      TASK_QUEUE: args.taskQueue,
      EMULATOR_URL: args.emulatorUrl,
      WORKFLOW_BUNDLE: args.bundlePath,
      LOG_LEVEL: args.logLevel ?? 'silent',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const worker: WorkerProcess = {
    child,
    stderr,
    exited,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await Promise.race([
        exited,
        delay(10_000).then(() => {
          throw new Error(`worker ${child.pid} did not exit after SIGKILL`);
        }),
      ]);
    },
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      await Promise.race([exited, delay(10_000)]);
      if (running()) await worker.kill();
    },
  };
  return new Promise<WorkerProcess>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve(worker);
    });
    child.once('exit', (code) =>
      reject(
        new Error(`worker exited (${code}) before it was ready: ${stderr.join('').slice(-2000)}`),
      ),
    );
  });
}
