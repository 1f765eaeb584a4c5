import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import { issueTeacherToken } from '../../src/store/auth-store';
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
  const app = await buildApi({
    db,
    gateway: fakeGateway(),
    settings: createSettingsStore({ db, box }),
    logger: pino({ level: 'warn' }),
    secretsBox: box,
    clock: () => NOW,
    readiness: { temporal: () => Promise.resolve(true) },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const teacherToken = (await issueTeacherToken({ db, schoolId: SCHOOL_ID, staffId: 't-1' })).secret;
  return {
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
