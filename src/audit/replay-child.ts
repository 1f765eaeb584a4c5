import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { FromChild, PoolInput, ToChild } from './replay-pool';
import { replayEach, type ReplayInput } from './replay-runs';

/**
 * One process of the replay pool (src/audit/replay-pool.ts): its own Temporal runtime and one
 * replay worker over the bundle it is sent, replaying the histories it is fed in order and
 * sending each run's result back with its index. It ends with the pool (or its IPC channel).
 */
Runtime.install({
  // Ended by the pool with SIGTERM: no graceful worker shutdown to wait for, a replay keeps nothing.
  shutdownSignals: [],
  // A history that no longer replays is a result, not something to print here.
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: {
    logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
  },
});

const queue: { index: number; input: PoolInput }[] = [];
const indexes: number[] = [];
let wake: (() => void) | null = null;

async function* histories(): AsyncGenerator<ReplayInput> {
  for (;;) {
    const item = queue.shift();
    if (item) {
      indexes.push(item.index);
      yield {
        workflowId: item.input.workflowId,
        runId: item.input.runId,
        history: JSON.parse(item.input.json) as unknown,
      };
      continue;
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
}

async function replay(code: string): Promise<void> {
  for await (const run of replayEach({
    workflows: { workflowBundle: { code } },
    histories: histories(),
  })) {
    const index = indexes.shift();
    if (index === undefined) throw new Error('a replay result without its history');
    process.send?.({ type: 'result', index, run } satisfies FromChild);
  }
}

process.on('message', (message: ToChild) => {
  if (message.type === 'init') {
    replay(message.code).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
    return;
  }
  queue.push({ index: message.index, input: message.input });
  wake?.();
  wake = null;
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' } satisfies FromChild);
