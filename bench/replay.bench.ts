import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { replayDecisions, type ReplayInput } from '../src/audit/replay-audit';
import { bundleWorkflows } from '../src/workflow-code/bundle';
import { report } from './support/report';

/**
 * Replay throughput of the audit: journal-day histories (the recorded full school day of journal
 * J1, cloned under as many workflow IDs, as a city's journals for one day would be) replayed
 * through one replay worker with the decision sink on. The bound: a 1,000-journal school day
 * audited in 20 s, i.e. at least 50 histories per second. 200 histories measure the rate as well
 * as 1,000 (it is steady after the warm-up) and keep `npm run bench` inside its 15 minutes;
 * `SFERUM_BENCH_REPLAY_HISTORIES` sets another count.
 */
const HISTORIES = Number(process.env.SFERUM_BENCH_REPLAY_HISTORIES ?? 200);
const BOUND_PER_SECOND = 50;
const FIXTURE = resolve(__dirname, '..', 'test', 'fixtures', 'histories', 'journal-calls-j1.json');

export async function run(): Promise<void> {
  const begun = performance.now();
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
      },
    });
  } catch {
    // An earlier scenario of the run already made the runtime; its logging settings stand.
  }
  const bundle = await bundleWorkflows();
  const text = await readFile(FIXTURE, 'utf8');
  const events = (JSON.parse(text) as { events: unknown[] }).events.length;
  // Each clone is parsed afresh, as the audit parses each archived history.
  function* histories(): Generator<ReplayInput> {
    for (let i = 0; i < HISTORIES; i++) {
      yield {
        workflowId: `journal-calls-bench-${i}`,
        runId: `bench-${i}`,
        history: JSON.parse(text) as unknown,
      };
    }
  }
  // One short warm-up, so the measurement excludes creating the replay worker's V8 isolate pool.
  await replayDecisions({
    workflows: { workflowBundle: bundle },
    histories: [...histories()].slice(0, 10),
  });

  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const outcome = await replayDecisions({
    workflows: { workflowBundle: bundle },
    histories: histories(),
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (outcome.failures.length > 0)
    throw new Error(`${outcome.failures.length} histories failed to replay`);
  const decisions = [...outcome.decisions.values()].reduce((n, list) => n + list.length, 0);
  const perSecond = outcome.replayed / seconds;
  report({
    scenario: 'replay',
    description:
      `${outcome.replayed} journal-day histories (${events} events each) replayed through one ` +
      `replay worker with the decision sink on, ${decisions} decisions, in ${seconds.toFixed(1)} s; ` +
      // Replay is CPU-bound: on a shared machine the load average says how much CPU it really had.
      `load average ${(loadavg()[0] ?? 0).toFixed(1)}`,
    measures: [
      {
        metric: 'histories replayed per second',
        value: Number(perSecond.toFixed(1)),
        unit: 'histories/s',
        bound: BOUND_PER_SECOND,
        kind: 'atLeast',
        boundSource: 'a 1,000-journal school day audited in 20 s',
      },
      {
        // CPU per history, all threads: what the rate would be on a free core, whatever the load.
        metric: 'CPU per history',
        value: Number(((cpu.user + cpu.system) / 1000 / outcome.replayed).toFixed(1)),
        unit: 'ms',
      },
    ],
    seconds: (performance.now() - begun) / 1000,
  });
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
