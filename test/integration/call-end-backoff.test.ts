import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workflowIds } from '../../src/contracts/ids';
import { seedDemoJournal, until } from '../support/demo-school';
import { useServices } from '../support/services';
import { startStack } from '../support/stack';

/**
 * V5 against the emulator: the platform refuses `calls.forceFinish` at the automatic end. A
 * refusal inside the activity's own retries is transient and the call ends on time; one that
 * outlasts them backs off with the reason in the state, and the end goes through once the
 * platform answers again.
 */

const services = useServices();

const MINUTE = 60_000;
/** The demo lesson is 45 minutes long and starts 22 minutes after the roster's "now". */
const LESSON_LEAD = 22 * MINUTE;
const LESSON_LENGTH = 45 * MINUTE;
/**
 * The automatic end (lesson end + 20 min) falls at most this long after the test starts the
 * call; the grid's wall times are whole minutes, so up to a minute sooner.
 */
const AUTO_END_IN = 75_000;

void test('V5: forceFinish refused at the automatic end: a transient refusal still ends the call; a lasting one backs off with the reason in the state, and the end goes through when the platform is back', async (t) => {
  const stack = await startStack({ services: services() });
  const rosterNow = Date.now() - LESSON_LEAD - LESSON_LENGTH - 20 * MINUTE + AUTO_END_IN;
  const school = await seedDemoJournal(stack, 'endbackoff', { rosterNow });
  let refusing = true;
  t.after(async () => {
    refusing = false;
    await stack.client.workflow
      .getHandle(workflowIds.journalCalls(school))
      .terminate('test over')
      .catch(() => undefined);
    await stack.stop();
  });
  await stack.startWorker();

  // Its automatic start window is long past (V2): the teacher starts it by hand.
  const started = await stack.gateway.startCall({
    schoolId: school.schoolId,
    journalId: school.journalId,
    lessonId: school.lessonId,
    requestedBy: school.teacherId,
  });
  assert.ok(started.accepted, JSON.stringify(started));
  const running = await stack.gateway.callState(school);
  assert.ok(running?.running?.autoEndAt, 'the call has its automatic end');

  // Every forceFinish is refused with error 10 until the platform is back.
  let refusals = 0;
  const refuse = async (): Promise<void> => {
    while (refusing) {
      await stack.emulator.strikeNext('error10', 'calls.forceFinish');
      refusals += 1;
    }
  };
  void refuse();

  const failing = await until(
    'the failed end in the state',
    async () => (await stack.gateway.callState(school))?.endFailure,
    AUTO_END_IN + 90_000,
  );
  assert.match(failing.error, /error 10/);
  assert.equal(failing.failures, 1);
  assert.equal(failing.gaveUp, false);
  assert.ok(failing.retryAt !== null && failing.retryAt > Date.now(), 'the next try is later');
  assert.ok(refusals >= 2, 'the activity retried before the workflow backed off');
  const refusedSoFar = refusals;
  const beforeBackoff = await stack.gateway.callState(school);
  assert.ok(beforeBackoff?.running, 'the call still runs while its end backs off');

  // The platform answers again: the next try, a minute on, ends the call.
  // The strike already waiting refuses one more forceFinish: transient, inside the activity's
  // own retries, so that try still ends the call.
  refusing = false;
  const ended = await until(
    'the call ended after the back-off',
    async () => {
      const s = await stack.gateway.callState(school);
      return s && s.running === null ? s : null;
    },
    2 * MINUTE,
  );
  assert.equal(ended.endFailure, null, 'the failure notice is gone once the call ended');
  assert.ok(refusals <= refusedSoFar + 1, 'no retry loop spun while backing off');
  const call = stack.emulator.state.calls.find((c) => c.joinLink === started.joinLink);
  assert.equal(call?.status, 'finished');
});
