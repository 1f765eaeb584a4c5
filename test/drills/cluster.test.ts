import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatKeys } from '../../src/domain/chat-plan';
import { importSnapshot } from '../../src/store/roster-import';
import { createSyncStore } from '../../src/store/sync-store';
import {
  awaitAnnounced,
  drillSchool,
  endAndAudit,
  checkedLine,
  incidentSummary,
  MINUTE,
  removeWorkflowBundleFile,
  sleepUntil,
  until,
} from './calls-support';
import {
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
const RECOVERY_MS = 5 * MINUTE;
/** The platform bound a call's start is reported against. */
const START_BOUND_MS = 5_000;

let env: ClusterDrillEnv | undefined;
const cluster = (): ClusterDrillEnv => {
  if (!env) throw new Error('the cluster did not start');
  return env;
};

before(async () => {
  env = await startClusterDrillEnv({ apis: 0 });
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

  void test(`V2, C2 — the Temporal server stopped and PostgreSQL restarted under it while a school sync and a bell of ${RESTART_CALLS} calls are in flight: the final state equals the plan, no chat made twice, no call started twice`, async (t) => {
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
    await c.postgres.stop();
    await c.postgres.start();
    await c.startTemporal();
    const backAt = Date.now();
    t.diagnostic(
      `outage from ${seconds(drill.school.dueAt - outageAt)} s before the bell for ` +
        `${seconds(backAt - outageAt)} s (Temporal stopped, PostgreSQL restarted, Temporal started); ` +
        `${chatsBefore.length} of the new school's chats existed when it began`,
    );
    const announced = await awaitAnnounced(drill, drill.school.dueAt + RECOVERY_MS);
    const sync = createSyncStore(stack.db);
    await until(
      'the new school sync to make every subject chat',
      Date.now() + RECOVERY_MS,
      async () => {
        for (const j of later.journals) {
          if (!(await sync.getChat(later.schoolId, chatKeys.subject(j.journalId)))?.chatId)
            return false;
        }
        return true;
      },
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
});
