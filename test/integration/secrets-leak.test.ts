import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { generateRoster } from '../../src/demo/roster-generator';
import { importChangeSet, importSnapshot } from '../../src/store/roster-import';
import { useServices } from '../support/services';
import { readableHistories } from '../support/histories';
import { startStack } from '../support/stack';
import { GENERATED_TODAY, converged, runFinished, until } from './school-sync-support';

/**
 * §7 / S1 / S2: a recognisable community token and proxy password are planted in the school
 * settings; the sync runs through a real HTTP proxy with Basic auth (and through faults, so failure
 * messages are written too). Neither secret, nor the proxy's Basic credential, may appear in any
 * workflow history (payloads decoded), in the logs (ours and the Temporal SDK's), or in MongoDB.
 */

const services = useServices();

/** Everything logged in this process: our pino logger and the SDK's runtime logger. */
const logLines: string[] = [];
// Must run before any Temporal connection is made in this process.
Runtime.install({
  logger: new DefaultLogger('TRACE', (entry) => {
    logLines.push(inspect(entry, { depth: 12, breakLength: Infinity }));
  }),
});

type ProxyServer = Server & {
  authenticate?: ((req: IncomingMessage) => boolean | Promise<boolean>) | 'negotiate' | undefined;
};

async function startProxy(user: string, password: string) {
  const { createProxy } = await import('proxy');
  const counts = { connects: 0, refused: 0 };
  const server: ProxyServer = createProxy(createServer());
  server.on('connect', () => {
    counts.connects++;
  });
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  server.authenticate = (req: IncomingMessage) => {
    const ok = req.headers['proxy-authorization'] === expected;
    if (!ok) counts.refused++;
    return ok;
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

void test('§7 S1 S2: a planted community token and proxy password (and a refused token) appear in no workflow history, log or MongoDB document after syncs through the proxy', async () => {
  const token = `PLANTEDTOKEN${randomBytes(16).toString('hex')}`;
  const proxyUser = 'school-proxy-user';
  const proxyPassword = `PLANTEDPROXYPASS${randomBytes(8).toString('hex')}`;
  const basic = Buffer.from(`${proxyUser}:${proxyPassword}`).toString('base64');
  /** A token the platform refuses: its failure (VK error 5) goes into histories and logs too. */
  const wrongToken = `PLANTEDWRONGTOKEN${randomBytes(16).toString('hex')}`;
  const secrets = { token, proxyPassword, basic, wrongToken };

  const proxy = await startProxy(proxyUser, proxyPassword);
  const logger = pino(
    { level: 'trace', base: { service: 'sferum-sync' } },
    { write: (line: string) => void logLines.push(line) },
  );
  const stack = await startStack({ services: services(), logger });
  try {
    const schoolId = 'secrets-school';
    const communityId = 7007;
    stack.emulator.addCommunity(communityId, token);
    await stack.settings.save({
      schoolId,
      input: {
        communityId,
        token,
        period: '30',
        proxy: {
          server: '127.0.0.1',
          port: proxy.port,
          username: proxyUser,
          password: proxyPassword,
          auth: true,
        },
      },
    });
    await stack.startWorker();
    const roster = generateRoster({
      seed: 'secrets',
      size: 'small',
      schoolId,
      today: GENERATED_TODAY,
    });
    const events = {
      rosterChanged: (e: { schoolId: string; changeId: string }) => stack.gateway.rosterChanged(e),
    };
    await importSnapshot({ db: stack.db, input: roster, events });
    await runFinished(stack, schoolId, { runCountAtLeast: 1 });
    await converged(stack, schoolId, communityId, 30_000);
    assert.ok(proxy.counts.connects > 0, 'the sync did not go through the proxy');
    assert.equal(proxy.counts.refused, 0, 'the proxy refused the credentials');

    // A second sync under faults, so failures (and their messages) are logged and recorded too.
    stack.emulator.setFaults({ errorRate10: 0.1, http502Rate: 0.1 });
    const student = roster.students.find((s) => s.active && s.vkId !== null);
    assert.ok(student);
    const before = await stack.gateway.syncStatus(schoolId);
    await importChangeSet({
      db: stack.db,
      input: { schoolId, remove: {}, upsert: { students: [{ ...student, active: false }] } },
      events,
    });
    await runFinished(stack, schoolId, { runCountAtLeast: (before?.runCount ?? 0) + 1 }, 300_000);
    stack.emulator.setFaults({ errorRate10: 0, http502Rate: 0 });

    // New settings with a token the platform refuses: the run fails with MessengerAuth and blocks.
    const proxySettings = {
      server: '127.0.0.1',
      port: proxy.port,
      username: proxyUser,
      password: proxyPassword,
      auth: true,
    };
    await stack.settings.save({
      schoolId,
      input: { communityId, token: wrongToken, period: '30', proxy: proxySettings },
    });
    await stack.gateway.settingsChanged({ schoolId });
    const blocked = await until(
      'the refused token blocks the school',
      async () => {
        const s = await stack.gateway.syncStatus(schoolId);
        return s?.blocked?.reason === 'auth' ? s : false;
      },
      60_000,
    );
    assert.ok((stack.emulator.stats.errors['5'] ?? 0) > 0, 'the platform never refused the token');
    assert.ok(blocked.blocked && !JSON.stringify(blocked).includes(wrongToken));

    // Every workflow this stack ran: the school sync and the journal workflows it ensured.
    const histories = await readableHistories(stack.client, stack.taskQueue);
    assert.ok(histories.length >= 1, 'no history was exported');
    const historyText = histories.join('\n');
    assert.match(historyText, /schoolSyncWorkflow/);
    // The search reads inside payloads: the school ID, which only the input payload carries, is found.
    assert.match(historyText, /"schoolId":"secrets-school"/);
    // The refused token's failure is recorded in the history, message and all.
    assert.match(historyText, /MessengerAuth/);

    const logs = logLines.join('\n');
    assert.ok(logs.length > 0 && /sync run recorded/.test(logs), 'the logs were not captured');

    // MongoDB: the settings document holds the secrets encrypted, and no document holds them in clear.
    const settingsDoc = await stack.db
      .collection('school_settings')
      .findOne({ _id: schoolId as never });
    assert.ok(settingsDoc);
    const dbDump: string[] = [];
    for (const c of await stack.db.listCollections().toArray()) {
      dbDump.push(JSON.stringify(await stack.db.collection(c.name).find({}).toArray()));
    }

    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!historyText.includes(secret), `${name} is in a workflow history`);
      assert.ok(!logs.includes(secret), `${name} is in the logs`);
      assert.ok(
        !JSON.stringify(settingsDoc).includes(secret),
        `${name} is in clear in the settings document`,
      );
      assert.ok(!dbDump.join('\n').includes(secret), `${name} is in clear in MongoDB`);
    }
    console.log(
      `secrets test: ${histories.length} histories, ${logLines.length} log lines, ${proxy.counts.connects} proxy tunnels`,
    );
  } finally {
    await stack.stop();
    await proxy.close();
  }
});
