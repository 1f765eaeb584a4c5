import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bearer, mongoServer, SCHOOL_ID, withApi, type ApiHarness } from './support';

/**
 * The audit endpoint's edges: who may call it and what input it takes. What the audit finds is
 * proven by test/workflow/audit.test.ts on replayed histories.
 */
const mongo = mongoServer();
before(() => mongo.start());
after(() => mongo.stop());

const run = (fn: (h: ApiHarness) => Promise<void>) => () => withApi(mongo.uri, fn);

test(
  'audit: the school admin reads an empty archive as an empty report, in JSON, CSV and text',
  run(async ({ app, adminKey }) => {
    const url = `/schools/${SCHOOL_ID}/audit?from=2026-12-01&to=2026-12-02`;
    const json = await app.inject({ method: 'GET', url, headers: bearer(adminKey) });
    assert.equal(json.statusCode, 200, json.body);
    const body = JSON.parse(json.body) as { failures: unknown[] };
    assert.deepEqual(body.failures, []);
    const csv = await app.inject({
      method: 'GET',
      url: `${url}&format=csv`,
      headers: bearer(adminKey),
    });
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-type']), /text\/csv/);
    const text = await app.inject({
      method: 'GET',
      url: `${url}&format=text`,
      headers: bearer(adminKey),
    });
    assert.equal(text.statusCode, 200);
    assert.match(String(text.headers['content-type']), /text\/plain/);
  }),
);

test(
  'audit: bad dates and over-long ranges are 400 naming the field',
  run(async ({ app, adminKey }) => {
    const bad = await app.inject({
      method: 'GET',
      url: `/schools/${SCHOOL_ID}/audit?from=yesterday`,
      headers: bearer(adminKey),
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /from/);
    const long = await app.inject({
      method: 'GET',
      url: `/schools/${SCHOOL_ID}/audit?from=2025-01-01&to=2026-12-01`,
      headers: bearer(adminKey),
    });
    assert.equal(long.statusCode, 400);
    assert.match(long.body, /"path":"to"/);
  }),
);

test(
  'audit: no key is 401, a teacher or another school is 403',
  run(async ({ app, teacher1, otherSchoolAdminKey }) => {
    const url = `/schools/${SCHOOL_ID}/audit?from=2026-12-01`;
    assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401);
    assert.equal(
      (await app.inject({ method: 'GET', url, headers: bearer(teacher1) })).statusCode,
      403,
    );
    assert.equal(
      (await app.inject({ method: 'GET', url, headers: bearer(otherSchoolAdminKey) })).statusCode,
      403,
    );
  }),
);
