import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { useServices } from '../support/services';
import {
  dbSnapshot,
  emulatorFootprint,
  historyLengths,
  journalWorkflow,
  schoolRoster,
  schoolWorkflow,
  seedSchool,
  withSecurityApi,
  type SchoolCredentials,
  type SecurityHarness,
} from './support';
import { until } from '../support/until';

/**
 * §7: a teacher may start, end and join calls only in their own journals. A valid teacher token
 * is turned against another journal of the same school, a journal of another school, a journal
 * that does not exist, and a journal of another school whose ID equals one of this school's
 * (the school systems choose their own IDs, so two schools can both have a `j-1`). Each attempt
 * must be refused and change nothing: no MongoDB write, no update or signal in any workflow
 * history, no request to the platform, and the running calls keep their links.
 */

const services = useServices();

interface Attempt {
  readonly who: string;
  readonly key: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  readonly url: string;
  readonly body?: Record<string, unknown>;
  readonly status: number;
}

async function settingsFor(h: SecurityHarness, school: SchoolCredentials): Promise<void> {
  const res = await h.request({
    method: 'PUT',
    url: `/schools/${school.schoolId}/settings`,
    key: school.admin,
    payload: { communityId: school.communityId, token: school.token, period: '30' },
  });
  assert.equal(res.statusCode, 200, res.body);
  await until(
    `the first sync of ${school.schoolId}`,
    async () => {
      // A query can time out while the worker is busy (two shared cores): ask again.
      const status = await h.stack.gateway.syncStatus(school.schoolId).catch(() => null);
      return status?.lastRun !== null && status?.state === 'idle' ? status : null;
    },
    180_000,
  );
}

async function startCall(
  h: SecurityHarness,
  key: string,
  journalId: string,
  lessonId: string,
): Promise<string> {
  const res = await h.request({
    method: 'POST',
    url: `/journals/${journalId}/call/start`,
    key,
    payload: { lessonId },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ joinLink: string }>().joinLink;
}

void test('§7: a teacher token cannot view, start, end or switch lessons in another journal, another school or an unknown journal, and nothing changes', async (t) => {
  await withSecurityApi(services(), async (h) => {
    // Workflow IDs are global on the Temporal server, which other test files share.
    const sfx = randomBytes(3).toString('hex');
    const j1 = `j-1-${sfx}`;
    const j2 = `j-2-${sfx}`;
    const jb2 = `jb-2-${sfx}`;
    const jNope = `j-nope-${sfx}`;
    const a = await seedSchool(h, {
      communityId: 9101,
      roster: schoolRoster({
        schoolId: `sec-a-${sfx}`,
        journals: [j1, j2],
        teachers: ['t-a1', 't-a2'],
        lessons: ['l-a1', 'l-a2'],
        vkBase: 710_000,
      }),
    });
    // School B's first journal has the same ID as school A's: both school systems chose it.
    const b = await seedSchool(h, {
      communityId: 9102,
      roster: schoolRoster({
        schoolId: `sec-b-${sfx}`,
        journals: [j1, jb2],
        teachers: ['t-b1', 't-b2'],
        lessons: ['lb-1', 'lb-2'],
        vkBase: 720_000,
      }),
    });
    await settingsFor(h, a);
    await settingsFor(h, b);

    const linkA1 = await startCall(h, a.teachers['t-a1'] ?? '', j1, 'l-a1');
    const linkA2 = await startCall(h, a.teachers['t-a2'] ?? '', j2, 'l-a2');
    const linkB2 = await startCall(h, b.teachers['t-b2'] ?? '', jb2, 'lb-2');
    const links = [linkA1, linkA2, linkB2];

    const watched = [
      journalWorkflow(a.schoolId, j1),
      journalWorkflow(a.schoolId, j2),
      journalWorkflow(b.schoolId, jb2),
      journalWorkflow(a.schoolId, jNope),
      journalWorkflow(b.schoolId, j1),
      schoolWorkflow(a.schoolId),
      schoolWorkflow(b.schoolId),
    ];
    // Let the activities of the starts (the link posted, the lesson updated) settle first.
    await new Promise((r) => setTimeout(r, 1500));
    const before = {
      db: await dbSnapshot(h.db),
      platform: emulatorFootprint(h.stack),
      histories: await historyLengths(h.stack, watched),
    };
    assert.equal(before.histories[journalWorkflow(a.schoolId, jNope)], 'absent');

    const ta1 = a.teachers['t-a1'] ?? '';
    const tb1 = b.teachers['t-b1'] ?? '';
    const attempts: Attempt[] = [
      // Another journal of the teacher's own school.
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/journals/${j2}/call`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/journals/${j2}/lessons`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${j2}/call/start`,
        body: { lessonId: 'l-a2' },
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${j2}/call/start`,
        body: { lessonId: 'l-a1' },
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${j2}/call/end`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'PATCH',
        url: '/lessons/l-a2',
        body: { online: false },
        status: 403,
      },
      // A journal of another school.
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/journals/${jb2}/call`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/journals/${jb2}/lessons`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${jb2}/call/start`,
        body: { lessonId: 'lb-2' },
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${jb2}/call/end`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'PATCH',
        url: '/lessons/lb-2',
        body: { status: 'draft' },
        status: 403,
      },
      // A journal and a lesson that exist nowhere.
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/journals/${jNope}/call`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${jNope}/call/start`,
        body: { lessonId: 'l-a1' },
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/journals/${jNope}/call/end`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'PATCH',
        url: '/lessons/l-nope',
        body: { online: true },
        status: 403,
      },
      // The school's admin routes.
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'PUT',
        url: `/schools/${a.schoolId}/settings`,
        body: { communityId: 1, token: 'x'.repeat(20) },
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'POST',
        url: `/schools/${a.schoolId}/sync`,
        status: 403,
      },
      {
        who: 'A teacher of j-1',
        key: ta1,
        method: 'GET',
        url: `/schools/${a.schoolId}/status`,
        status: 403,
      },
      {
        who: 'B teacher of B j-1',
        key: tb1,
        method: 'PATCH',
        url: '/lessons/l-a1',
        body: { online: false },
        status: 403,
      },
      // B's admin key: A's journals are not in B's roster.
      { who: 'B admin', key: b.admin, method: 'GET', url: `/journals/${j2}/call`, status: 404 },
      {
        who: 'B admin',
        key: b.admin,
        method: 'POST',
        url: `/journals/${j2}/call/end`,
        status: 404,
      },
    ];

    for (const attempt of attempts) {
      const res = await h.request({
        method: attempt.method,
        url: attempt.url,
        key: attempt.key,
        ...(attempt.body === undefined ? {} : { payload: attempt.body }),
      });
      const what = `${attempt.who}: ${attempt.method} ${attempt.url}`;
      assert.equal(res.statusCode, attempt.status, `${what} → ${res.statusCode} ${res.body}`);
      for (const link of links) assert.ok(!res.body.includes(link), `${what} revealed a join link`);
      t.diagnostic(
        `${what} → ${res.statusCode} ${res.json<{ error: { code: string } }>().error.code}`,
      );
    }

    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await dbSnapshot(h.db), before.db, 'a refused request changed MongoDB');
    assert.equal(
      emulatorFootprint(h.stack),
      before.platform,
      'a refused request reached the platform',
    );
    assert.deepEqual(
      await historyLengths(h.stack, watched),
      before.histories,
      'a refused request reached a workflow',
    );

    // The running calls are untouched and their own teachers still see their links.
    const own: [string, string, string][] = [
      [a.teachers['t-a1'] ?? '', j1, linkA1],
      [a.teachers['t-a2'] ?? '', j2, linkA2],
      [b.teachers['t-b2'] ?? '', jb2, linkB2],
    ];
    for (const [key, journalId, link] of own) {
      const res = await h.request({ method: 'GET', url: `/journals/${journalId}/call`, key });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json<{ running: { joinLink: string } | null }>().running?.joinLink, link);
    }
    const active = h.stack.emulator.snapshot().calls.filter((c) => c.status === 'active');
    assert.equal(active.length, 3, 'a call was ended');
    t.diagnostic(
      `${attempts.length} attempts refused; MongoDB, ${watched.length} workflow histories and the emulator (${(JSON.parse(before.platform) as { requests: number }).requests} requests) unchanged; 3 calls still running`,
    );

    // IDs are per school: B's own `j-1` (the ID A's running journal has too) gets a workflow and a
    // call of its own, and A's `j-1` goes on as it was.
    const linkB1 = await startCall(h, tb1, j1, 'lb-1');
    assert.notEqual(linkB1, linkA1);
    const [ownA1, ownB1] = await Promise.all(
      [ta1, tb1].map((key) => h.request({ method: 'GET', url: `/journals/${j1}/call`, key })),
    );
    assert.equal(ownA1?.json<{ running: { joinLink: string } }>().running.joinLink, linkA1);
    assert.equal(ownB1?.json<{ running: { joinLink: string } }>().running.joinLink, linkB1);
    const after = await historyLengths(h.stack, watched);
    assert.equal(
      after[journalWorkflow(a.schoolId, j1)],
      before.histories[journalWorkflow(a.schoolId, j1)],
    );
    assert.notEqual(after[journalWorkflow(b.schoolId, j1)], 'absent');
  });
});
