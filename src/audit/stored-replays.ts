import type { Db } from 'mongodb';
import {
  createHistoryArchive,
  type ArchivedRunMeta,
  type HistoryArchive,
} from '../store/history-archive';
import { replayBuild, type ReplayBuild } from './replay-build';
import { defaultPoolSize, replayInParallel, type PoolInput } from './replay-pool';
import {
  outcomeOf,
  replayEach,
  type ReplayOutcome,
  type ReplayWorkflowSource,
  type RunReplay,
} from './replay-runs';

/**
 * Replay once, keep the result: a closed run's history never changes, so its replay by one build
 * of the workflow code stays true until the build changes. The archiver replays what it archives
 * (`replayArchived`); the audit takes the stored replays of its build and replays only the rest
 * (`freshReplays`), keeping what it replayed of closed runs. A stored replay of another build is
 * replayed again, which is also the determinism check of the new code against every archived run.
 */

/** Below this many histories the pool's start-up (a runtime per process) costs more than it saves. */
const PARALLEL_FROM = 24;

/** The stored replay of `run`, when it was made by this build. */
export function storedReplay(run: ArchivedRunMeta, build: ReplayBuild): RunReplay | null {
  if (!run.closed || !run.replay || run.replay.buildId !== build.buildId) return null;
  const { decisions, incidents, failure } = run.replay;
  return { workflowId: run.workflowId, runId: run.runId, decisions, incidents, failure };
}

/** Replays histories fresh, in their order: in this process for a few, on every core for many. */
export function freshReplays(args: {
  build: ReplayBuild;
  histories: AsyncIterable<PoolInput> | Iterable<PoolInput>;
  count: number;
  processes?: number;
  background?: boolean;
}): AsyncGenerator<RunReplay> {
  const processes = args.processes ?? defaultPoolSize();
  if (processes > 1 && args.count >= PARALLEL_FROM) {
    return replayInParallel({
      code: args.build.code,
      histories: args.histories,
      processes,
      background: args.background === true,
    });
  }
  const source = args.histories;
  async function* parsed(): AsyncGenerator<{
    workflowId: string;
    runId: string;
    history: unknown;
  }> {
    for await (const h of source)
      yield { workflowId: h.workflowId, runId: h.runId, history: JSON.parse(h.json) as unknown };
  }
  return replayEach({
    workflows: { workflowBundle: { code: args.build.code } },
    histories: parsed(),
  });
}

export function toStored(
  run: RunReplay,
  build: ReplayBuild,
): Parameters<ReturnType<typeof createHistoryArchive>['putReplay']>[2] {
  return {
    buildId: build.buildId,
    replayedAt: new Date(),
    decisions: run.decisions,
    incidents: run.incidents,
    failure: run.failure,
  };
}

/**
 * The audit's replays: each archived run from its stored replay when this build made it, the
 * rest (open runs, taken fresh from the server when it has them; runs never replayed or replayed
 * by another build) replayed now, on every core when there are many, and those of closed runs
 * stored for next time. The outcome lists the runs in the archive's order, then the open runs
 * only the server knew, exactly as a replay of them all would.
 */
export async function auditReplays(args: {
  archive: HistoryArchive;
  build: ReplayBuild;
  runs: readonly ArchivedRunMeta[];
  /** Open runs as the server has them now, keyed `workflowId/runId`. */
  fresh: ReadonlyMap<string, PoolInput>;
  /** Open runs the archive does not have yet. */
  extra: readonly PoolInput[];
  onProgress?: (done: number, total: number) => void;
  processes?: number;
}): Promise<{ outcome: ReplayOutcome; stored: number }> {
  const slots: (RunReplay | null)[] = [];
  /** What must be replayed now; `keep`: a closed archived run, whose replay is worth storing. */
  const todo: {
    slot: number;
    workflowId: string;
    runId: string;
    live: PoolInput | null;
    keep: boolean;
  }[] = [];
  for (const run of args.runs) {
    const live = args.fresh.get(`${run.workflowId}/${run.runId}`) ?? null;
    const kept = live ? null : storedReplay(run, args.build);
    if (!kept) todo.push({ slot: slots.length, ...ids(run), live, keep: run.closed && !live });
    slots.push(kept);
  }
  for (const live of args.extra) {
    todo.push({ slot: slots.length, ...ids(live), live, keep: false });
    slots.push(null);
  }
  const stored = slots.length - todo.length;
  const taken: typeof todo = [];
  async function* histories(): AsyncGenerator<PoolInput> {
    for (const item of todo) {
      const json = item.live?.json ?? (await args.archive.readJson(item.workflowId, item.runId));
      // Gone from the archive since it was listed: nothing to replay, as before.
      if (json === null) continue;
      taken.push(item);
      yield { ...ids(item), json };
    }
  }
  let done = 0;
  for await (const result of freshReplays({
    build: args.build,
    histories: histories(),
    count: todo.length,
    ...(args.processes === undefined ? {} : { processes: args.processes }),
  })) {
    const item = taken.shift();
    if (!item) throw new Error('a replay result without its history');
    slots[item.slot] = result;
    if (item.keep)
      await args.archive.putReplay(result.workflowId, result.runId, toStored(result, args.build));
    done += 1;
    args.onProgress?.(done, todo.length);
  }
  return { outcome: outcomeOf(slots.filter((s) => s !== null)), stored };
}

function ids(run: { workflowId: string; runId: string }): { workflowId: string; runId: string } {
  return { workflowId: run.workflowId, runId: run.runId };
}

export interface ReplayPassOutcome {
  /** Closed runs replayed and stored by this pass. */
  readonly replayed: number;
  /** Of those, runs that no longer replay (nondeterminism): the audit reports them. */
  readonly failed: number;
  /** Closed runs still without a replay by this build, left for the next pass. */
  readonly pending: number;
  readonly buildId: string;
}

const BATCH = 500;

/**
 * The archiver's pass: replays the archived closed runs that have no replay by this build and
 * stores each result, in batches on every core, until none is left or `budgetMs` has passed.
 */
export async function replayArchived(args: {
  db: Db;
  workflows: ReplayWorkflowSource;
  schoolId?: string;
  budgetMs: number;
  processes?: number;
  onRun?: (done: number) => void;
}): Promise<ReplayPassOutcome> {
  const archive = createHistoryArchive(args.db);
  const build = await replayBuild(args.workflows);
  const deadline = Date.now() + args.budgetMs;
  const scope = args.schoolId === undefined ? {} : { schoolId: args.schoolId };
  const seen = new Set<string>();
  let replayed = 0;
  let failed = 0;
  while (Date.now() < deadline) {
    const batch = (
      await archive.pendingReplays({ buildId: build.buildId, limit: BATCH, ...scope })
    ).filter((r) => !seen.has(`${r.workflowId}/${r.runId}`));
    if (batch.length === 0) break;
    for (const r of batch) seen.add(`${r.workflowId}/${r.runId}`);
    async function* histories(): AsyncGenerator<PoolInput> {
      for (const r of batch) {
        const json = await archive.readJson(r.workflowId, r.runId);
        if (json !== null) yield { ...r, json };
      }
    }
    for await (const run of freshReplays({
      build,
      histories: histories(),
      count: batch.length,
      background: true,
      ...(args.processes === undefined ? {} : { processes: args.processes }),
    })) {
      await archive.putReplay(run.workflowId, run.runId, toStored(run, build));
      replayed += 1;
      if (run.failure) failed += 1;
      args.onRun?.(replayed);
    }
  }
  const pending = await archive.countPendingReplays({ buildId: build.buildId, ...scope });
  return { replayed, failed, pending, buildId: build.buildId };
}
