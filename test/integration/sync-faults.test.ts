import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importSnapshot } from '../../src/store/roster-import';
import { createSyncStore } from '../../src/store/sync-store';
import { useServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';
import {
  spawnWorkerProcess,
  writeWorkflowBundle,
  type WorkerProcess,
} from '../support/worker-process';
import {
  countEmulatorWrites,
  duplicateTitles,
  emulatorChats,
  mediumRoster,
  planVsEmulator,
  runFinished,
  until,
} from './school-sync-support';

/**
 * Idempotence under faults (issue 5): the emulator answers error 10 and HTTP 502, drops
 * connections after applying the action, and allows fewer requests per second than the client
 * expects; the worker process is killed with SIGKILL in the middle of the first run and started
 * again. The sync still converges to the plan with no duplicate chat and no member lost.
 */

const services = useServices();
const writes = countEmulatorWrites();

function spawnWorker(stack: Stack, bundlePath: string): Promise<WorkerProcess> {
  return spawnWorkerProcess({
    temporalAddress: services().temporalAddress,
    mongoUri: services().mongoUri,
    dbName: stack.db.databaseName,
    taskQueue: stack.taskQueue,
    emulatorUrl: stack.emulator.url,
    bundlePath,
    logLevel: 'warn',
  });
}

void test('idempotence under faults: with errors 10, HTTP 502, replies dropped after the action, a lowered rate limit and the worker SIGKILLed mid-run, the sync converges to the plan with no duplicate chat and no lost member', async () => {
  const stack = await startStack({ services: services() });
  const dir = await mkdtemp(join(tmpdir(), 'sync-faults-'));
  const workers: WorkerProcess[] = [];
  try {
    const bundlePath = await writeWorkflowBundle(dir);

    const roster = mediumRoster('sync-faults', [5]);
    const schoolId = roster.school.id;
    const communityId = 8800;
    const token = `fault-token-${randomBytes(12).toString('hex')}`;
    stack.emulator.addCommunity(communityId, token);
    await stack.settings.save({ schoolId, input: { communityId, token, period: '30' } });
    stack.emulator.setFaults({
      errorRate10: 0.05,
      http502Rate: 0.05,
      dropAfterRate: 0.1,
      latencyMs: 20,
      rateLimitPerSecond: 10,
    });

    const first = await spawnWorker(stack, bundlePath);
    workers.push(first);
    writes.reset();
    // SIGKILL the worker right after the platform applied the third createChat and before it
    // answers: the chat exists, our record of its ID is lost with the process.
    const createdTitles: string[] = [];
    let killedTitle: string | undefined;
    writes.onApplied = (method, params) => {
      if (method !== 'messages.createChat') return;
      createdTitles.push(params.title ?? '');
      if (createdTitles.length === 3 && killedTitle === undefined) {
        killedTitle = params.title ?? '';
        const sent = first.child.kill('SIGKILL');
        console.log(`SIGKILL sent to worker ${first.child.pid} after "${killedTitle}": ${sent}`);
      }
    };
    await importSnapshot({
      db: stack.db,
      input: roster,
      events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
    });

    await until('the worker is killed mid-run', () => killedTitle !== undefined, 120_000);
    await first.kill();
    // No worker answers queries now; the store says no run was recorded yet.
    assert.equal(
      await createSyncStore(stack.db).latestRun(schoolId),
      null,
      'the first run had finished',
    );
    const atKill = {
      chats: emulatorChats(stack.emulator, communityId).length,
      writes: writes.total(),
    };
    const recorded = (await createSyncStore(stack.db).listChats(schoolId)).filter(
      (c) => c.chatId !== null,
    );
    assert.ok(atKill.chats > 0, 'nothing was created before the kill');
    const lost = (await createSyncStore(stack.db).listChats(schoolId)).find(
      (c) => c.title === killedTitle,
    );
    assert.ok(
      lost?.createIntentAt && lost.chatId === null,
      'the killed createChat left an intent without an ID',
    );
    assert.ok(
      (await planVsEmulator(stack, schoolId, communityId)).length > 0,
      'the first run was already complete when the worker was killed',
    );

    // The sync packs a school into a handful of requests, too few for the random rates alone to
    // be sure to strike: the first `execute` of the resumed run loses its reply after the action.
    // One scripted fault is enough; each costs the run a retry, and retries back off.
    let struck = false;
    void stack.emulator.strikeNext('dropAfter', 'execute').then(() => (struck = true));
    workers.push(await spawnWorker(stack, bundlePath));

    // The interrupted run finishes on the new worker; under faults a run may leave some operations
    // for the next one, so ask for more runs (at most three) until the emulator equals the plan.
    let s = await runFinished(stack, schoolId, { runCountAtLeast: 1 }, 300_000);
    let runs = 1;
    for (;;) {
      const problems = await planVsEmulator(stack, schoolId, communityId);
      if (problems.length === 0) break;
      assert.ok(
        runs < 4,
        `not converged after ${runs} runs:\n  ${problems.slice(0, 15).join('\n  ')}`,
      );
      const { runId } = await stack.gateway.syncNow({ schoolId, requestedBy: 'fault-test' });
      s = await runFinished(stack, schoolId, { runId }, 300_000);
      runs += 1;
    }

    const chats = emulatorChats(stack.emulator, communityId);
    assert.deepEqual(duplicateTitles(chats), [], 'a chat was created twice');
    assert.deepEqual(
      duplicateTitles(
        createdTitles.map((title) => ({ chatId: 0, title, members: [], admins: [] })),
      ),
      [],
      'createChat was applied twice for one title',
    );
    const adopted = (await createSyncStore(stack.db).listChats(schoolId)).find(
      (c) => c.title === killedTitle,
    );
    assert.equal(
      adopted?.chatId,
      chats.find((c) => c.title === killedTitle)?.chatId,
      'the lost chat was adopted',
    );
    const managed = await createSyncStore(stack.db).listChats(schoolId);
    assert.equal(chats.length, managed.filter((c) => c.chatId !== null && !c.retired).length);
    assert.equal(
      new Set(managed.map((c) => c.chatId)).size,
      managed.length,
      'two records share a chat',
    );
    // The run summaries account for every chat once, created or adopted, however many attempts it took.
    const runDocs = await stack.db
      .collection<{ schoolId: string; chatsCreated: number; chatsAdopted: number }>('sync_runs')
      .find({ schoolId })
      .toArray();
    const accounted = runDocs.reduce((n, r) => n + r.chatsCreated + r.chatsAdopted, 0);
    assert.equal(
      accounted,
      chats.length,
      `runs report ${accounted} chats created or adopted, not ${chats.length}`,
    );
    assert.ok(
      runDocs.some((r) => r.chatsAdopted > 0),
      'the chat lost with the killed worker is reported adopted',
    );
    const injected = stack.emulator.stats.errors;
    assert.ok(struck, 'the scripted fault never struck');
    console.log(
      `faults: killed after createChat "${killedTitle}": ${atKill.chats} chats (${recorded.length} recorded, ${atKill.writes} writes); ` +
        `converged in ${runs} run(s); last run ${JSON.stringify(s.lastRun)}; emulator errors ${JSON.stringify(injected)}`,
    );
  } catch (error) {
    // What the workers said and where the workflow stands, to see why it did not converge.
    for (const [i, w] of workers.entries()) {
      console.error(`worker ${i} stderr (tail):\n${w.stderr.join('').slice(-4000)}`);
    }
    const status = await stack.gateway.syncStatus('sync-faults').catch((e: unknown) => String(e));
    console.error(`status: ${JSON.stringify(status)}`);
    throw error;
  } finally {
    writes.onApplied = null;
    for (const w of workers) await w.stop();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
