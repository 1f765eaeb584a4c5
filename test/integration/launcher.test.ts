import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../src/dev/processes';
import { projectRoot } from '../../src/dev/tools';
import { useServices } from '../support/services';

const services = useServices();

/** PIDs of every process descended from `pid`, from /proc. */
function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const found: number[] = [];
  const walk = (id: number): void => {
    for (const child of children.get(id) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('foundation: `start` brings the system up, answers on the Web UI, and Ctrl-C leaves no process behind', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sferum-start-'));
  const temporalPort = await freePort();
  const uiPort = await freePort();
  const apiPort = await freePort();
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_UI_PORT: String(uiPort),
    API_PORT: String(apiPort),
    EMULATOR_PORT: String(await freePort()),
    METRICS_PORT: String(await freePort()),
    LOCAL_MONGO_PORT: String(await freePort()),
    MONGODB_URI: services().mongoUri,
    MONGODB_DB: `start_${randomBytes(4).toString('hex')}`,
    SFERUM_DATA_DIR: dataDir,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const deadline = Date.now() + 180_000;
    while (!output.includes('Sferum sync is up.')) {
      assert.ok(child.exitCode === null, `start exited early:\n${output}`);
      assert.ok(Date.now() < deadline, `start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // The start-up check: the demo school's own workflow answered through the worker.
    assert.match(output, /school workflow: +school-sync-demo-school answers/);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    assert.equal(ui.status, 200, 'the Temporal Web UI answers');
    const ready = await fetch(`http://127.0.0.1:${apiPort}/readyz`);
    assert.equal(ready.status, 200, 'the API is ready');

    const spawned = descendants(child.pid!);
    assert.ok(spawned.length > 0, 'start runs child processes (the Temporal dev server)');
    child.kill('SIGINT');
    const exit = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    assert.equal(exit, 0, output);
    const deadline2 = Date.now() + 10_000;
    while (spawned.some(alive) && Date.now() < deadline2)
      await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(spawned.filter(alive), [], 'no orphan processes');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of descendants(child.pid!)) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});
