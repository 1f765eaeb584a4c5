import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { dirname } from 'node:path';

/**
 * Child processes the launcher owns. Each one logs to its own file, and `stop()` ends it with
 * SIGTERM, then SIGKILL if it lingers, so Ctrl-C leaves no orphans behind.
 */
export class ManagedProcess {
  private exited = false;
  private readonly exitPromise: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
    private readonly stopSignal: NodeJS.Signals,
  ) {
    this.exitPromise = new Promise((resolveExit) => {
      child.once('exit', (code) => {
        this.exited = true;
        resolveExit(code);
      });
    });
  }

  static async start(args: {
    name: string;
    command: string;
    argv: readonly string[];
    logFile: string;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Another account to run as (PostgreSQL refuses to run as root). */
    runAs?: { uid: number; gid: number } | undefined;
    /** What `stop()` sends first: PostgreSQL's fast shutdown is SIGINT, its SIGTERM waits for clients. */
    stopSignal?: NodeJS.Signals;
  }): Promise<ManagedProcess> {
    await mkdir(dirname(args.logFile), { recursive: true });
    const log = createWriteStream(args.logFile, { flags: 'a' });
    const child = spawn(args.command, args.argv, {
      env: args.env ?? process.env,
      cwd: args.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(args.runAs ?? {}),
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    await new Promise<void>((resolveSpawn, reject) => {
      child.once('spawn', resolveSpawn);
      child.once('error', reject);
    });
    return new ManagedProcess(args.name, child, args.logFile, args.stopSignal ?? 'SIGTERM');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Resolves with the exit code when the process ends by itself. */
  exit(): Promise<number | null> {
    return this.exitPromise;
  }

  /** SIGKILL, as a crash or an OOM kill would: for the fault drills. */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    this.child.kill(this.stopSignal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** A port the OS says is free right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * The first port from `start` up that can be bound now. The Temporal server's PostgreSQL schema
 * keeps membership ports in a smallint, so its ports must stay below 32768, where the OS's
 * ephemeral range (what `freePort` gets) does not reach.
 */
export async function freePortFrom(start: number, host = '127.0.0.1'): Promise<number> {
  for (let port = start; port < 32768; port += 1) {
    const free = await new Promise<boolean>((resolveFree) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolveFree(false));
      server.listen(port, host, () => server.close(() => resolveFree(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port between ${start} and 32767`);
}

export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.once('error', () => resolveOpen(false));
  });
}

/** Polls `probe` until it succeeds; the message names what never became ready. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; process?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (opts.process && !opts.process.running) {
      throw new Error(`${what} exited during start-up; see ${opts.process.logFile}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const hint = opts.process ? `; see ${opts.process.logFile}` : '';
      throw new Error(`${what} was not ready within ${opts.timeoutMs} ms${hint}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
