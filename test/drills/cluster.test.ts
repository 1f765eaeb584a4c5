import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatKeys } from '../../src/domain/chat-plan';
import { importSnapshot } from '../../src/store/roster-import';
import { issueTeacherToken } from '../../src/store/auth-store';
import { createSyncStore } from '../../src/store/sync-store';
import {
  awaitAnnounced,
  callDocs,
  drillSchool,
  endAndAudit,
  checkedLine,
  incidentSummary,
  MINUTE,
  removeWorkflowBundleFile,
  sleepUntil,
} from './calls-support';
import { until } from '../support/until';
import { DEPLOYMENT_NAME, makeCurrent } from '../../src/dev/cluster';
import { workflowIds } from '../../src/contracts/ids';
import {
  BUILD_A,
  fetchHistories,
  press,
  type PressOutcome,
  replayFailures,
  writeBuild2Bundle,
  setUpClusterDrill,
  startClusterDrillEnv,
  startDelays,
  type ClusterDrillEnv,
} from './cluster-support';
import { drillScale } from './services';

/**
 * Failover drills on the production topology (`npm run cluster`'s src/dev/cluster.ts): Temporal
 * 1.32.1 on PostgreSQL, FerretDB on PostgreSQL, two worker processes. Reduced in CI; full size
 * with `npm run drills` (SFERUM_DRILL_SCALE=full). The start delays are reported, not asserted:
 * timing figures belong to the benchmarks; what the drills assert is that every call starts once.
 */

const FULL = drillScale() === 'full';
/** Calls due at the bell when one of two workers is SIGKILLed 10 s before it. */
const BELL_CALLS = FULL ? 500 : 48;
/** Calls due while the Temporal server and PostgreSQL restart, and the journals of a new school whose sync is then in flight. */
const RESTART_CALLS = FULL ? 120 : 18;
const SYNC_JOURNALS = FULL ? 120 : 18;
/** Journals whose teachers press start while an API process is killed. */
const PRESS_JOURNALS = FULL ? 120 : 24;
/** Journals asleep while build 2 is rolled out. */
const UPGRADE_CALLS = FULL ? 1_000 : 24;
const BUILD_B = 'drill-build-b';
const RECOVERY_MS = 5 * MINUTE;
/** The platform bound a call's start is reported against. */
const START_BOUND_MS = 5_000;

let env: ClusterDrillEnv | undefined;
const cluster = (): ClusterDrillEnv => {
  if (!env) throw new Error('the cluster did not start');
  return env;
};

before(async () => {
  env = await startClusterDrillEnv({ apis: 2 });
});
after(async () => {
  await env?.stop();
  await removeWorkflowBundleFile();
});

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

describe('fault drills on the cluster (Temporal on PostgreSQL, two workers)', () => {
  void test(`V2, V3 — one of two workers SIGKILLed 10 s before a bell of ${BELL_CALLS} calls: every call starts once, on the surviving worker, and the audit names the lost attempts`, async (t) => {
    const drill = await setUpClusterDrill(t, cluster(), {
      name: 'bell-kill',
      journals: BELL_CALLS,
      // Import, chats and plans for up to 500 journals, then 10 s to spare before the bell.
      leadMs: FULL ? 4 * MINUTE : 75_000,
      communityId: 7201,
    });
    await sleepUntil(drill.school.dueAt - 10_000);
    await drill.worker.kill();
    const killedAt = Date.now();
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    // Back to two workers for the next drill; the calls were made by the survivor alone.
    await drill.worker.start();
    const outcome = await endAndAudit(t, drill, announced);
    const d = startDelays(drill, announced);
    t.diagnostic(
      `killed worker-1 ${seconds(drill.school.dueAt - killedAt)} s before the bell; start delay ` +
        `p50 ${seconds(d.p50)} s, p99 ${seconds(d.p99)} s (${(d.p99 / START_BOUND_MS).toFixed(2)}× ` +
        `the ${seconds(START_BOUND_MS)} s bound), max ${seconds(d.max)} s`,
    );
    assert.equal(announced.length, BELL_CALLS, 'every due call started and was announced');
    assert.equal(outcome.orphans, 0, 'no call the platform started was left unrecorded');
    t.diagnostic(checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)));
  });

  void test(`V2, C2 — the Temporal server stopped, FerretDB SIGKILLed and PostgreSQL restarted under them while a school sync and a bell of ${RESTART_CALLS} calls are in flight: the final state equals the plan, no chat made twice, no call started twice`, async (t) => {
    const { cluster: c, stack } = cluster();
    const drill = await setUpClusterDrill(t, cluster(), {
      name: 'restart',
      journals: RESTART_CALLS,
      leadMs: FULL ? 3 * MINUTE : 60_000,
      communityId: 7202,
    });
    // A second school, imported just before the outage: its sync is making chats when the
    // Temporal server stops.
    const token = 'drill-token-sync-school';
    stack.emulator.addCommunity(7203, token);
    const later = drillSchool({
      name: 'sync',
      journals: SYNC_JOURNALS,
      dueAt: drill.school.dueAt + 60 * MINUTE,
    });
    await stack.settings.save({
      schoolId: later.schoolId,
      input: { communityId: 7203, token, period: '30', enabled: true },
    });
    await sleepUntil(drill.school.dueAt - 8_000);
    await importSnapshot({
      db: stack.db,
      input: later.roster,
      events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
    });
    const chatsBefore = stack.emulator.snapshot().chats.filter((ch) => ch.communityId === 7203);
    const outageAt = Date.now();
    await c.stopTemporal();
    await c.ferret.kill();
    await c.postgres.stop();
    await c.postgres.start();
    await c.ferret.start();
    await c.startTemporal();
    const backAt = Date.now();
    t.diagnostic(
      `outage from ${seconds(drill.school.dueAt - outageAt)} s before the bell for ` +
        `${seconds(backAt - outageAt)} s (Temporal stopped, FerretDB killed, PostgreSQL restarted, FerretDB and Temporal started); ` +
        `${chatsBefore.length} of the new school's chats existed when it began`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    const sync = createSyncStore(stack.db);
    await until(
      'the new school sync to make every subject chat',
      async () => {
        for (const j of later.journals) {
          if (!(await sync.getChat(later.schoolId, chatKeys.subject(j.journalId)))?.chatId)
            return false;
        }
        return true;
      },
      { deadlineAt: Date.now() + RECOVERY_MS },
    );
    const titles = new Map<string, number>();
    for (const ch of stack.emulator.snapshot().chats) {
      const key = `${ch.communityId}/${ch.title}`;
      titles.set(key, (titles.get(key) ?? 0) + 1);
    }
    const doubled = [...titles].filter(([, n]) => n > 1).map(([k]) => k);
    assert.deepEqual(doubled, [], 'no chat made twice');
    const outcome = await endAndAudit(t, drill, announced);
    assert.equal(announced.length, RESTART_CALLS, 'every due call started and was announced');
    const d = startDelays(drill, announced);
    t.diagnostic(
      `start delay p50 ${seconds(d.p50)} s, p99 ${seconds(d.p99)} s, max ${seconds(d.max)} s; ` +
        checkedLine(drill, outcome, incidentSummary(outcome.report.incidents)),
    );
  });
  void test(`V2, V3 — one of two API processes SIGKILLed while teachers press the start buttons of ${PRESS_JOURNALS} journals: every press answered (retried on the other API when its connection died), no call started twice`, async (t) => {
    const { cluster: c, stack } = cluster();
    const drill = await setUpClusterDrill(t, cluster(), {
      name: 'presses',
      journals: PRESS_JOURNALS,
      // The automatic starts are due well after the presses: every start here is a press.
      leadMs: 10 * MINUTE,
      communityId: 7205,
    });
    const { secret: token } = await issueTeacherToken({
      db: stack.db,
      schoolId: drill.school.schoolId,
      staffId: drill.school.teacherId,
    });
    const apis = c.apis.flatMap((a) => (a.url ? [a.url] : []));
    // A bounded loop of presses: each teacher presses twice (an impatient second press), eight
    // presses in flight at a time, alternating between the API processes.
    const queue = drill.school.journals.flatMap((j, i) => [
      { j, first: i },
      { j, first: i + 1 },
    ]);
    const outcomes: PressOutcome[] = [];
    let sent = 0;
    const killAfter = Math.floor(queue.length / 3);
    let killedAt: number | undefined;
    const lane = async (): Promise<void> => {
      for (;;) {
        const next = queue.shift();
        if (!next) return;
        sent += 1;
        if (sent === killAfter) {
          killedAt = Date.now();
          void c.apis[0]?.process.kill();
        }
        outcomes.push(
          await press({
            apis,
            first: next.first,
            journalId: next.j.journalId,
            lessonId: next.j.lessonId,
            token,
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: 8 }, () => lane()));
    assert.ok(killedAt, 'an API process was killed during the presses');
    await c.startApi(0);
    assert.equal(outcomes.length, 2 * PRESS_JOURNALS, 'every press was answered');
    const docs = await callDocs(drill);
    const emu = stack.emulator.snapshot();
    for (const j of drill.school.journals) {
      const own = docs.get(j.journalId) ?? [];
      assert.equal(own.length, 1, `${j.journalId}: one call recorded`);
      const accepted = outcomes.filter((o) => o.journalId === j.journalId && o.status === 200);
      assert.ok(accepted.length >= 1, `${j.journalId}: a press started its call`);
    }
    assert.equal(emu.calls.length, PRESS_JOURNALS, 'one platform call per journal, none doubled');
    drill.watch.stop();
    assert.deepEqual(drill.watch.violations, [], 'never two announced calls in one journal (V3)');
    const retried = outcomes.filter((o) => o.attempts > 1).length;
    t.diagnostic(
      `checked: ${outcomes.length} presses on ${PRESS_JOURNALS} journals, api-1 SIGKILLed after ${killAfter}; ` +
        `${retried} presses retried on the other API, ${outcomes.filter((o) => o.status === 200).length} answered 200, ` +
        `${outcomes.filter((o) => o.status === 409).length} answered 409 (a call already running); ${emu.calls.length} platform calls`,
    );
  });

  void test(`V2, V3 — build 2 (a workflow change behind patched()) rolled out worker by worker while ${UPGRADE_CALLS} journals sleep: every call starts once, on build 2, and the histories of both builds replay on build 2's code`, async (t) => {
    const { cluster: c, stack } = cluster();
    const drill = await setUpClusterDrill(t, cluster(), {
      name: 'upgrade',
      journals: UPGRADE_CALLS,
      // Set-up, then three worker starts and two stops before the bell.
      leadMs: FULL ? 8 * MINUTE : 110_000,
      communityId: 7204,
    });
    const { schoolId } = drill.school;
    const ids = drill.school.journals.map((j) =>
      workflowIds.journalCalls({ schoolId, journalId: j.journalId }),
    );
    const build1Histories = await fetchHistories(stack.client, ids);
    const build2 = await writeBuild2Bundle(c);
    const next = { buildId: BUILD_B, workflowBundle: build2.path };
    const rolloutAt = Date.now();
    // The new build's first worker polls beside the old ones, then takes over; then each old
    // worker is stopped (SIGTERM: the SDK drains it) and comes back on build 2.
    await c.startWorker(2, next);
    await makeCurrent(c.temporalAddress, 'default', {
      deploymentName: DEPLOYMENT_NAME,
      buildId: BUILD_B,
    });
    for (const i of [0, 1]) {
      await c.workers[i]?.process.stop(15_000);
      await c.startWorker(i, next);
    }
    await c.workers[2]?.process.stop(15_000);
    const rolledOutAt = Date.now();
    t.diagnostic(
      `rolled out in ${seconds(rolledOutAt - rolloutAt)} s, ${seconds(drill.school.dueAt - rolledOutAt)} s before the bell`,
    );
    assert.ok(rolledOutAt < drill.school.dueAt, 'the rollout was done while the journals slept');

    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    assert.equal(announced.length, UPGRADE_CALLS, 'every due call started and was announced');
    const ended = await Promise.all(
      drill.school.journals.map((j) =>
        stack.gateway.endCall({
          schoolId,
          journalId: j.journalId,
          requestedBy: drill.school.teacherId,
        }),
      ),
    );
    assert.ok(
      ended.every((e) => e.accepted),
      'every call ended by its teacher',
    );
    drill.watch.stop();
    assert.deepEqual(drill.watch.violations, [], 'never two announced calls in one journal (V3)');
    const docs = await callDocs(drill);
    const emu = stack.emulator.snapshot();
    for (const a of announced) {
      await until(
        `${a.journalId}: its call recorded as ended`,
        async () => {
          const own = (await callDocs(drill)).get(a.journalId) ?? [];
          return own.length === 1 && own[0]?.status === 'ended' && own[0].callId === a.callId;
        },
        { deadlineAt: Date.now() + MINUTE },
      );
      assert.equal(
        emu.messages.filter((m) => m.text.includes(a.joinLink)).length,
        1,
        `${a.journalId}: its link posted once`,
      );
    }
    assert.equal(docs.size, UPGRADE_CALLS);
    assert.equal(emu.calls.length, UPGRADE_CALLS, 'one platform call per journal, none doubled');

    const build2Histories = await fetchHistories(stack.client, ids);
    for (const { workflowId, history } of build2Histories) {
      const events = history.events ?? [];
      const marker = events.some(
        (e) => e.markerRecordedEventAttributes?.markerName === 'core_patch',
      );
      const builds = new Set(
        events.flatMap((e) => {
          const id = e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId;
          return id ? [id] : [];
        }),
      );
      assert.ok(marker, `${workflowId}: build 2's change ran (its patch marker is recorded)`);
      assert.deepEqual(
        [...builds].sort(),
        [BUILD_A, BUILD_B].sort(),
        `${workflowId}: both builds ran it`,
      );
    }
    const failures = await replayFailures(build2.code, [...build1Histories, ...build2Histories]);
    assert.deepEqual(failures, [], "every history of both builds replays on build 2's code");
    t.diagnostic(
      `checked: ${UPGRADE_CALLS} journals slept through the rollout, ${announced.length} calls started once on build 2 and ended; ` +
        `${build1Histories.length + build2Histories.length} histories (build 1 before, both builds after) replayed on build 2`,
    );
  });
});
