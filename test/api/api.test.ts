import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Db } from 'mongodb';
import { createRosterStore } from '../../src/store/roster-store';
import { createSyncStore } from '../../src/store/sync-store';
import { bearer, mongoServer, rosterFixture, SCHOOL_ID, withApi, type ApiHarness } from './support';

const mongo = mongoServer();
before(() => mongo.start());
after(() => mongo.stop());

const run = (fn: (h: ApiHarness) => Promise<void>) => () => withApi(mongo.uri, fn);

interface ErrorReply {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}

function errorOf(body: string): ErrorReply['error'] {
  return (JSON.parse(body) as ErrorReply).error;
}

function fieldPaths(body: string): string[] {
  return (errorOf(body).fields ?? []).map((f) => f.path);
}

/** Everything an endpoint could change, to compare before and after a rejected request. */
async function snapshotOf(db: Db): Promise<string> {
  const names = [
    'schools',
    'staff',
    'students',
    'parents',
    'classes',
    'journals',
    'lessons',
    'templates',
    'school_settings',
    'study_profiles',
    'roster_changes',
  ];
  const parts: Record<string, unknown[]> = {};
  for (const name of names)
    parts[name] = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
  parts.roster = [await createRosterStore({ db }).loadRoster(SCHOOL_ID)];
  return JSON.stringify(parts);
}

/** S2: the proxy as the manual writes it. */
const PROXY_TEXT = [
  'proxy_server=proxy.local',
  'proxy_port=3128',
  'proxy_username=u',
  'proxy_password=proxy-secret-2',
  'proxy_auth=1',
].join('\n');

const validSettings = {
  communityId: 123456,
  token: 'vk1.a.community-token-0123456789',
  period: '30',
};

void describe('bad input → 400 naming the field, nothing changed', () => {
  const cases: {
    name: string;
    method: 'POST' | 'PUT' | 'PATCH' | 'GET';
    url: string;
    body?: unknown;
    fields: string[];
    key?: 'admin' | 'teacher1';
  }[] = [
    {
      name: 'start call without lessonId',
      method: 'POST',
      url: '/journals/j-1/call/start',
      body: {},
      fields: ['lessonId'],
      key: 'teacher1',
    },
    {
      name: 'start call with a malformed lessonId',
      method: 'POST',
      url: '/journals/j-1/call/start',
      body: { lessonId: 'a b' },
      fields: ['lessonId'],
      key: 'teacher1',
    },
    {
      name: 'journal ID with a space',
      method: 'GET',
      url: '/journals/j%201/call',
      fields: ['id'],
      key: 'teacher1',
    },
    {
      name: 'end call in a malformed journal ID',
      method: 'POST',
      url: '/journals/j%201/call/end',
      fields: ['id'],
      key: 'teacher1',
    },
    {
      name: 'lesson patch with a string online',
      method: 'PATCH',
      url: '/lessons/l-1',
      body: { online: 'yes' },
      fields: ['online'],
      key: 'teacher1',
    },
    {
      name: 'lesson patch with an unknown status',
      method: 'PATCH',
      url: '/lessons/l-1',
      body: { status: 'done' },
      fields: ['status'],
      key: 'teacher1',
    },
    {
      name: 'empty lesson patch',
      method: 'PATCH',
      url: '/lessons/l-1',
      body: {},
      fields: ['online'],
      key: 'teacher1',
    },
    {
      name: 'settings with a bad community ID and a short token',
      method: 'PUT',
      url: `/schools/${SCHOOL_ID}/settings`,
      body: { communityId: -1, token: 'short' },
      fields: ['communityId', 'token'],
    },
    {
      name: 'S2: proxy auth on without credentials',
      method: 'PUT',
      url: `/schools/${SCHOOL_ID}/settings`,
      body: { ...validSettings, proxy: { server: 'proxy.local', port: 3128, auth: true } },
      fields: ['proxy.auth'],
    },
    ...(
      [
        ['an unknown key', `${PROXY_TEXT}\nproxy_type=http`, 'proxyText.proxy_type'],
        ['a bad port', PROXY_TEXT.replace('3128', '70000'), 'proxyText.proxy_port'],
        [
          'proxy_auth=1 without a user name',
          PROXY_TEXT.replace('proxy_username=u', 'proxy_username='),
          'proxyText.proxy_username',
        ],
        ['a repeated key', `${PROXY_TEXT}\nproxy_server=other.local`, 'proxyText.proxy_server'],
      ] as const
    ).map(([what, proxyText, field]) => ({
      name: `S2: proxy text with ${what}`,
      method: 'PUT' as const,
      url: `/schools/${SCHOOL_ID}/settings`,
      body: { ...validSettings, proxyText },
      fields: [field],
    })),
    {
      name: 'S3: an unknown period',
      method: 'PUT',
      url: `/schools/${SCHOOL_ID}/settings`,
      body: { ...validSettings, period: '7' },
      fields: ['period'],
    },
    {
      name: 'roster snapshot with several errors (every one listed)',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/roster`,
      body: (() => {
        const r = rosterFixture();
        return {
          ...r,
          students: [
            { ...r.students?.[0], classId: 'no-such-class' },
            { ...r.students?.[1], vkId: 'x' },
          ],
        };
      })(),
      fields: ['students[0].classId', 'students[1].vkId'],
    },
    {
      name: 'roster snapshot for another school',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/roster`,
      body: { ...rosterFixture(), school: { id: 'sch-2', name: 'x' } },
      fields: ['school.id'],
    },
    {
      name: 'change set with a bad record',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/roster/changes`,
      body: {
        schoolId: SCHOOL_ID,
        upsert: {
          lessons: [
            {
              id: 'l-9',
              journalId: 'j-1',
              date: '2026-13-01',
              number: 1,
              online: true,
              status: 'published',
            },
          ],
        },
      },
      fields: ['upsert.lessons[0].date'],
    },
    {
      name: 'change set for another school',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/roster/changes`,
      body: { schoolId: 'sch-2' },
      fields: ['schoolId'],
    },
    {
      name: 'P1: link event without a VK ID and profile',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/vk-links`,
      body: { action: 'link', personKind: 'staff', personId: 't-2' },
      fields: ['vkId', 'profile'],
    },
    {
      name: 'P2: unlink event of an unknown kind',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/vk-links`,
      body: { action: 'unlink', personKind: 'pupil', personId: 's-1' },
      fields: ['personKind'],
    },
    {
      name: 'plan ID with a slash-free but illegal character',
      method: 'GET',
      url: `/schools/${SCHOOL_ID}/plans/plan%20x`,
      fields: ['planId'],
    },
    {
      name: 'approve with an illegal plan ID',
      method: 'POST',
      url: `/schools/${SCHOOL_ID}/plans/plan%20x/approve`,
      fields: ['planId'],
    },
  ];

  for (const c of cases) {
    void it(
      c.name,
      run(async (h) => {
        const before = await snapshotOf(h.db);
        const res = await h.app.inject({
          method: c.method,
          url: c.url,
          headers: bearer(c.key === 'teacher1' ? h.teacher1 : h.adminKey),
          ...(c.body === undefined ? {} : { payload: c.body as object }),
        });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(errorOf(res.body).code, 'invalid_input');
        assert.ok(!res.body.includes('proxy-secret-2'), 'an error never quotes the proxy password');
        const paths = fieldPaths(res.body);
        for (const field of c.fields)
          assert.ok(paths.includes(field), `${field} not in ${paths.join(', ')}`);
        assert.equal(await snapshotOf(h.db), before, 'nothing may change on bad input');
        const signalled = h.gateway.calls.filter(
          (call) => call.method !== 'callState' && call.method !== 'syncStatus',
        );
        assert.deepEqual(signalled, [], 'no workflow may be messaged on bad input');
      }),
    );
  }
});

void describe('authentication and authorisation', () => {
  void it(
    'a teacher starting a call in someone else’s journal → 403, and no workflow is messaged',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/journals/j-1/call/start',
        headers: bearer(h.teacher2),
        payload: { lessonId: 'l-1' },
      });
      assert.equal(res.statusCode, 403);
      assert.deepEqual(errorOf(res.body), { code: 'forbidden', message: 'not allowed' });
      assert.deepEqual(h.gateway.calls, []);
    }),
  );

  void it(
    'a teacher gets the same 403 for a journal that does not exist (no detail leak)',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'GET',
        url: '/journals/j-404/call',
        headers: bearer(h.teacher1),
      });
      assert.equal(res.statusCode, 403);
      assert.deepEqual(errorOf(res.body), { code: 'forbidden', message: 'not allowed' });
    }),
  );

  void it(
    'missing, malformed and wrong credentials → 401 with one generic message',
    run(async (h) => {
      const wrong = h.adminKey.slice(0, -4) + (h.adminKey.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      for (const headers of [
        {},
        { authorization: 'Basic abc' },
        bearer('nonsense'),
        bearer(wrong),
      ]) {
        const res = await h.app.inject({
          method: 'GET',
          url: `/schools/${SCHOOL_ID}/status`,
          headers,
        });
        assert.equal(res.statusCode, 401);
        assert.deepEqual(errorOf(res.body), {
          code: 'unauthorized',
          message: 'authentication required',
        });
      }
    }),
  );

  void it(
    'a teacher token is not an admin key, and one school’s admin key does not open another school',
    run(async (h) => {
      for (const key of [h.teacher1, h.otherSchoolAdminKey]) {
        const res = await h.app.inject({
          method: 'PUT',
          url: `/schools/${SCHOOL_ID}/settings`,
          headers: bearer(key),
          payload: validSettings,
        });
        assert.equal(res.statusCode, 403);
      }
      assert.equal(await h.db.collection('school_settings').countDocuments(), 0);
    }),
  );

  void it(
    'brute force: the 11th failure within a minute from one address → 429, even with a good key',
    run(async (h) => {
      for (let i = 0; i < 10; i++) {
        const res = await h.app.inject({
          method: 'GET',
          url: '/journals/j-1/call',
          headers: bearer(`sft.${'0'.repeat(16)}.${'x'.repeat(43)}`),
        });
        assert.equal(res.statusCode, 401);
      }
      const blocked = await h.app.inject({
        method: 'GET',
        url: '/journals/j-1/call',
        headers: bearer(h.teacher1),
      });
      assert.equal(blocked.statusCode, 429);
      assert.equal(errorOf(blocked.body).code, 'rate_limited');
      const elsewhere = await h.app.inject({
        method: 'GET',
        url: '/journals/j-1/call',
        headers: bearer(h.teacher1),
        remoteAddress: '10.0.0.9',
      });
      assert.equal(elsewhere.statusCode, 200, 'another address is not blocked');
      const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /sferum_api_auth_failures_total\{outcome="blocked"\} 1/);
    }),
  );

  void it(
    'credentials and the page’s ?token= never reach the logs',
    run(async (h) => {
      await h.app.inject({
        method: 'GET',
        url: `/journals/j-1/page?token=${encodeURIComponent(h.teacher1)}`,
      });
      await h.app.inject({ method: 'GET', url: '/journals/j-1/call', headers: bearer(h.teacher1) });
      await h.app.inject({
        method: 'PUT',
        url: `/schools/${SCHOOL_ID}/settings`,
        headers: bearer(h.adminKey),
        payload: validSettings,
      });
      const logs = h.logs();
      assert.ok(logs.includes('"reqId"'), 'request lines carry the request ID');
      for (const secret of [
        h.teacher1,
        h.adminKey,
        validSettings.token,
        h.teacher1.split('.')[2] ?? '',
      ]) {
        assert.ok(!logs.includes(secret), 'a secret was logged');
      }
    }),
  );
});

void describe('journal calls (V2, V5, V6) through the workflow gateway', () => {
  void it(
    'the assigned teacher starts, sees the join link, is refused a second start (409, V3), and ends',
    run(async (h) => {
      const start = await h.app.inject({
        method: 'POST',
        url: '/journals/j-1/call/start',
        headers: bearer(h.teacher1),
        payload: { lessonId: 'l-1' },
      });
      assert.equal(start.statusCode, 200);
      const accepted = JSON.parse(start.body) as { accepted: boolean; joinLink: string };
      assert.equal(accepted.accepted, true);
      assert.match(accepted.joinLink, /^https:\/\/vk\.com\/call\/join\//);
      assert.deepEqual(h.gateway.calls[0], {
        method: 'startCall',
        args: { schoolId: SCHOOL_ID, journalId: 'j-1', lessonId: 'l-1', requestedBy: 't-1' },
      });

      const state = await h.app.inject({
        method: 'GET',
        url: '/journals/j-1/call',
        headers: bearer(h.teacher1),
      });
      assert.equal(state.statusCode, 200);
      const parsed = JSON.parse(state.body) as {
        running: { joinLink: string } & Record<string, unknown>;
      };
      assert.equal(parsed.running.joinLink, accepted.joinLink);
      assert.ok(!('callKey' in parsed.running), 'internal fields stay out of the reply');

      const again = await h.app.inject({
        method: 'POST',
        url: '/journals/j-1/call/start',
        headers: bearer(h.teacher1),
        payload: { lessonId: 'l-1' },
      });
      assert.equal(again.statusCode, 409);
      assert.deepEqual(JSON.parse(again.body), {
        accepted: false,
        reason: 'anotherCallRunning',
        runningLessonId: 'l-1',
      });

      const end = await h.app.inject({
        method: 'POST',
        url: '/journals/j-1/call/end',
        headers: bearer(h.teacher1),
      });
      assert.equal(end.statusCode, 200);
      const endAgain = await h.app.inject({
        method: 'POST',
        url: '/journals/j-1/call/end',
        headers: bearer(h.adminKey),
      });
      assert.equal(endAgain.statusCode, 409);
      assert.deepEqual(JSON.parse(endAgain.body), { accepted: false, reason: 'noCallRunning' });
    }),
  );

  void it(
    'lessons of today and tomorrow come with their grid times in the school’s zone',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'GET',
        url: '/journals/j-1/lessons',
        headers: bearer(h.teacher1),
      });
      assert.equal(res.statusCode, 200);
      const body = JSON.parse(res.body) as {
        today: string;
        lessons: { id: string; start: string | null }[];
      };
      assert.equal(body.today, '2026-12-01');
      assert.deepEqual(
        body.lessons.map((l) => [l.id, l.start]),
        [
          ['l-1', '09:30'],
          ['l-2', '08:30'],
        ],
      );
    }),
  );

  void it(
    'V1: patching a lesson stores it and signals lessonsChanged; a failed signal is 503 and the patch may be repeated',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'PATCH',
        url: '/lessons/l-2',
        headers: bearer(h.teacher1),
        payload: { online: true, status: 'published' },
      });
      assert.equal(res.statusCode, 200);
      const lesson = await createRosterStore({ db: h.db }).getLesson({
        schoolId: SCHOOL_ID,
        lessonId: 'l-2',
      });
      assert.equal(lesson?.online, true);
      assert.equal(lesson?.status, 'published');
      assert.deepEqual(h.gateway.calls.at(-1), {
        method: 'lessonsChanged',
        args: { schoolId: SCHOOL_ID, journalId: 'j-1', lessonIds: ['l-2'] },
      });

      const other = await h.app.inject({
        method: 'PATCH',
        url: '/lessons/l-3',
        headers: bearer(h.teacher1),
        payload: { status: 'conducted' },
      });
      assert.equal(other.statusCode, 403, 'a lesson of another teacher’s journal');

      h.gateway.failLessonsChanged = true;
      const failed = await h.app.inject({
        method: 'PATCH',
        url: '/lessons/l-2',
        headers: bearer(h.teacher1),
        payload: { status: 'conducted' },
      });
      assert.equal(failed.statusCode, 503);
    }),
  );

  void it(
    'V1/C2: the online switch is refused with a 409 and the reason in a journal without calls, and nothing is saved',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'PATCH',
        url: '/lessons/l-3',
        headers: bearer(h.adminKey),
        payload: { online: true },
      });
      assert.equal(res.statusCode, 409);
      assert.deepEqual(res.json(), { accepted: false, reason: 'noSubjectChat' });
      const lesson = await createRosterStore({ db: h.db }).getLesson({
        schoolId: SCHOOL_ID,
        lessonId: 'l-3',
      });
      assert.equal(lesson?.online, false);
      assert.ok(!h.gateway.calls.some((c) => c.method === 'lessonsChanged'));
      const off = await h.app.inject({
        method: 'PATCH',
        url: '/lessons/l-3',
        headers: bearer(h.adminKey),
        payload: { online: false, status: 'conducted' },
      });
      assert.equal(off.statusCode, 200, 'switching off and changing the status stay allowed');
    }),
  );
});

void describe('school admin calls', () => {
  void it(
    'S1–S3: settings are saved, the reply and GET hold no secret, and the sync is told',
    run(async (h) => {
      const put = await h.app.inject({
        method: 'PUT',
        url: `/schools/${SCHOOL_ID}/settings`,
        headers: bearer(h.adminKey),
        payload: {
          ...validSettings,
          proxy: {
            server: 'proxy.local',
            port: 3128,
            username: 'u',
            password: 'proxy-secret-1',
            auth: true,
          },
        },
      });
      assert.equal(put.statusCode, 200, put.body);
      const get = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/settings`,
        headers: bearer(h.adminKey),
      });
      for (const body of [put.body, get.body]) {
        assert.ok(!body.includes(validSettings.token) && !body.includes('proxy-secret-1'));
        assert.equal((JSON.parse(body) as { tokenSet: boolean }).tokenSet, true);
      }
      assert.deepEqual(h.gateway.calls, [
        { method: 'settingsChanged', args: { schoolId: SCHOOL_ID, period: '30' } },
      ]);
    }),
  );

  void it(
    'S2: the manual’s proxy text is saved as the structured proxy, its password encrypted',
    run(async (h) => {
      const put = await h.app.inject({
        method: 'PUT',
        url: `/schools/${SCHOOL_ID}/settings`,
        headers: bearer(h.adminKey),
        payload: { ...validSettings, proxyText: PROXY_TEXT },
      });
      assert.equal(put.statusCode, 200, put.body);
      assert.deepEqual((JSON.parse(put.body) as { proxy: unknown }).proxy, {
        server: 'proxy.local',
        port: 3128,
        username: 'u',
        passwordSet: true,
        auth: true,
      });
      const stored = JSON.stringify(await h.db.collection('school_settings').findOne({}));
      assert.ok(!stored.includes('proxy-secret-2') && !stored.includes('proxyText'), stored);
      assert.ok(!put.body.includes('proxy-secret-2'));
    }),
  );

  void it(
    'S1: the status of a school with neither roster nor settings is 404; a known one is 200',
    run(async (h) => {
      const unknown = await h.app.inject({
        method: 'GET',
        url: '/schools/sch-2/status',
        headers: bearer(h.otherSchoolAdminKey),
      });
      assert.equal(unknown.statusCode, 404, unknown.body);
      assert.equal(errorOf(unknown.body).code, 'not_found');
      const put = await h.app.inject({
        method: 'PUT',
        url: '/schools/sch-2/settings',
        headers: bearer(h.otherSchoolAdminKey),
        payload: validSettings,
      });
      assert.equal(put.statusCode, 200, put.body);
      const known = await h.app.inject({
        method: 'GET',
        url: '/schools/sch-2/status',
        headers: bearer(h.otherSchoolAdminKey),
      });
      assert.equal(known.statusCode, 200, known.body);
      assert.equal((JSON.parse(known.body) as { workflowStarted: boolean }).workflowStarted, false);
    }),
  );

  void it(
    'C3: a change set is applied and rosterChanged is signalled with its change ID',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/schools/${SCHOOL_ID}/roster/changes`,
        headers: bearer(h.adminKey),
        payload: { schoolId: SCHOOL_ID, remove: { parents: ['p-1'] } },
      });
      assert.equal(res.statusCode, 200, res.body);
      const { changeId } = JSON.parse(res.body) as { changeId: string };
      assert.deepEqual(h.gateway.calls, [
        { method: 'rosterChanged', args: { schoolId: SCHOOL_ID, changeId } },
      ]);
    }),
  );

  void it(
    'V1: a change set switching a lesson online in a journal without a subject chat is stored offline, and the reply says so',
    run(async (h) => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/schools/${SCHOOL_ID}/roster/changes`,
        headers: bearer(h.adminKey),
        payload: {
          schoolId: SCHOOL_ID,
          upsert: {
            lessons: [
              {
                id: 'l-3',
                journalId: 'j-2',
                date: '2026-12-01',
                number: 1,
                online: true,
                status: 'published',
              },
            ],
          },
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      const { warnings } = JSON.parse(res.body) as { warnings: { code: string; path: string }[] };
      assert.deepEqual(
        warnings.map((w) => [w.code, w.path]),
        [['onlineLessonWithoutCalls', 'upsert.lessons[0].online']],
      );
      const stored = await createRosterStore({ db: h.db }).getLesson({
        schoolId: SCHOOL_ID,
        lessonId: 'l-3',
      });
      assert.equal(stored?.online, false);
    }),
  );

  void it(
    'P1: a link event sets the VK ID and the person leaves the "no VK ID" list',
    run(async (h) => {
      const listBefore = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/no-vk-id`,
        headers: bearer(h.adminKey),
      });
      assert.ok(listBefore.body.includes('"s-2"'));
      const res = await h.app.inject({
        method: 'POST',
        url: `/schools/${SCHOOL_ID}/vk-links`,
        headers: bearer(h.adminKey),
        payload: {
          action: 'link',
          personKind: 'student',
          personId: 's-2',
          vkId: 202,
          profile: {
            firstName: 'Дарья',
            lastName: 'Зайцева',
            birthday: '2014-03-02',
            gender: 'female',
          },
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      const listAfter = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/no-vk-id`,
        headers: bearer(h.adminKey),
      });
      assert.ok(!listAfter.body.includes('"s-2"'));
      assert.ok(
        listAfter.body.includes('Петров Борис'),
        'names are shown to the school’s own admin',
      );
    }),
  );

  void it(
    'sync now, status, plans and approval',
    run(async (h) => {
      const sync = await h.app.inject({
        method: 'POST',
        url: `/schools/${SCHOOL_ID}/sync`,
        headers: bearer(h.adminKey),
      });
      assert.deepEqual(JSON.parse(sync.body), { runId: 'run-1' });
      const status = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/status`,
        headers: bearer(h.adminKey),
      });
      assert.equal(
        (JSON.parse(status.body) as { workflowStarted: boolean }).workflowStarted,
        false,
      );
      const missing = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/plans/plan-x`,
        headers: bearer(h.adminKey),
      });
      assert.equal(missing.statusCode, 404);
      const saved = await createSyncStore(h.db).savePlan({
        schoolId: SCHOOL_ID,
        runId: 'run-1',
        status: 'held',
        chats: [],
        skipped: [],
        held: null,
        approvedBy: null,
      });
      const plan = await h.app.inject({
        method: 'GET',
        url: `/schools/${SCHOOL_ID}/plans/${saved._id}`,
        headers: bearer(h.adminKey),
      });
      assert.equal(plan.statusCode, 200, plan.body);
      assert.equal((JSON.parse(plan.body) as { planId: string }).planId, saved._id);
      const approve = await h.app.inject({
        method: 'POST',
        url: `/schools/${SCHOOL_ID}/plans/${saved._id}/approve`,
        headers: bearer(h.adminKey),
      });
      assert.equal(approve.statusCode, 409);
      assert.deepEqual(h.gateway.calls.at(-1), {
        method: 'approvePlan',
        args: { schoolId: SCHOOL_ID, planId: saved._id, approvedBy: 'school-admin' },
      });
    }),
  );
});

void describe('operations', () => {
  void it(
    'health, readiness (503 when Temporal is down), request IDs and metrics',
    run(async (h) => {
      assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      h.temporalReady.value = false;
      const notReady = await h.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(notReady.statusCode, 503);
      assert.deepEqual(JSON.parse(notReady.body), {
        status: 'not ready',
        checks: { mongodb: true, temporal: false },
      });

      const given = await h.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'abc-123' },
      });
      assert.equal(given.headers['x-request-id'], 'abc-123');
      const generated = await h.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'bad id\n' },
      });
      assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);

      const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(
        metrics.body,
        /sferum_api_requests_total\{method="GET",route="\/readyz",status="503"\} 1/,
      );
      assert.match(
        metrics.body,
        /sferum_api_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 3/,
      );
    }),
  );

  void it(
    'the OpenAPI document is OpenAPI 3, lists every route with its replies, and names the error shape',
    run(async (h) => {
      const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(res.statusCode, 200);
      const doc = JSON.parse(res.body) as {
        openapi: string;
        info: { title: string; version: string };
        paths: Record<
          string,
          Record<string, { responses: Record<string, unknown>; security?: unknown }>
        >;
        components: { schemas: Record<string, unknown> };
      };
      assert.match(doc.openapi, /^3\.\d+\.\d+$/);
      assert.ok(doc.info.title && doc.info.version);
      const expected: [string, string][] = [
        ['post', '/journals/{id}/call/start'],
        ['post', '/journals/{id}/call/end'],
        ['get', '/journals/{id}/call'],
        ['get', '/journals/{id}/lessons'],
        ['patch', '/lessons/{id}'],
        ['put', '/schools/{id}/settings'],
        ['get', '/schools/{id}/settings'],
        ['post', '/schools/{id}/roster'],
        ['post', '/schools/{id}/roster/changes'],
        ['post', '/schools/{id}/vk-links'],
        ['post', '/schools/{id}/sync'],
        ['get', '/schools/{id}/plans/{planId}'],
        ['post', '/schools/{id}/plans/{planId}/approve'],
        ['get', '/schools/{id}/status'],
        ['get', '/schools/{id}/no-vk-id'],
        ['get', '/healthz'],
        ['get', '/readyz'],
        ['get', '/journals/{id}/page'],
        ['get', '/schools/{id}/page'],
      ];
      for (const [method, path] of expected) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method.toUpperCase()} ${path} missing`);
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} documents no reply`);
        if (!path.endsWith('/page') && !path.endsWith('z')) {
          assert.ok(
            op.responses['400'] && op.responses['401'] && op.responses['403'],
            `${method} ${path} lacks error replies`,
          );
          assert.ok(op.security, `${method} ${path} lacks security`);
        }
      }
      assert.ok(
        doc.paths['/journals/{id}/call/start']?.post?.responses['409'],
        'refusal documented',
      );
      assert.ok(doc.components.schemas.Error, 'the error shape is a named schema');
    }),
  );

  void it(
    'the pages are HTML in Russian with a nonce-only script policy',
    run(async (h) => {
      const res = await h.app.inject({ method: 'GET', url: '/journals/j-1/page' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.match(res.body, /Начать видеоурок/);
      assert.match(res.body, /Завершить видеоурок/);
      assert.match(res.body, /Подключиться/);
      assert.match(String(res.headers['content-security-policy']), /script-src 'nonce-/);
      const school = await h.app.inject({ method: 'GET', url: `/schools/${SCHOOL_ID}/page` });
      assert.match(school.body, /Одобрить/);
      assert.match(school.body, /\/audit/);
    }),
  );
});
