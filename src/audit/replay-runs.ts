import { Worker, type InjectedSinks, type ReplayWorkerOptions } from '@temporalio/worker';
import type { CallDecision, DecisionSinks } from '../contracts/decisions';
import type { ReplayFailure, RunReplay } from '../contracts/replay-result';
import { historyIncidents, type Incident } from './incidents';

export type { ReplayFailure, RunReplay } from '../contracts/replay-result';

/** Where the replay gets the workflow code: the very code the workers run. */
export type ReplayWorkflowSource =
  Pick<ReplayWorkerOptions, 'workflowBundle'> | Pick<ReplayWorkerOptions, 'workflowsPath'>;

export interface ReplayInput {
  readonly workflowId: string;
  readonly runId: string;
  /** A JSON history (the protojson form `historyToJSON` and `temporal workflow show` write). */
  readonly history: unknown;
}

export interface ReplayOutcome {
  readonly replayed: number;
  readonly failures: ReplayFailure[];
  /** Decisions per run, keyed `workflowId/runId`, in the order the workflow made them. */
  readonly decisions: Map<string, CallDecision[]>;
  /** What got in the runs' way (retries, late timers, lost workers), read from the histories. */
  readonly incidents: Incident[];
}

/**
 * Replays histories one after another in this process with the decision sink enabled during
 * replay (`callDuringReplay`), yielding each run's decisions, incidents and failure as soon as
 * it is replayed. The SDK delivers an activation's sink calls before the run's eviction, so a run's
 * decisions are complete when its result comes. Histories are consumed lazily, one at a time.
 */
export async function* replayEach(args: {
  workflows: ReplayWorkflowSource;
  histories: AsyncIterable<ReplayInput> | Iterable<ReplayInput>;
}): AsyncGenerator<RunReplay> {
  const decisions = new Map<string, CallDecision[]>();
  const sinks: InjectedSinks<DecisionSinks> = {
    decisions: {
      record: {
        fn(info, decision) {
          const key = `${info.workflowId}/${info.runId}`;
          const list = decisions.get(key) ?? [];
          // Plain data (no undefined fields), the same whether it stays here, crosses to another
          // process or is stored and read back.
          list.push(JSON.parse(JSON.stringify(decision)) as CallDecision);
          decisions.set(key, list);
        },
        callDuringReplay: true,
      },
    },
  };
  // runReplayHistories takes the next history only after yielding the last one's result.
  const fed: { input: ReplayInput; incidents: Incident[] }[] = [];
  async function* feed(): AsyncGenerator<{ workflowId: string; history: unknown }> {
    for await (const h of args.histories) {
      fed.push({ input: h, incidents: historyIncidents(h) });
      yield { workflowId: h.workflowId, history: h.history };
    }
  }
  for await (const result of Worker.runReplayHistories(
    { ...args.workflows, sinks, replayName: 'audit' },
    feed(),
  )) {
    const key = `${result.workflowId}/${result.runId}`;
    const made = decisions.get(key) ?? [];
    decisions.delete(key);
    const given = fed.shift();
    // The run as the caller named it (an archived run's ID), whatever its history says.
    const runId = given?.input.runId ?? result.runId;
    yield {
      workflowId: result.workflowId,
      runId,
      // A run that no longer replays explains nothing: its partial decisions are not evidence.
      decisions: result.error ? [] : made,
      incidents: given?.incidents ?? [],
      failure: result.error
        ? {
            workflowId: result.workflowId,
            runId,
            errorType: result.error.name,
            message: result.error.message,
          }
        : null,
    };
  }
}

/** The audit's view of a set of replayed runs, in the order given, however each was obtained. */
export function outcomeOf(runs: Iterable<RunReplay>): ReplayOutcome {
  const outcome: ReplayOutcome = {
    replayed: 0,
    failures: [],
    decisions: new Map(),
    incidents: [],
  };
  let replayed = 0;
  for (const run of runs) {
    replayed += 1;
    outcome.incidents.push(...run.incidents);
    if (run.failure) outcome.failures.push(run.failure);
    else if (run.decisions.length > 0)
      outcome.decisions.set(`${run.workflowId}/${run.runId}`, run.decisions);
  }
  return { ...outcome, replayed };
}
