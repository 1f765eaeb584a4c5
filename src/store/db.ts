import { MongoClient, type Db } from 'mongodb';

import { ensureRosterChangeIndexes } from './roster-changes';
import { ensureRosterIndexes } from './roster-store';
import { ensureStudyProfileIndexes } from './study-profiles';
import { createSyncStore } from './sync-store';
import { createCallbackEventLog } from './callback-events';
import { createCallStore } from './call-store';
import { createDiaryOutbox } from './diary-outbox';
import { createHistoryArchive } from './history-archive';

/**
 * One MongoDB connection per process. The server may be MongoDB or FerretDB, so nothing here
 * relies on transactions, change streams or $lookup.
 */
export async function connectMongo(
  uri: string,
  dbName: string,
): Promise<{ client: MongoClient; db: Db }> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  return { client, db: client.db(dbName) };
}

/** Creates every collection family's indexes; idempotent, run at start-up. */
export async function ensureIndexes(db: Db): Promise<void> {
  await ensureRosterIndexes(db);
  await ensureRosterChangeIndexes(db);
  await ensureStudyProfileIndexes(db);
  await createSyncStore(db).ensureIndexes();
  await createCallStore(db).ensureIndexes();
  await createDiaryOutbox(db).ensureIndexes();
  await createHistoryArchive(db).ensureIndexes();
  await createCallbackEventLog(db).ensureIndexes();
}
