import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { testServerPath } from '../support/services';
import type { sleepyWorkflow } from './sleepy-workflows';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await testServerPath() } },
  });
});

after(async () => {
  await env?.teardown();
});

void test('the Java time-skipping server sleeps 25 simulated hours in well under a minute', async () => {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: 'time-skipping',
    workflowsPath: require.resolve('./sleepy-workflows'),
    activities: {
      recordHello: ({ name }: { name: string }) =>
        Promise.resolve({ greeting: `Hello, ${name}!`, stored: true }),
    },
  });
  const wallStart = Date.now();
  const result = await worker.runUntil(
    env.client.workflow.execute<typeof sleepyWorkflow>('sleepyWorkflow', {
      taskQueue: 'time-skipping',
      workflowId: 'sleepy-1',
      args: [{ name: 'time' }],
    }),
  );
  const wallMs = Date.now() - wallStart;
  assert.ok(result.sleptMs >= 25 * 3_600_000, `slept ${result.sleptMs} ms of workflow time`);
  assert.equal(result.greeting, 'Hello, time!');
  assert.ok(wallMs < 60_000, `took ${wallMs} ms of wall time`);
});
