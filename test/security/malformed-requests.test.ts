import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { errorBodySchema, MAX_LISTED_FIELDS } from '../../src/api/errors';
import { MAX_JSON_DEPTH } from '../../src/api/json-body';
import { BODY_LIMIT } from '../../src/api/server';
import { MAX_ROSTER_ISSUES } from '../../src/domain/roster-validation';
import { bearer, SCHOOL_ID, withApi } from '../api/support';
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
} from './support';
import { until } from '../support/until';

/**
 * §7: bad input gets a clear 4xx and changes nothing. Every mutating route (and the roster
 * import) gets a body over its limit, JSON nested a hundred thousand levels, wrong types, unknown
 * fields, broken JSON, the wrong content type, an empty body and a prototype-pollution attempt,
 * while a school has a running sync workflow and a running call. Afterwards MongoDB, the
 * workflows' histories and the platform are exactly as before. A second drill measures that the
 * server keeps answering while it refuses the most expensive bodies it can be sent.
 */

const services = useServices();

const MIB = 1024 * 1024;
const ROSTER_LIMIT = 16 * MIB;
const JSON_TYPE = { 'content-type': 'application/json' };

interface Case {
  readonly what: string;
  readonly payload?: string;
  readonly headers?: Record<string, string>;
  readonly status: number;
  /** Field paths the error must name, in any order; omitted: no `fields` are checked. */
  readonly fields?: readonly string[];
}

interface Route {
  readonly name: string;
  readonly method: 'PUT' | 'POST' | 'PATCH';
  readonly url: string;
  readonly key: string;
  readonly roster: boolean;
  /** A body with fields of the wrong type, and the fields the error must name. */
  readonly wrongTypes: { body: unknown; fields: readonly string[] };
  /** A body with fields the route does not know, and the fields the error must name. */
  readonly unknownFields: { body: unknown; fields: readonly string[] };
}

const nestedArrays = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const nestedObjects = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

/** The malformations every route gets, with the answer each must give on that route. */
function casesFor(route: Route): Case[] {
  const limit = route.roster ? ROSTER_LIMIT : BODY_LIMIT;
  const padded = (bytes: number) => JSON.stringify({ pad: 'x'.repeat(bytes) });
  const cases: Case[] = [
    { what: 'a body one byte over the limit', payload: padded(limit), status: 413 },
    {
      what: 'JSON nested 100,000 levels (arrays)',
      payload: nestedArrays(100_000),
      status: route.roster ? 400 : 413,
    },
    {
      what: 'JSON nested 100,000 levels (objects)',
      payload: nestedObjects(100_000),
      status: route.roster ? 400 : 413,
    },
    {
      what: `JSON nested ${MAX_JSON_DEPTH + 1} levels, inside the size limit`,
      payload: nestedObjects(MAX_JSON_DEPTH + 1),
      status: 400,
    },
    {
      what: 'JSON nested 30,000 levels, inside the size limit',
      payload: nestedArrays(30_000),
      status: 400,
    },
    {
      what: 'wrong types',
      payload: JSON.stringify(route.wrongTypes.body),
      status: 400,
      fields: route.wrongTypes.fields,
    },
    {
      what: 'unknown fields',
      payload: JSON.stringify(route.unknownFields.body),
      status: 400,
      fields: route.unknownFields.fields,
    },
    { what: 'invalid JSON', payload: '{"lessonId": "l-1", ', status: 400 },
    { what: 'a JSON array instead of an object', payload: '[]', status: 400, fields: ['(root)'] },
    { what: 'a JSON string instead of an object', payload: '"x"', status: 400, fields: ['(root)'] },
    { what: 'an empty body declared as JSON', payload: '', status: 400 },
    { what: '__proto__ pollution', payload: '{"__proto__":{"isAdmin":true}}', status: 400 },
    {
      what: 'constructor.prototype pollution',
      payload: '{"constructor":{"prototype":{"isAdmin":true}}}',
      status: 400,
    },
    {
      what: 'a form-encoded body',
      payload: 'lessonId=l-1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
    },
    { what: 'a text body', payload: '{}', headers: { 'content-type': 'text/plain' }, status: 415 },
    {
      what: 'a multipart body',
      payload: '--b\r\n\r\n--b--',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      status: 415,
    },
    {
      what: 'a body without a content type',
      payload: '{}',
      headers: { 'content-type': '' },
      status: 415,
    },
  ];
  if (route.roster) {
    // Inside the roster limit a megabyte is not too large: it is refused for what it says.
    cases.push({
      what: 'a 1 MiB+ body inside the roster limit',
      payload: padded(MIB + 1),
      status: 400,
      fields: ['pad'],
    });
    cases.push({
      what: 'JSON nested 1,000,000 levels',
      payload: nestedArrays(1_000_000),
      status: 400,
    });
  } else {
    cases.push({ what: 'a 1 MiB+ body', payload: padded(MIB + 1), status: 413 });
  }
  return cases;
}

void test('§7: malformed and oversized requests on every mutating route get a clear 4xx naming the field and change nothing', async (t) => {
  await withSecurityApi(services(), async (h) => {
    const sfx = randomBytes(3).toString('hex');
    const [j1, j2] = [`mj-1-${sfx}`, `mj-2-${sfx}`];
    const roster = schoolRoster({
      schoolId: `mal-${sfx}`,
      journals: [j1, j2],
      teachers: ['t-1', 't-2'],
      lessons: ['l-1', 'l-2'],
      vkBase: 730_000,
    });
    const school = await seedSchool(h, { roster, communityId: 9201 });
    const s = school.schoolId;
    const saved = await h.request({
      method: 'PUT',
      url: `/schools/${s}/settings`,
      key: school.admin,
      payload: { communityId: school.communityId, token: school.token },
    });
    assert.equal(saved.statusCode, 200, saved.body);
    await until(
      'the first sync',
      async () => {
        const status = await h.stack.gateway.syncStatus(s).catch(() => null);
        return status?.lastRun !== null && status?.state === 'idle';
      },
      180_000,
    );
    const t1 = school.teachers['t-1'] ?? '';
    const t2 = school.teachers['t-2'] ?? '';
    const started = await h.request({
      method: 'POST',
      url: `/journals/${j1}/call/start`,
      key: t1,
      payload: { lessonId: 'l-1' },
    });
    assert.equal(started.statusCode, 200, started.body);
    const lesson = roster.lessons[0];
    assert.ok(lesson);
    const routes: Route[] = [
      {
        name: 'PUT settings',
        method: 'PUT',
        url: `/schools/${s}/settings`,
        key: school.admin,
        roster: false,
        wrongTypes: {
          body: { communityId: '9201', token: 12345, enabled: 'yes' },
          fields: ['communityId', 'token', 'enabled'],
        },
        unknownFields: {
          body: {
            communityId: 9201,
            token: 'vk1.a.valid-looking-token',
            acces_token: 'misspelled',
            proxy: { server: 'proxy.local', port: 3128, auth: false, pasword: 'x' },
          },
          fields: ['acces_token', 'proxy.pasword'],
        },
      },
      {
        name: 'POST roster',
        method: 'POST',
        url: `/schools/${s}/roster`,
        key: school.admin,
        roster: true,
        wrongTypes: {
          body: { ...roster, students: 'all of them', lessons: [{ ...lesson, number: 'two' }] },
          fields: ['students', 'lessons[0].number'],
        },
        unknownFields: { body: { ...roster, studnets: [] }, fields: ['studnets'] },
      },
      {
        name: 'POST roster/changes',
        method: 'POST',
        url: `/schools/${s}/roster/changes`,
        key: school.admin,
        roster: true,
        wrongTypes: {
          body: {
            schoolId: s,
            upsert: { lessons: [{ ...lesson, online: 'yes' }] },
            remove: { students: [7] },
          },
          fields: ['upsert.lessons[0].online', 'remove.students[0]'],
        },
        unknownFields: { body: { schoolId: s, upserts: { lessons: [] } }, fields: ['upserts'] },
      },
      {
        name: 'POST vk-links',
        method: 'POST',
        url: `/schools/${s}/vk-links`,
        key: school.admin,
        roster: false,
        wrongTypes: {
          body: { action: 'unlink', personKind: 'staff', personId: 42 },
          fields: ['personId'],
        },
        unknownFields: {
          body: { action: 'unlink', personKind: 'staff', personId: 't-1', reason: 'left' },
          fields: ['reason'],
        },
      },
      {
        name: 'POST sync',
        method: 'POST',
        url: `/schools/${s}/sync`,
        key: school.admin,
        roster: false,
        wrongTypes: { body: [1], fields: ['(root)'] },
        unknownFields: { body: { force: true }, fields: ['force'] },
      },
      {
        name: 'POST plans/:planId/approve',
        method: 'POST',
        url: `/schools/${s}/plans/plan-x/approve`,
        key: school.admin,
        roster: false,
        wrongTypes: { body: 'approve', fields: ['(root)'] },
        unknownFields: { body: { approvedBy: 'someone' }, fields: ['approvedBy'] },
      },
      {
        name: 'POST call/start',
        method: 'POST',
        url: `/journals/${j2}/call/start`,
        key: t2,
        roster: false,
        wrongTypes: { body: { lessonId: 2 }, fields: ['lessonId'] },
        unknownFields: { body: { lessonId: 'l-2', force: true }, fields: ['force'] },
      },
      {
        name: 'POST call/end',
        method: 'POST',
        url: `/journals/${j1}/call/end`,
        key: t1,
        roster: false,
        wrongTypes: { body: [], fields: ['(root)'] },
        unknownFields: { body: { lessonId: 'l-1' }, fields: ['lessonId'] },
      },
      {
        name: 'PATCH lessons/:id',
        method: 'PATCH',
        url: '/lessons/l-1',
        key: t1,
        roster: false,
        wrongTypes: { body: { online: 'no', status: 1 }, fields: ['online', 'status'] },
        unknownFields: { body: { online: false, date: '2027-01-01' }, fields: ['date'] },
      },
    ];

    const watched = [schoolWorkflow(s), journalWorkflow(s, j1), journalWorkflow(s, j2)];
    await new Promise((r) => setTimeout(r, 1000));
    const before = {
      db: await dbSnapshot(h.db),
      platform: emulatorFootprint(h.stack),
      histories: await historyLengths(h.stack, watched),
    };

    let count = 0;
    for (const route of routes) {
      for (const c of casesFor(route)) {
        const started = Date.now();
        const res = await h.request({
          method: route.method,
          url: route.url,
          key: route.key,
          headers: { ...JSON_TYPE, ...c.headers },
          ...(c.payload === undefined ? {} : { payload: c.payload }),
        });
        const ms = Date.now() - started;
        const what = `${route.name}: ${c.what}`;
        assert.equal(
          res.statusCode,
          c.status,
          `${what} → ${res.statusCode} ${res.body.slice(0, 400)}`,
        );
        const parsed = errorBodySchema.safeParse(JSON.parse(res.body));
        assert.ok(parsed.success, `${what}: not the one error shape: ${res.body.slice(0, 400)}`);
        const { code, message, fields = [] } = parsed.data.error;
        const paths = fields.map((f) => f.path);
        for (const field of c.fields ?? []) {
          assert.ok(
            paths.includes(field),
            `${what}: the error does not name ${field}: ${res.body}`,
          );
        }
        t.diagnostic(
          `${what} → ${res.statusCode} ${code}: ${message}${paths.length > 0 ? ` [${paths.join(', ')}]` : ''} (${ms} ms)`,
        );
        count++;
      }
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
    t.diagnostic(
      `${count} malformed requests on ${routes.length} routes refused; MongoDB, ${watched.length} workflow histories and the platform unchanged`,
    );
  });
});

void test('§7: the server stays responsive while it refuses the costliest bodies it can be sent (deep nesting, a million broken records)', async (t) => {
  await withApi(services().mongoUri, async (h) => {
    const address = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const admin = bearer(h.adminKey);
    const hostile: { what: string; url: string; payload: string; status: number }[] = [
      {
        what: 'roster nested 8,000,000 levels (16 MB)',
        url: `/schools/${SCHOOL_ID}/roster`,
        payload: nestedArrays(8_000_000),
        status: 400,
      },
      {
        what: 'roster of 1,000,000 empty students (3 MB)',
        url: `/schools/${SCHOOL_ID}/roster`,
        payload: `{"school":{"id":"${SCHOOL_ID}","name":"x"},"students":[${Array<string>(1_000_000).fill('{}').join(',')}]}`,
        status: 400,
      },
      {
        what: 'change set removing 1,000,000 malformed IDs (2 MB)',
        url: `/schools/${SCHOOL_ID}/roster/changes`,
        payload: `{"schoolId":"${SCHOOL_ID}","remove":{"students":[${Array<string>(1_000_000).fill('1').join(',')}]}}`,
        status: 400,
      },
      {
        what: 'a template with a grid of 1,000,000 rows (3 MB)',
        url: `/schools/${SCHOOL_ID}/roster`,
        payload: `{"school":{"id":"${SCHOOL_ID}","name":"x"},"templates":[{"id":"t","validFrom":null,"validTo":null,"sendToPortal":true,"entries":[],"grid":[${Array<string>(1_000_000).fill('{}').join(',')}]}]}`,
        status: 400,
      },
      {
        what: 'settings with 5,000 unknown fields (64 KiB)',
        url: `/schools/${SCHOOL_ID}/settings`,
        payload: JSON.stringify(
          Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`f${i}`, 1])),
        ),
        status: 400,
      },
    ];

    for (const attack of hostile) {
      let probes = 0;
      let worst = 0;
      let polling = true;
      // The server shares this process's event loop: its longest stall is how long every other
      // request would have waited, whether or not a probe was in flight at that moment.
      const stalls = monitorEventLoopDelay({ resolution: 5 });
      stalls.enable();
      const poll = (async () => {
        while (polling) {
          const sent = Date.now();
          const res = await fetch(`${address}/healthz`);
          await res.arrayBuffer();
          worst = Math.max(worst, Date.now() - sent);
          probes++;
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const sent = Date.now();
      const res = await fetch(`${address}${attack.url}`, {
        method: attack.url.endsWith('/settings') ? 'PUT' : 'POST',
        headers: { ...admin, ...JSON_TYPE },
        body: attack.payload,
      });
      const body = await res.text();
      const took = Date.now() - sent;
      polling = false;
      await poll;
      stalls.disable();
      const stall = Math.round(stalls.max / 1e6);
      assert.equal(
        res.status,
        attack.status,
        `${attack.what} → ${res.status} ${body.slice(0, 300)}`,
      );
      const fields = errorBodySchema.parse(JSON.parse(body)).error.fields ?? [];
      assert.ok(fields.length <= MAX_LISTED_FIELDS + 1, 'the reply lists too many errors');
      if (attack.url.includes('/roster')) {
        assert.ok(fields.length <= MAX_ROSTER_ISSUES + 1, 'the importer did not stop early');
        if (fields.length > MAX_ROSTER_ISSUES) {
          assert.match(fields.at(-1)?.message ?? '', /validation stopped/);
        }
      }
      assert.ok(body.length < 100_000, `${attack.what}: a ${body.length}-byte reply`);
      // Two shared cores under other load: bounds generous enough not to flake, tight enough that
      // the old behaviour (seconds to minutes, then out of memory) fails them.
      assert.ok(took < 5_000, `${attack.what} took ${took} ms`);
      assert.ok(worst < 3_000, `/healthz waited ${worst} ms during ${attack.what}`);
      assert.ok(stall < 3_000, `the event loop stalled ${stall} ms during ${attack.what}`);
      t.diagnostic(
        `${attack.what} → ${res.status} in ${took} ms, reply ${body.length} bytes; /healthz answered ${probes} times meanwhile, slowest ${worst} ms; longest event-loop stall ${stall} ms`,
      );
    }
    assert.equal((await fetch(`${address}/healthz`)).status, 200);
  });
});
