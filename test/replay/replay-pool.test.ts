import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { replayDecisions } from '../../src/audit/replay-audit';
import { replayBuild } from '../../src/audit/replay-build';
import { replayInParallel } from '../../src/audit/replay-pool';
import { outcomeOf, type RunReplay } from '../../src/audit/replay-runs';
import { workflowBundle } from '../support/services';
import { asInput, fixtureHistories, tampered } from './fixture-histories';

/**
 * The replay pool (child processes, each with its own runtime) must give exactly what the
 * sequential replay gives: the same decisions per run in the same order, the same incidents and
 * the same failures, in the order the histories were given, whichever process replayed each.
 */
before(() => {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
    },
  });
});

void test('the parallel pool replays to exactly the sequential outcome, nondeterminism included', async () => {
  const fixtures = await fixtureHistories();
  const j1 = fixtures.find((f) => f.entry.workflowId === 'journal-calls-j1');
  assert.ok(j1, 'the full-day fixture');
  const inputs = [
    ...fixtures.map((f) => ({
      workflowId: f.entry.workflowId,
      runId: f.entry.runId,
      json: f.json,
    })),
    // Clones under their own IDs, so several processes get work, and one broken history among them.
    ...[1, 2, 3].map((i) => ({
      workflowId: `journal-calls-clone-${i}`,
      runId: j1.entry.runId,
      json: j1.json,
    })),
    { workflowId: 'journal-calls-broken', runId: j1.entry.runId, json: tampered(j1.json) },
  ];
  const bundle = await workflowBundle();
  const sequential = await replayDecisions({
    workflows: { workflowBundle: bundle },
    histories: inputs.map((i) => asInput(i.workflowId, i.runId, i.json)),
  });
  const { code } = await replayBuild({ workflowBundle: bundle });
  const runs: RunReplay[] = [];
  for await (const run of replayInParallel({ code, histories: inputs, processes: 2 }))
    runs.push(run);

  assert.deepEqual(
    runs.map((r) => r.workflowId),
    inputs.map((i) => i.workflowId),
    'results in the order given',
  );
  const parallel = outcomeOf(runs);
  assert.deepEqual(parallel, sequential);
  assert.equal(sequential.failures.length, 1);
  assert.equal(sequential.failures[0]?.workflowId, 'journal-calls-broken');
  assert.equal(sequential.failures[0]?.errorType, 'DeterminismViolationError');
  assert.ok(sequential.decisions.size >= 5, `${sequential.decisions.size} runs with decisions`);
});
