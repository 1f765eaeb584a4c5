import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issuePortalKey } from '../../src/store/auth-store';
import { createDiaryOutbox } from '../../src/store/diary-outbox';
import { bearer, mongoServer, SCHOOL_ID, withApi, type ApiHarness } from './support';

const mongo = mongoServer();
before(() => mongo.start());
after(() => mongo.stop());

const run = (fn: (h: ApiHarness) => Promise<void>) => () => withApi(mongo.uri, fn);

const SECRET = 'a-webhook-secret-of-32-characters-or-more';

function putDiary(h: ApiHarness, body: unknown, key = h.adminKey) {
  return h.app.inject({
    method: 'PUT',
    url: `/schools/${SCHOOL_ID}/diary`,
    headers: bearer(key),
    payload: body as object,
  });
}

async function recordEvents(h: ApiHarness, count: number): Promise<void> {
  const outbox = createDiaryOutbox(h.db);
  for (let i = 1; i <= count; i++) {
    await outbox.record({
      schoolId: SCHOOL_ID,
      journalId: 'j-1',
      lessonId: `l-${i}`,
      kind: 'linkPublished',
      joinLink: `https://vk.com/call/join/${i}`,
      callKey: `j-1:l-${i}:${i}`,
    });
  }
}

describe('e-diary webhook settings (V4)', () => {
  it(
    'V4: a webhook is saved with its secret encrypted, and its reply never shows the secret',
    run(async (h) => {
      const res = await putDiary(h, {
        webhookUrl: 'https://portal.example.ru/diary',
        secret: SECRET,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(!res.body.includes(SECRET));
      assert.deepEqual(
        res.json<{ webhook: { url: string } }>().webhook.url,
        'https://portal.example.ru/diary',
      );
      const got = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/diary`,
        headers: bearer(h.adminKey),
      });
      assert.equal(got.statusCode, 200);
      assert.ok(!got.body.includes(SECRET));
      const doc = await h.db.collection('diary_settings').findOne({});
      assert.ok(doc && !JSON.stringify(doc).includes(SECRET), 'the secret is stored encrypted');
      assert.ok(
        h.gateway.calls.some((c) => c.method === 'diaryEventsAdded'),
        'events recorded before the webhook are pushed now',
      );
      assert.ok(!h.logs().includes(SECRET));
    }),
  );

  it(
    'V4: a webhook on plain http, on a loopback or private address, or with a short secret is a 400 naming the field, and nothing is saved',
    run(async (h) => {
      const bad: [unknown, string][] = [
        [{ webhookUrl: 'http://portal.example.ru/diary', secret: SECRET }, 'webhookUrl'],
        [{ webhookUrl: 'https://127.0.0.1/diary', secret: SECRET }, 'webhookUrl'],
        [{ webhookUrl: 'https://10.1.2.3/diary', secret: SECRET }, 'webhookUrl'],
        [{ webhookUrl: 'https://localhost/diary', secret: SECRET }, 'webhookUrl'],
        [{ webhookUrl: 'not a url', secret: SECRET }, 'webhookUrl'],
        [{ webhookUrl: 'https://portal.example.ru/diary', secret: 'short' }, 'secret'],
        [{ webhookUrl: 'https://portal.example.ru/diary', secret: SECRET, extra: 1 }, 'extra'],
      ];
      for (const [body, field] of bad) {
        const res = await putDiary(h, body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.body}`);
        const fields = res.json<{ error: { fields?: { path: string }[] } }>().error.fields ?? [];
        assert.ok(
          fields.some((f) => f.path === field),
          `${JSON.stringify(body)} names ${field}: ${res.body}`,
        );
        assert.ok(!res.body.includes(SECRET), 'the secret is not echoed');
      }
      assert.equal(await h.db.collection('diary_settings').countDocuments({}), 0);
    }),
  );

  it(
    "V4: only the school's admin key sets the webhook",
    run(async (h) => {
      const body = { webhookUrl: 'https://portal.example.ru/diary', secret: SECRET };
      assert.equal((await putDiary(h, body, h.teacher1)).statusCode, 403);
      assert.equal((await putDiary(h, body, h.otherSchoolAdminKey)).statusCode, 403);
      const portalKey = (await issuePortalKey({ db: h.db, schoolId: SCHOOL_ID })).secret;
      assert.equal((await putDiary(h, body, portalKey)).statusCode, 403);
      assert.equal(await h.db.collection('diary_settings').countDocuments({}), 0);
    }),
  );
});

describe('e-diary feed (V4)', () => {
  it(
    'V4: the feed pages through the events by cursor, for the admin key and the portal key',
    run(async (h) => {
      await recordEvents(h, 5);
      const portalKey = (await issuePortalKey({ db: h.db, schoolId: SCHOOL_ID })).secret;
      for (const key of [h.adminKey, portalKey]) {
        const seen: string[] = [];
        let after = 0;
        for (let page = 0; page < 5; page++) {
          const res = await h.app.inject({
            method: 'GET',
            url: `/schools/${SCHOOL_ID}/diary/events?after=${after}&limit=2`,
            headers: bearer(key),
          });
          assert.equal(res.statusCode, 200, res.body);
          const feed = res.json<{ events: { lessonId: string }[]; next: number }>();
          seen.push(...feed.events.map((e) => e.lessonId));
          if (feed.events.length === 0) {
            assert.equal(feed.next, after, 'an empty page keeps the cursor');
            break;
          }
          after = feed.next;
        }
        assert.deepEqual(seen, ['l-1', 'l-2', 'l-3', 'l-4', 'l-5']);
      }
    }),
  );

  it(
    "V4: a teacher, another school's key, an oversized page or a bad cursor gets no events",
    run(async (h) => {
      await recordEvents(h, 1);
      const otherPortal = (await issuePortalKey({ db: h.db, schoolId: 'sch-2' })).secret;
      const url = `/schools/${SCHOOL_ID}/diary/events`;
      const get = (query: string, key: string) =>
        h.app.inject({ method: 'GET', url: `${url}${query}`, headers: bearer(key) });
      assert.equal((await get('', h.teacher1)).statusCode, 403);
      assert.equal((await get('', h.otherSchoolAdminKey)).statusCode, 403);
      assert.equal((await get('', otherPortal)).statusCode, 403);
      assert.equal((await h.app.inject({ method: 'GET', url })).statusCode, 401);
      for (const query of ['?limit=100000', '?after=-1', '?after=abc', '?limit=0', '?cursor=1']) {
        const res = await get(query, h.adminKey);
        assert.equal(res.statusCode, 400, `${query} → ${res.body}`);
      }
    }),
  );

  it(
    'V4: a portal key opens nothing but the feed',
    run(async (h) => {
      const portalKey = (await issuePortalKey({ db: h.db, schoolId: SCHOOL_ID })).secret;
      for (const url of [
        `/schools/${SCHOOL_ID}/status`,
        `/schools/${SCHOOL_ID}/diary`,
        '/journals/j-1/call',
        '/journals/j-1/lessons',
      ]) {
        const res = await h.app.inject({ method: 'GET', url, headers: bearer(portalKey) });
        assert.equal(res.statusCode, 403, `${url} → ${res.body}`);
      }
    }),
  );
});

describe('e-diary status (V4)', () => {
  it(
    'V4: the school page learns which links the diary has not got, what the portal answered and since when',
    run(async (h) => {
      await recordEvents(h, 2);
      const outbox = createDiaryOutbox(h.db);
      const [first] = await outbox.list({ schoolId: SCHOOL_ID, after: 0, limit: 1 });
      assert.ok(first);
      await outbox.markFailing(first.event.eventId, 'portal answered 503');
      await outbox.markFailing(first.event.eventId, 'portal answered 503');
      const res = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/diary/status`,
        headers: bearer(h.adminKey),
      });
      assert.equal(res.statusCode, 200, res.body);
      const status = res.json<{
        undelivered: number;
        failing: { lessonId: string; lastError: string; attempts: number; failingSince: number }[];
      }>();
      assert.equal(status.undelivered, 2);
      assert.equal(status.failing.length, 1);
      assert.equal(status.failing[0]?.lessonId, 'l-1');
      assert.equal(status.failing[0]?.lastError, 'portal answered 503');
      assert.equal(status.failing[0]?.attempts, 2);
      assert.ok((status.failing[0]?.failingSince ?? 0) > 0);
      const teacher = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/diary/status`,
        headers: bearer(h.teacher1),
      });
      assert.equal(teacher.statusCode, 403);
    }),
  );
});

describe('e-diary outbox', () => {
  it(
    "V4: a school's first events, written at once by several journals, each get their own cursor",
    run(async (h) => {
      const outbox = createDiaryOutbox(h.db);
      const written = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          outbox.record({
            schoolId: 'sch-race',
            journalId: `j-${i}`,
            lessonId: `l-${i}`,
            kind: 'linkPublished',
            joinLink: `https://vk.com/call/join/${i}`,
            callKey: `j-${i}:l-${i}:1`,
          }),
        ),
      );
      assert.ok(written.every(Boolean));
      const events = await outbox.list({ schoolId: 'sch-race', after: 0, limit: 50 });
      assert.equal(new Set(events.map((e) => e.event.cursor)).size, 12);
    }),
  );
});
