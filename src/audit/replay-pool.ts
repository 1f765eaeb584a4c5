import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, setPriority } from 'node:os';
import { pathToFileURL } from 'node:url';
import { runReplaySchema, type RunReplay } from '../contracts/replay-result';

/**
 * Fresh replay on every core: a bounded pool of child processes, each with its own Temporal
 * runtime and replay worker over the same bundle, fed histories over IPC a few at a time. Results
 * come back in the order the histories were given, so the output is the sequential path's
 * (src/audit/replay-runs.ts `replayEach`, which each child runs). Processes rather than worker
 * threads: the SDK's native runtime is one per process, and a crash stays in its process.
 */
export interface PoolInput {
  readonly workflowId: string;
  readonly runId: string;
  /** The history's JSON text, parsed in the child: parsing is part of the work spread. */
  readonly json: string;
}

/** Messages between the pool and a child (src/audit/replay-child.ts). */
export type ToChild =
  | { readonly type: 'init'; readonly code: string }
  | { readonly type: 'replay'; readonly index: number; readonly input: PoolInput };
export type FromChild =
  /** Listening: messages sent before a child listens are lost. */
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly index: number; readonly run: unknown };

/** Histories sent ahead to each child, so it never waits for the next while one is in IPC. */
const IN_FLIGHT_PER_CHILD = 3;

export function defaultPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.SFERUM_REPLAY_PROCESSES);
  return Number.isInteger(configured) && configured > 0 ? configured : availableParallelism();
}

interface Child {
  readonly process: ChildProcess;
  inFlight: number;
  send: (message: ToChild) => void;
}

export async function* replayInParallel(args: {
  /** The workflow bundle's code (src/audit/replay-build.ts). */
  code: string;
  histories: AsyncIterable<PoolInput> | Iterable<PoolInput>;
  processes?: number;
  /** Run the children at a lower CPU priority (nice), so a worker's own tasks come first. */
  background?: boolean;
}): AsyncGenerator<RunReplay> {
  const size = Math.max(1, args.processes ?? defaultPoolSize());
  const source =
    Symbol.asyncIterator in args.histories
      ? args.histories[Symbol.asyncIterator]()
      : args.histories[Symbol.iterator]();
  const children: Child[] = [];
  const done = new Map<number, RunReplay>();
  let failure: Error | null = null;
  // Set by the children's handlers, which the control flow here cannot see.
  const failureOf = (): Error | null => failure;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  let finished = false;
  const spawn = (): Child => {
    const child: Child = {
      process: startChild(args.background === true),
      inFlight: 0,
      send: () => undefined,
    };
    const pending: ToChild[] = [{ type: 'init', code: args.code }];
    let ready = false;
    child.send = (message) => {
      if (ready) child.process.send(message);
      else pending.push(message);
    };
    child.process.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        ready = true;
        for (const queued of pending.splice(0)) child.process.send(queued);
        return;
      }
      child.inFlight -= 1;
      const parsed = runReplaySchema.safeParse(message.run);
      if (parsed.success) done.set(message.index, parsed.data);
      else failure ??= new Error(`replay process sent a malformed result: ${parsed.error.message}`);
      notify();
    });
    child.process.on('exit', (code, signal) => {
      if (!finished)
        failure ??= new Error(`a replay process exited (${signal ?? `code ${String(code)}`})`);
      notify();
    });
    children.push(child);
    return child;
  };
  const pick = (): Child | undefined => {
    const free = children
      .filter((c) => c.inFlight < IN_FLIGHT_PER_CHILD)
      .sort((a, b) => a.inFlight - b.inFlight)[0];
    if (free && free.inFlight === 0) return free;
    return children.length < size ? spawn() : free;
  };

  let sent = 0;
  let next = 0;
  let exhausted = false;
  try {
    for (;;) {
      const failed = failureOf();
      if (failed) throw failed;
      while (!exhausted) {
        const child = pick();
        if (!child) break;
        const item = await source.next();
        if (item.done === true) {
          exhausted = true;
          break;
        }
        const input: PoolInput = item.value;
        child.inFlight += 1;
        child.send({ type: 'replay', index: sent, input });
        sent += 1;
      }
      const ready = done.get(next);
      if (ready) {
        done.delete(next);
        next += 1;
        yield ready;
        continue;
      }
      if (exhausted && next === sent) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    finished = true;
    for (const child of children) child.process.kill();
  }
}

function startChild(background: boolean): ChildProcess {
  const path = require.resolve('./replay-child');
  // From the sources (tsx), the child needs the same TypeScript loader; a build runs plain JS.
  const execArgv = path.endsWith('.ts')
    ? ['--import', pathToFileURL(require.resolve('tsx')).href]
    : [];
  const child = fork(path, [], {
    execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (background && child.pid !== undefined) {
    try {
      setPriority(child.pid, 10);
    } catch {
      // Not allowed here: the replay still runs, at the normal priority.
    }
  }
  return child;
}
