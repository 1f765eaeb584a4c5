import assert from 'node:assert/strict';
import { until } from '../support/until';
import { isDeepStrictEqual } from 'node:util';
import { test, type TestContext } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCallActivities } from '../../activities/calls';
import type { CallActivities } from '../../src/contracts/call-activities';
import { createDiaryRecorder } from '../../activities/diary';
import { createDiaryOutbox } from '../../src/store/diary-outbox';
import { createCallStore } from '../../src/store/call-store';
import { createRosterStore } from '../../src/store/roster-store';
import { createSyncStore } from '../../src/store/sync-store';
import { seedDemoJournal } from '../support/demo-school';
import { useServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/**
 * The call activities over MongoDB and the emulator, driven directly: an armed automatic start
 * (`notBefore`) and the memory its attempts share through heartbeats.
 */

const services = useServices();

interface Journal {
  readonly stack: Stack;
  readonly schoolId: string;
  readonly journalId: string;
  readonly lessonId: string;
  readonly callKey: string;
}

async function demoJournal(t: TestContext): Promise<Journal> {
  const stack = await startStack({ services: services() });
  t.after(() => stack.stop());
  const { schoolId, journalId, lessonId } = await seedDemoJournal(stack, 'acts');
  return { stack, schoolId, journalId, lessonId, callKey: `${journalId}:${lessonId}:1` };
}

function activities(j: Journal) {
  const { stack } = j;
  const roster = createRosterStore({ db: stack.db });
  const sync = createSyncStore(stack.db);
  return createCallActivities({
    logger: stack.logger,
    roster,
    calls: createCallStore(stack.db),
    sync,
    messengers: stack.messengers,
    diary: createDiaryRecorder({
      outbox: createDiaryOutbox(stack.db),
      calls: createCallStore(stack.db),
      gateway: stack.gateway,
    }),
  });
}

/** An activity context of the SDK's test kit: its heartbeats are events, and it can be cancelled. */
function activityEnv(heartbeatDetails?: unknown): {
  env: MockActivityEnvironment;
  beats: unknown[];
} {
  const env = new MockActivityEnvironment(
    heartbeatDetails === undefined ? {} : { heartbeatDetails },
  );
  const beats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => beats.push(details));
  return { env, beats };
}

type Started = Awaited<ReturnType<CallActivities['openCall']>>;

/** The journal's automatic start in `env`, armed for `notBefore`. */
function armedStart(env: MockActivityEnvironment, j: Journal, notBefore: number): Promise<Started> {
  const args = {
    schoolId: j.schoolId,
    journalId: j.journalId,
    lessonId: j.lessonId,
    callKey: j.callKey,
    actor: 'auto',
    notBefore,
  };
  const acts = activities(j);
  return env.run<[typeof args], Started, (a: typeof args) => Promise<Started>>(
    (a) => acts.openCall(a),
    args,
  );
}

const startsReceived = (stack: Stack): number => stack.emulator.stats.byMethod['calls.start'] ?? 0;

void test('V2: an armed start records itself, waits for its due time, then sends calls.start and beats the call it started', async (t) => {
  const j = await demoJournal(t);
  const { env, beats } = activityEnv();
  const notBefore = Date.now() + 1_500;
  const result = await armedStart(env, j, notBefore);
  const [call, ...others] = j.stack.emulator.state.calls;
  assert.deepEqual(others, []);
  assert.equal(call?.callId, result.callId);
  assert.ok(
    call !== undefined && call.startedAt >= notBefore,
    'calls.start is not sent before its due time',
  );
  assert.ok(
    beats.some((b) =>
      isDeepStrictEqual(b, {
        callKey: j.callKey,
        callId: result.callId,
        joinLink: result.joinLink,
      }),
    ),
    'the started call rides the heartbeat for a retry',
  );
});

void test('V3: an armed start cancelled while it waits ends cancelled and never reaches the platform', async (t) => {
  const j = await demoJournal(t);
  const { env } = activityEnv();
  const started = armedStart(env, j, Date.now() + 60_000);
  const calls = createCallStore(j.stack.db);
  await until(
    'the start to be recorded',
    async () => (await calls.getCall(j))?.status === 'starting',
    { timeoutMs: 20_000, intervalMs: 25 },
  );
  assert.equal(startsReceived(j.stack), 0, 'nothing reaches the platform before the due time');
  env.cancel();
  await assert.rejects(started, CancelledFailure);
  assert.equal(startsReceived(j.stack), 0);
});

void test('V3: an armed retry beats the platform call an earlier attempt started and reuses it, never a second calls.start', async (t) => {
  const j = await demoJournal(t);
  const { messenger } = await j.stack.messengers.forSchool(j.schoolId);
  const earlier = await messenger.callsStart();
  const memory = { callKey: j.callKey, callId: earlier.callId, joinLink: earlier.joinLink };
  const { env, beats } = activityEnv(memory);
  const result = await armedStart(env, j, Date.now() - 1_000);
  assert.deepEqual(beats[0], memory, 'the first beat repeats what the earlier attempt left');
  assert.equal(startsReceived(j.stack), 1, 'only the earlier attempt’s calls.start');
  assert.equal(result.callId, earlier.callId);
  assert.equal(
    (await createCallStore(j.stack.db).getCall(j))?.startedBy,
    'auto',
    'the call is recorded as started by the attempt’s actor',
  );
});
