import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBuildId, workerDeploymentOptions } from '../../src/process/deployment';
import { ferretPoolArithmetic } from '../../src/dev/postgres';
import { postgresPersistence } from '../../src/dev/temporal-config';
import { loadConfig } from '../../src/process/config';

test('FerretDB on PostgreSQL: pool_max_conns is at least twice the sum of its clients’ pools (its updates hold two connections each)', () => {
  for (const [clients, clientPool] of [
    [2, 40],
    [7, 20],
    [12, 20],
  ] as const) {
    const { pgPool } = ferretPoolArithmetic({ clients, clientPool });
    assert.ok(pgPool >= 2 * clients * clientPool, `${clients} × ${clientPool} → ${pgPool}`);
  }
  // What the benchmarks ran with before the move: 2 clients of 40, a pool of 180.
  assert.equal(ferretPoolArithmetic({ clients: 2, clientPool: 40 }).pgPool, 180);
});

test('the cluster’s Temporal persistence: postgres12, history and visibility in databases of their own, the shard count as given', () => {
  const p = postgresPersistence({
    host: '127.0.0.1',
    port: 5442,
    user: 'postgres',
    database: 'temporal',
    visibilityDatabase: 'temporal_visibility',
    numHistoryShards: 4,
    maxConns: 10,
  }) as {
    defaultStore: string;
    visibilityStore: string;
    numHistoryShards: number;
    datastores: Record<string, { sql: { pluginName: string; databaseName: string } }>;
  };
  assert.equal(p.numHistoryShards, 4);
  const history = p.datastores[p.defaultStore]?.sql;
  const visibility = p.datastores[p.visibilityStore]?.sql;
  assert.equal(history?.pluginName, 'postgres12');
  assert.equal(visibility?.pluginName, 'postgres12');
  assert.equal(history?.databaseName, 'temporal');
  assert.equal(visibility?.databaseName, 'temporal_visibility');
  assert.throws(() =>
    postgresPersistence({
      host: '127.0.0.1',
      port: 70_000,
      user: 'postgres',
      database: 'temporal',
      visibilityDatabase: 'temporal_visibility',
      numHistoryShards: 4,
      maxConns: 10,
    }),
  );
});

test('Worker Versioning: a worker of a deployment is AutoUpgrade; its build ID is SFERUM_BUILD_ID, else the package version and commit', () => {
  const options = workerDeploymentOptions({ deploymentName: 'sferum-sync', buildId: 'b-1' });
  assert.deepEqual(options, {
    version: { deploymentName: 'sferum-sync', buildId: 'b-1' },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'AUTO_UPGRADE',
  });
  assert.equal(resolveBuildId({ SFERUM_BUILD_ID: 'given' }), 'given');
  assert.match(resolveBuildId({}), /^\d+\.\d+\.\d+(\+[0-9a-f]{12}(-dirty)?)?$/);
  assert.throws(
    () => loadConfig({ SFERUM_DEPLOYMENT_NAME: 'has space' }),
    /SFERUM_DEPLOYMENT_NAME/,
  );
});
