import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { workflowIds } from '../../src/contracts/ids';
import { createPortalEmulator, WEBHOOK_PATH, type PortalEmulator } from '../../src/emulator/portal';
import { createDiaryOutbox } from '../../src/store/diary-outbox';
import type { Logger } from '../../src/process/logger';
import { seedDemoJournal, until, type DemoJournal } from '../support/demo-school';
import { readableHistories } from '../support/histories';
import { useServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/**
 * V4 with the e-diary: the call link reaches the city portal (its emulator) when the call starts,
 * and is withdrawn when it ends, through the outbox and the school's delivery workflow, once per
 * event however often the portal fails.
 */

const services = useServices();

interface DiarySchool extends DemoJournal {
  readonly stack: Stack;
  readonly portal: PortalEmulator;
}

async function diarySchool(
  t: TestContext,
  opts: { webhook: boolean; secret?: string; logger?: Logger },
): Promise<DiarySchool> {
  const stack = await startStack({
    services: services(),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const portal = await createPortalEmulator();
  const seeded: { school?: DemoJournal } = {};
  t.after(async () => {
    const { school } = seeded;
    const ids = school
      ? [workflowIds.journalCalls(school), workflowIds.diaryDelivery(school.schoolId)]
      : [];
    for (const id of ids) {
      await stack.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
    await portal.close();
    await stack.stop();
  });
  await stack.startWorker();
  const school = await seedDemoJournal(stack, 'diary');
  seeded.school = school;
  if (opts.webhook) {
    const secret = opts.secret ?? randomBytes(32).toString('hex');
    portal.addSchool(school.schoolId, secret);
    await stack.settings.diary.save({
      schoolId: school.schoolId,
      webhookUrl: `${portal.url}${WEBHOOK_PATH}`,
      secret,
    });
  }
  return { stack, portal, ...school };
}

async function startCall(s: DiarySchool): Promise<string> {
  const started = await s.stack.gateway.startCall({
    schoolId: s.schoolId,
    journalId: s.journalId,
    lessonId: s.lessonId,
    requestedBy: s.teacherId,
  });
  assert.ok(started.accepted, JSON.stringify(started));
  return started.joinLink;
}

void test('V4: the link reaches the portal once when the call starts and is withdrawn when it ends; the feed has the same events', async (t) => {
  const s = await diarySchool(t, { webhook: true });
  const joinLink = await startCall(s);
  const published = await until('the link at the portal', () => s.portal.deliveries()[0]);
  assert.equal(published.event.kind, 'linkPublished');
  assert.equal(published.event.lessonId, s.lessonId);
  assert.equal(published.event.joinLink, joinLink);

  const ended = await s.stack.gateway.endCall({
    schoolId: s.schoolId,
    journalId: s.journalId,
    requestedBy: s.teacherId,
  });
  assert.ok(ended.accepted);
  const withdrawn = await until('the withdrawal at the portal', () => s.portal.deliveries()[1]);
  assert.equal(withdrawn.event.kind, 'linkWithdrawn');
  assert.equal(withdrawn.event.joinLink, null);
  assert.equal(s.portal.distinct(), 2);
  assert.ok(withdrawn.event.cursor > published.event.cursor, 'in order');

  // The portal has it a moment before the outbox notes its answer.
  const feed = await until('both events noted delivered', async () => {
    const entries = await createDiaryOutbox(s.stack.db).list({
      schoolId: s.schoolId,
      after: 0,
      limit: 10,
    });
    return entries.every((e) => e.delivery.state === 'delivered') ? entries : null;
  });
  assert.deepEqual(
    feed.map((e) => [e.event.kind, e.delivery.state]),
    [
      ['linkPublished', 'delivered'],
      ['linkWithdrawn', 'delivered'],
    ],
  );
});

void test('V4: a portal that answers 503 is waited out: the link arrives once it is back, exactly once, and the outbox said what failed meanwhile', async (t) => {
  const s = await diarySchool(t, { webhook: true });
  s.portal.setFaults({ down: true });
  await startCall(s);
  const outbox = createDiaryOutbox(s.stack.db);
  const failing = await until('the delivery to be failing', async () => {
    const [entry] = await outbox.list({ schoolId: s.schoolId, after: 0, limit: 1 });
    return entry?.delivery.state === 'failing' && entry.delivery.attempts >= 2 ? entry : null;
  });
  assert.match(failing.delivery.lastError ?? '', /503/);
  assert.ok(failing.delivery.failingSince);
  assert.equal(s.portal.distinct(), 0);

  s.portal.setFaults({});
  const delivered = await until(
    'the link at the portal after the outage',
    () => s.portal.deliveries()[0],
    60_000,
  );
  assert.equal(delivered.event.kind, 'linkPublished');
  assert.equal(s.portal.distinct(), 1);
  const [entry] = await outbox.list({ schoolId: s.schoolId, after: 0, limit: 1 });
  assert.equal(entry?.delivery.state, 'delivered');
});

void test('V4: an answer lost after the portal stored the event is retried and acknowledged as a duplicate: stored once', async (t) => {
  const s = await diarySchool(t, { webhook: true });
  s.portal.setFaults({ ackThenFail: 1 });
  await startCall(s);
  const outbox = createDiaryOutbox(s.stack.db);
  await until('the event delivered', async () => {
    const [entry] = await outbox.list({ schoolId: s.schoolId, after: 0, limit: 1 });
    return entry?.delivery.state === 'delivered' ? entry : null;
  });
  assert.equal(s.portal.distinct(), 1);
  assert.equal(s.portal.state().duplicates, 1);
});

void test('V4: a school with no webhook has its events in the feed only', async (t) => {
  const s = await diarySchool(t, { webhook: false });
  await startCall(s);
  const outbox = createDiaryOutbox(s.stack.db);
  const entry = await until('the event settled', async () => {
    const [e] = await outbox.list({ schoolId: s.schoolId, after: 0, limit: 1 });
    return e?.delivery.state === 'feedOnly' ? e : null;
  });
  assert.equal(entry.event.kind, 'linkPublished');
  assert.equal(s.portal.distinct(), 0);
});

void test('§7 V4: a planted webhook secret is in no workflow history, log line or MongoDB document in clear, through a portal that fails', async (t) => {
  const secret = `PLANTEDWEBHOOKSECRET${randomBytes(16).toString('hex')}`;
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  const s = await diarySchool(t, { webhook: true, secret, logger });
  s.portal.setFaults({ failNext: 2 });
  await startCall(s);
  await until('the link at the portal', () => s.portal.deliveries()[0]);
  const ended = await s.stack.gateway.endCall({
    schoolId: s.schoolId,
    journalId: s.journalId,
    requestedBy: s.teacherId,
  });
  assert.ok(ended.accepted);
  await until('the withdrawal at the portal', () => s.portal.deliveries()[1]);

  const histories = (await readableHistories(s.stack.client, s.stack.taskQueue)).join('\n');
  assert.match(histories, /diaryDeliveryWorkflow/);
  assert.match(histories, /portal answered 503/, 'the failures are in the history');
  const dump: string[] = [];
  for (const c of await s.stack.db.listCollections().toArray()) {
    dump.push(JSON.stringify(await s.stack.db.collection(c.name).find({}).toArray()));
  }
  assert.ok(!histories.includes(secret), 'the webhook secret is in a workflow history');
  assert.ok(!lines.join('\n').includes(secret), 'the webhook secret is in the logs');
  assert.ok(!dump.join('\n').includes(secret), 'the webhook secret is in clear in MongoDB');
});
