import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import type { SyncStatus } from '../../src/contracts/school-sync';
import { issueAdminKey, issueTeacherToken } from '../../src/store/auth-store';
import { connectMongo, ensureIndexes } from '../../src/store/db';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox } from '../../src/store/secrets';
import { createSettingsStore } from '../../src/store/settings-store';
import { fakeGateway, mongoServer, NOW, rosterFixture, SCHOOL_ID } from '../api/support';

/** What the browser test needs from whatever stack serves the journal page. */
export interface E2eStack {
  readonly baseUrl: string;
  readonly journalId: string;
  /** A teacher token of the journal's assigned teacher. */
  readonly teacherToken: string;
  readonly schoolId: string;
  readonly adminKey: string;
  stop(): Promise<void>;
}

/**
 * The journal page over the real API and MongoDB, with the workflow gateway faked. This is the
 * one function to swap for the full stack (Temporal dev server, worker, emulator) when the
 * browser test should watch the real call lifecycle.
 */
export async function startE2eStack(): Promise<E2eStack> {
  const mongo = mongoServer();
  await mongo.start();
  const dbName = `test_e2e_${randomBytes(5).toString('hex')}`;
  const { client, db } = await connectMongo(mongo.uri, dbName);
  await ensureIndexes(db);
  await importSnapshot({ db, input: rosterFixture(), events: { rosterChanged: () => Promise.resolve() } });
  const box = createSecretBox('cd'.repeat(32));
  const gateway = fakeGateway();
  // The school page has something to show: a finished run and a plan held by the removal guard.
  let held = true;
  gateway.syncStatus = (schoolId) => Promise.resolve(heldStatus(schoolId, held));
  gateway.approvePlan = ({ planId }) => {
    held = false;
    return Promise.resolve({ accepted: true, runId: `run-after-${planId}` });
  };
  const app = await buildApi({
    db,
    gateway,
    settings: createSettingsStore({ db, box }),
    logger: pino({ level: 'warn' }),
    secretsBox: box,
    clock: () => NOW,
    readiness: { temporal: () => Promise.resolve(true) },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const teacherToken = (await issueTeacherToken({ db, schoolId: SCHOOL_ID, staffId: 't-1' })).secret;
  const adminKey = (await issueAdminKey({ db, schoolId: SCHOOL_ID })).secret;
  return {
    schoolId: SCHOOL_ID,
    adminKey,
    baseUrl: `http://127.0.0.1:${port}`,
    journalId: 'j-1',
    teacherToken,
    async stop() {
      await app.close();
      await db.dropDatabase();
      await client.close();
      await mongo.stop();
    },
  };
}

function heldStatus(schoolId: string, held: boolean): SyncStatus {
  return {
    schoolId,
    period: '30',
    state: held ? 'held' : 'idle',
    currentRunId: null,
    lastRun: {
      runId: 'run-7',
      planId: 'plan-7',
      startedAt: new Date(NOW - 120_000).toISOString(),
      finishedAt: new Date(NOW - 60_000).toISOString(),
      chatsCreated: 4,
      chatsAdopted: 0,
      membersAdded: 12,
      membersRemoved: 0,
      adminsChanged: 2,
      skippedNoVkId: 3,
      unmanagedMembers: 0,
      errors: 0,
    },
    nextRunAt: new Date(NOW + 30 * 60_000).toISOString(),
    heldPlan: held
      ? { planId: 'plan-8', reason: 'massRemoval', removals: 9, managedMembers: 20, chatsRemoved: 0 }
      : null,
    lastError: null,
    blocked: null,
    pendingChanges: 0,
    runCount: 7,
  };
}
