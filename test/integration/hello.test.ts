import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { workflowIds } from '../../src/contracts/ids';
import { createHelloActivities } from '../../activities/hello';
import type { helloWorkflow } from '../../workflows/hello';
import { openTestDb, useServices, workflowBundle } from '../support/services';

const services = useServices();

void test('foundation: Temporal dev server, worker and MongoDB-compatible server run the hello workflow', async () => {
  const { mongoUri, temporalAddress } = services();
  const mongo = await openTestDb(mongoUri);
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const taskQueue = `hello-${Date.now()}`;
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createHelloActivities({ db: mongo.db }),
    });
    const client = new Client({ connection });
    const result = await worker.runUntil(
      client.workflow.execute<typeof helloWorkflow>('helloWorkflow', {
        taskQueue,
        workflowId: workflowIds.hello(taskQueue),
        args: [{ name: 'Sferum' }],
      }),
    );
    assert.deepEqual(result, { greeting: 'Hello, Sferum!', stored: true });
    const stored = await mongo.db
      .collection<{ _id: string; greeting: string }>('hello')
      .findOne({ _id: 'Sferum' });
    assert.equal(stored?.greeting, 'Hello, Sferum!');
  } finally {
    await connection.close();
    await nativeConnection.close();
    await mongo.drop();
  }
});
