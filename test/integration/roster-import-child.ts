import { connectMongo } from '../../src/store/db';
import { generateRoster } from '../../src/demo/roster-generator';
import { importSnapshot } from '../../src/store/roster-import';

/**
 * Run by roster-import.test.ts as a separate process: imports a large roster and, once
 * `PAUSE_AFTER` documents are written, reports it on stdout and stops moving, so the test can
 * kill it with SIGKILL in the middle of the write.
 */
async function main(): Promise<void> {
  const uri = process.env.MONGODB_URI;
  const dbName = process.env.TEST_DB_NAME;
  if (!uri || !dbName) throw new Error('MONGODB_URI and TEST_DB_NAME are required');
  const pauseAfter = Number(process.env.PAUSE_AFTER ?? '1000');
  const { client, db } = await connectMongo(uri, dbName);
  try {
    await importSnapshot({
      db,
      input: generateRoster({
        seed: process.env.ROSTER_SEED ?? 'child',
        size: 'large',
        today: '2026-12-01',
      }),
      events: { rosterChanged: () => Promise.resolve() },
      onProgress: async ({ version, written }) => {
        if (written < pauseAfter) return;
        process.stdout.write(`paused version=${version} written=${written}\n`);
        await new Promise<never>(() => setInterval(() => undefined, 60_000));
      },
    });
    process.stdout.write('finished\n');
  } finally {
    await client.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
