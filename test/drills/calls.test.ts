import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { workflowIds } from '../../src/contracts/ids';
import type { EmulatorFaults } from '../../src/emulator/vk';
import { createCallStore } from '../../src/store/call-store';
import { useServices, type TestServices } from '../support/services';
import {
  awaitAnnounced,
  checkedLine,
  endAndAudit,
  causesOf,
  incidentSummary,
  MINUTE,
  removeWorkflowBundleFile,
  setUpDrill,
  sleepUntil,
  type CallDrill,
} from './calls-support';
import { until } from '../support/until';
import { drillScale, startDrillServices, type DrillServices } from './services';

/**
 * Journal-call fault drills (issue 9). Each drill runs a school whose journals all have a
 * published online lesson due at one whole minute, breaks something while the calls are due, and
 * then checks three things: no journal ever showed two announced calls (sampled every 20 ms while
 * the drill ran), every due lesson got its call (late is allowed) and it was ended, and the audit
 * run over the drill's histories shows the outage with its reason. The drills run side by side,
 * each on its own stack; those that stop MongoDB or the Temporal server have servers of their own.
 * CI runs them with a few journals each; `npm run drills` with more.
 */

// The drills' in-process workers would log every faulted attempt; the checks say what happened.
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: {
    logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
  },
});

const services = useServices();
const JOURNALS = drillScale() === 'full' ? 12 : 3;
/** From choosing the due minute to the due minute: import, chats, plans, and a stop before it. */
const LEAD_MS = 50_000;
/** However slow the recovery, every call has started within this of its due time. */
const RECOVERY_MS = 5 * MINUTE;

after(() => removeWorkflowBundleFile());

/**
 * Starting a server again when it failed to come up. The dev server picks random free ports for
 * its internal services, and on a machine where other test runs start servers at the same moment
 * one of them may be taken between the pick and the bind; the next try picks again.
 */
async function withRetries<T>(t: TestContext, what: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= 3) throw error;
      t.diagnostic(`${what} failed to come up (${String(error)}); trying again`);
    }
  }
}

/** A MongoDB-compatible server and a Temporal dev server of the drill's own, to stop and restart. */
async function ownServices(t: TestContext): Promise<{ own: DrillServices; on: TestServices }> {
  const own = await withRetries(t, 'the drill services', () => startDrillServices());
  return {
    own,
    on: { mongoUri: own.mongoUri, temporalAddress: own.temporalAddress, temporalUiUrl: undefined },
  };
}

/**
 * Journals whose start is recorded `starting`. An armed start is recorded so before it waits for
 * its due time; past that time, with the emulator holding requests, its request is in flight.
 */
async function startsInFlight(drill: CallDrill): Promise<string[]> {
  const calls = createCallStore(drill.stack.db);
  const inFlight: string[] = [];
  for (const j of drill.school.journals) {
    const docs = await calls.listCalls({ schoolId: drill.school.schoolId, journalId: j.journalId });
    if (docs.some((d) => d.status === 'starting')) inFlight.push(j.journalId);
  }
  return inFlight;
}

/** Holds every platform request for `holdMs` from just before the due time; waits for the starts to be in flight. */
async function holdStartsInFlight(drill: CallDrill, holdMs: number): Promise<string[]> {
  await sleepUntil(drill.school.dueAt - 3_000);
  drill.stack.emulator.setFaults({ latencyMs: holdMs });
  const all = drill.school.journals.length;
  return until(
    'the starts to be in flight',
    async () => {
      if (Date.now() < drill.school.dueAt) return false;
      const inFlight = await startsInFlight(drill);
      const received = drill.stack.emulator.stats.byMethod['calls.start'] ?? 0;
      // All at once, or as many as a slow machine managed within a few seconds of the due time.
      const enough =
        (inFlight.length === all && received >= all) ||
        (inFlight.length > 0 && received > 0 && Date.now() > drill.school.dueAt + 6_000);
      return enough ? inFlight : false;
    },
    { deadlineAt: drill.school.dueAt + 60_000, intervalMs: 50 },
  );
}

const seconds = (ms: number): number => Math.round(ms / 1000);

interface VkFaultDrill {
  readonly name: string;
  /** What the audit's start incidents must name. */
  readonly reason: RegExp;
  /** Switches the fault on just before the due time, and steps it down as the drill goes. */
  readonly script: (drill: CallDrill) => { step(): void; off(): void; log: string[] };
}

/**
 * A fault at full strength until it has struck each journal's first attempt (or, for a dropped
 * answer, once), then at `rest` until every call is announced: every start meets it at least once
 * and still has attempts left to get through.
 */
function strikeThenRest(
  what: string,
  full: Partial<EmulatorFaults>,
  rest: Partial<EmulatorFaults>,
  struck: (drill: CallDrill) => boolean,
): VkFaultDrill['script'] {
  return (drill) => {
    const log: string[] = [];
    let phase = 0;
    const set = (faults: Partial<EmulatorFaults>, text: string): void => {
      drill.stack.emulator.setFaults(faults);
      log.push(`${seconds(Date.now() - drill.school.dueAt)} s: ${text}`);
    };
    return {
      log,
      step() {
        if (phase === 0) {
          phase = 1;
          set(full, `${what} on every request`);
        } else if (phase === 1 && struck(drill)) {
          phase = 2;
          set(rest, `${what} on some requests`);
        }
      },
      off() {
        set(
          { errorRate10: 0, http502Rate: 0, dropAfterRate: 0, rateLimitPerSecond: null },
          'faults off',
        );
      },
    };
  };
}

const callStarts = (drill: CallDrill): number =>
  (drill.stack.emulator.stats.byMethod['calls.start'] ?? 0) - drill.startsBeforeDue();

const VK_FAULTS: readonly VkFaultDrill[] = [
  {
    name: 'error 6 (too many requests per second: the platform allows one a second)',
    reason: /error 6/,
    script: (drill) => {
      const log: string[] = [];
      return {
        log,
        step() {
          if (log.length > 0) return;
          drill.stack.emulator.setFaults({ rateLimitPerSecond: 1 });
          log.push('rate limit 1/s');
        },
        off() {
          drill.stack.emulator.setFaults({ rateLimitPerSecond: null });
          log.push('rate limit off');
        },
      };
    },
  },
  {
    name: 'error 9 (flood control: as many write actions a minute as there are journals)',
    reason: /error 9/,
    script: (drill) => {
      const log: string[] = [];
      return {
        log,
        step() {
          if (log.length > 0) return;
          drill.stack.emulator.setOptions({ floodActionsPerMinute: drill.school.journals.length });
          log.push(`flood control at ${drill.school.journals.length} actions/min`);
        },
        off() {
          drill.stack.emulator.setOptions({ floodActionsPerMinute: 0 });
          log.push('flood control off');
        },
      };
    },
  },
  {
    name: 'error 10 (internal server error)',
    reason: /error 10/,
    script: strikeThenRest(
      'error 10',
      { errorRate10: 1 },
      { errorRate10: 0.3 },
      (d) => (d.stack.emulator.stats.errors['10'] ?? 0) >= d.school.journals.length,
    ),
  },
  {
    name: 'HTTP 502 from the front end',
    reason: /HTTP 502/,
    script: strikeThenRest(
      'HTTP 502',
      { http502Rate: 1 },
      { http502Rate: 0.3 },
      (d) => callStarts(d) >= d.school.journals.length,
    ),
  },
  {
    name: 'connection dropped after the action applied (answer lost)',
    reason: /closed|socket|ECONNRESET|terminated/i,
    script: strikeThenRest(
      'answer dropped after the action',
      { dropAfterRate: 1 },
      { dropAfterRate: 0.3 },
      // The platform applies the start and decides to drop its answer in one go.
      (d) => d.stack.emulator.state.calls.length >= 1,
    ),
  },
];

describe('journal-call fault drills', { concurrency: true }, () => {
  void test('V2, V3 — worker SIGKILLed while several starts are in flight: after a restart every call starts once, late by the activity timeout, and the audit shows each start retried after the lost attempt', async (t) => {
    const drill = await setUpDrill(t, {
      name: 'kill',
      on: services(),
      journals: JOURNALS,
      leadMs: LEAD_MS,
      workerProcess: true,
    });
    const inFlight = await holdStartsInFlight(drill, 8_000);
    const answeredBeforeKill = drill.stack.emulator.state.calls.length;
    await drill.worker.kill();
    const killedAt = Date.now();
    drill.stack.emulator.setFaults({ latencyMs: 0 });
    await drill.worker.start();
    t.diagnostic(
      `killed ${seconds(killedAt - drill.school.dueAt)} s after the due time with ${inFlight.length} starts in flight; a new worker polled ${seconds(Date.now() - killedAt)} s later`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    const outcome = await endAndAudit(t, drill, announced);
    const known = new Set(announced.map((a) => a.callId));
    const orphanTimes = drill.stack.emulator.state.calls
      .filter((c) => !known.has(c.callId))
      .map((c) => `${c.startedAt - killedAt} ms`);
    t.diagnostic(
      `platform calls started before the kill: ${answeredBeforeKill}; orphans started at ${orphanTimes.join(', ') || 'none'} from the kill`,
    );
    assert.ok(
      outcome.orphans <= inFlight.length,
      'only a start cut off by the kill can leave a call nobody knows (VK may carry out a request whose client died)',
    );
    for (const journalId of inFlight) {
      const retried = causesOf(outcome.report, journalId).find(
        (i) => i.kind === 'activityRetried' && i.subject === 'openCall',
      );
      assert.ok(retried, `${journalId}: its audit row names the start retried after the kill`);
      // An armed start heartbeats: the lost attempt times out on its heartbeat, not start-to-close.
      assert.match(retried.reason, /HEARTBEAT|START_TO_CLOSE/);
    }
    t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
  });

  void test('V2 — Temporal dev server stopped while the journals sleep and restarted on its database: the calls start once it is back, and the audit shows each start late with the timer that fired late as its cause', async (t) => {
    const { own, on } = await ownServices(t);
    const drill = await setUpDrill(t, {
      name: 'temporal',
      on,
      journals: JOURNALS,
      leadMs: LEAD_MS + 40_000,
      workerProcess: true,
      cleanup: () => own.stop(),
    });
    // Before any start is armed (at most 45 s ahead): every journal is asleep on its timer.
    await sleepUntil(drill.school.dueAt - 55_000);
    const stoppedAt = Date.now();
    assert.ok(
      stoppedAt < drill.school.dueAt - 45_000,
      'the server stops before any start is armed',
    );
    await own.stopTemporal();
    // Back more than a minute after the due time: late enough for the audit's row to say so.
    await sleepUntil(drill.school.dueAt + 65_000);
    await withRetries(t, 'the Temporal dev server', () => own.startTemporal());
    const upAt = Date.now();
    t.diagnostic(
      `server down from ${seconds(stoppedAt - drill.school.dueAt)} s to ${seconds(upAt - drill.school.dueAt)} s around the due time`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    for (const a of announced) {
      assert.ok(
        a.startedAt >= upAt - 1_000,
        `${a.journalId}: no call started while the server was down`,
      );
    }
    const outcome = await endAndAudit(t, drill, announced);
    assert.equal(outcome.orphans, 0);
    for (const row of outcome.report.rows) {
      assert.ok(
        (row.started?.lateMs ?? 0) >= upAt - drill.school.dueAt - 5_000,
        `${row.lessonId}: the audit shows the start as late as the outage made it`,
      );
    }
    for (const j of drill.school.journals) {
      const late = causesOf(outcome.report, j.journalId).find(
        (i) => i.kind === 'timerLate' && i.subject.includes(`start call for lesson ${j.lessonId}`),
      );
      assert.ok(late, `${j.journalId}: its audit row names the start timer that fired late`);
      assert.ok(
        late.delayMs >= upAt - drill.school.dueAt - 5_000,
        `${j.journalId}: late by the time the server was still down (${late.delayMs} ms)`,
      );
    }
    t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
  });

  void test('V2, V3 — Temporal dev server stopped while the starts are armed and back after their due time: each call is started, announced and ended once, never before its due time', async (t) => {
    const { own, on } = await ownServices(t);
    const drill = await setUpDrill(t, {
      name: 'armed',
      on,
      journals: JOURNALS,
      leadMs: LEAD_MS,
      workerProcess: true,
      cleanup: () => own.stop(),
    });
    const all = drill.school.journals.length;
    const armed = await until(
      'every start to be armed',
      async () => {
        const waiting = await startsInFlight(drill);
        return waiting.length === all ? waiting : false;
      },
      { deadlineAt: drill.school.dueAt },
    );
    assert.equal(
      drill.stack.emulator.state.calls.length,
      0,
      'armed starts wait for their due time',
    );
    await own.stopTemporal();
    const stoppedAt = Date.now();
    await sleepUntil(drill.school.dueAt + 20_000);
    await withRetries(t, 'the Temporal dev server', () => own.startTemporal());
    const upAt = Date.now();
    t.diagnostic(
      `${armed.length} starts armed; server down from ${seconds(stoppedAt - drill.school.dueAt)} s to ${seconds(upAt - drill.school.dueAt)} s around the due time`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    // An armed start waits in the worker and needs no server at its due time, so it usually
    // starts on time; when the SDK gives the attempt up first (its heartbeats go unanswered),
    // the retry starts the call once the server is back. Either way: once, and never early.
    const onTime = announced.filter((a) => a.startedAt < upAt).length;
    const outcome = await endAndAudit(t, drill, announced);
    assert.equal(outcome.orphans, 0);
    assert.equal(outcome.platformCalls, all, 'one platform call per journal');
    t.diagnostic(`${onTime} of ${all} calls reached the platform while the server was down`);
    t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
  });

  void test('V2, V3 — MongoDB-compatible server stopped for 30 s as the starts are in flight: every call starts once it is back, no call is left running unrecorded, and the audit shows the starts retried with the MongoDB error', async (t) => {
    const { own, on } = await ownServices(t);
    const drill = await setUpDrill(t, {
      name: 'mongo',
      on,
      journals: JOURNALS,
      leadMs: LEAD_MS,
      workerProcess: true,
      cleanup: () => own.stop(),
    });
    // Held long enough for the server to be gone before the platform answers the starts.
    const inFlight = await holdStartsInFlight(drill, 8_000);
    await own.stopMongo();
    const stoppedAt = Date.now();
    drill.stack.emulator.setFaults({ latencyMs: 0 });
    await sleepUntil(stoppedAt + 30_000);
    await withRetries(t, 'the MongoDB-compatible server', () => own.startMongo());
    t.diagnostic(
      `MongoDB down from ${seconds(stoppedAt - drill.school.dueAt)} s to ${seconds(Date.now() - drill.school.dueAt)} s after the due time, with ${inFlight.length} starts in flight`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    const outcome = await endAndAudit(t, drill, announced);
    assert.equal(outcome.orphans, 0, 'no platform call is left running that nobody recorded');
    assert.equal(
      outcome.platformCalls,
      drill.school.journals.length,
      'a start retried through the outage reuses the platform call it could not record',
    );
    for (const journalId of inFlight) {
      const start = causesOf(outcome.report, journalId).find(
        (i) =>
          i.subject === 'openCall' && (i.kind === 'activityRetried' || i.kind === 'activityFailed'),
      );
      assert.ok(start, `${journalId}: its audit row names the start retried through the outage`);
      assert.match(start.reason, /Mongo/);
    }
    t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
  });

  for (const fault of VK_FAULTS) {
    void test(`V3, V4 — VK ${fault.name} during the starts: every call starts once, its link posted once, and the audit names the error`, async (t) => {
      const drill = await setUpDrill(t, {
        name: 'vk',
        on: services(),
        journals: JOURNALS,
        leadMs: LEAD_MS,
        workerProcess: false,
      });
      const script = fault.script(drill);
      await sleepUntil(drill.school.dueAt - 5_000);
      script.step();
      const stepper = setInterval(() => script.step(), 5);
      let announced;
      try {
        announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
      } finally {
        clearInterval(stepper);
        script.off();
      }
      t.diagnostic(`faults: ${script.log.join('; ')}`);
      const outcome = await endAndAudit(t, drill, announced);
      const starts = outcome.report.incidents.filter((i) => i.subject === 'openCall');
      assert.ok(starts.length > 0, 'the audit shows the starts the fault struck');
      for (const i of starts) assert.match(i.reason, fault.reason, `${i.workflowId}: ${i.reason}`);
      for (const j of drill.school.journals) {
        const own = starts.filter(
          (i) =>
            i.workflowId ===
            workflowIds.journalCalls({ schoolId: drill.school.schoolId, journalId: j.journalId }),
        );
        assert.deepEqual(
          causesOf(outcome.report, j.journalId).filter((i) => i.subject === 'openCall'),
          own,
          `${j.journalId}: its audit row names what held its start up`,
        );
      }
      t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
    });
  }
});
