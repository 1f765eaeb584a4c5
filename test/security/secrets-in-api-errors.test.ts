import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { useServices } from '../support/services';
import {
  findLeak,
  mskDate,
  schoolRoster,
  seedSchool,
  withSecurityApi,
  type SchoolCredentials,
  type SecurityHarness,
} from './support';
import { until } from '../support/until';

/**
 * §7 / S1 / S2: community tokens and proxy passwords never appear in an API response, error or
 * not. test/integration/secrets-leak.test.ts greps workflow histories, logs and MongoDB; this
 * drill greps what the API answers. Recognisable secrets are planted in the settings of two
 * schools whose VK calls go through a real proxy with Basic auth to a platform that misbehaves on
 * purpose: it echoes the caller's token in its error messages, in `request_params` and in a 502
 * page. School X's `calls.start` fails that way (a 502, then error 100), so the failure reaches
 * the journal's state and the audit; school Y's token is refused with error 5, so the failure
 * blocks its sync and reaches its status. Then the API is sent bad settings, broken JSON, the
 * wrong content type, oversized and deeply nested bodies, bad URLs and credentials, all carrying
 * the secrets. Every response body and header, and every line the API logged, is searched for
 * each secret and for every 10-character piece of it.
 */

const services = useServices();

type ProxyServer = Server & {
  authenticate?: ((req: IncomingMessage) => boolean | Promise<boolean>) | 'negotiate' | undefined;
};

/** A real HTTP proxy (the `proxy` package) that wants Basic credentials. */
async function startProxy(user: string, password: string) {
  const { createProxy } = await import('proxy');
  const server: ProxyServer = createProxy(createServer());
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const counts = { tunnels: 0 };
  server.on('connect', () => counts.tunnels++);
  server.authenticate = (req: IncomingMessage) => req.headers['proxy-authorization'] === expected;
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

/**
 * The platform as a careless one would answer: it forwards to the emulator, except that it
 * fails the calls it is told to and puts the caller's token into everything it says about it.
 */
async function startLeakyPlatform(rules: { failCallsStart: Set<string>; refuse: Set<string> }) {
  let target = '';
  const counts = { leakedErrors: 0, forwarded: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString('utf8'));
      const token = params.get('access_token') ?? '';
      const method = (req.url ?? '').replace(/^\/method\//, '').split('?')[0] ?? '';
      const echo = [
        { key: 'method', value: method },
        { key: 'access_token', value: token },
        { key: 'token', value: token },
        ...[...params].map(([key, value]) => ({ key, value })),
      ];
      const leak = (code: number, text: string) => {
        counts.leakedErrors++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: {
              error_code: code,
              error_msg: `${text}: access_token=${token}`,
              request_params: echo,
            },
          }),
        );
      };
      if (rules.refuse.has(token))
        return leak(5, `User authorization failed: invalid token ${token}`);
      if (method === 'calls.start' && rules.failCallsStart.has(token)) {
        rules.failCallsStart.delete(token);
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end(
          `<html><body><h1>502 Bad Gateway</h1><pre>POST ${req.url} access_token=${token}</pre></body></html>`,
        );
        return;
      }
      if (method === 'calls.start')
        return leak(100, `One of the parameters specified was missing or invalid: ${token}`);
      counts.forwarded++;
      const upstream = httpRequest(
        `${target}${req.url ?? ''}`,
        { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? '' } },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    setTarget: (url: string) => void (target = url),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Probe {
  readonly what: string;
  readonly method: 'GET' | 'PUT' | 'POST' | 'PATCH';
  readonly url: string;
  readonly key?: string;
  readonly headers?: Record<string, string>;
  readonly payload?: string;
  /** The status expected, or a range. */
  readonly status: number | readonly [number, number];
}

async function saveSettings(
  h: SecurityHarness,
  school: SchoolCredentials,
  proxy: { port: number; user: string; password: string },
): Promise<void> {
  const res = await h.request({
    method: 'PUT',
    url: `/schools/${school.schoolId}/settings`,
    key: school.admin,
    payload: {
      communityId: school.communityId,
      token: school.token,
      proxy: {
        server: '127.0.0.1',
        port: proxy.port,
        username: proxy.user,
        password: proxy.password,
        auth: true,
      },
    },
  });
  assert.equal(res.statusCode, 200, res.body);
}

void test('§7 S1 S2: planted tokens and proxy passwords appear in no API response (errors, refusals, status, audit) and no API log line, even when the platform echoes them', async (t) => {
  const sfx = randomBytes(3).toString('hex');
  const tokenX = `PLANTEDTOKENX-${randomBytes(20).toString('hex')}`;
  const tokenY = `PLANTEDTOKENY-${randomBytes(20).toString('hex')}`;
  const proxyUser = `proxy-user-${sfx}`;
  const proxyPassword = `PLANTEDPROXYPASS${randomBytes(12).toString('hex')}`;
  const basic = Buffer.from(`${proxyUser}:${proxyPassword}`).toString('base64');
  const secrets = { tokenX, tokenY, proxyPassword, basic };

  const proxy = await startProxy(proxyUser, proxyPassword);
  const platform = await startLeakyPlatform({
    failCallsStart: new Set([tokenX]),
    refuse: new Set([tokenY]),
  });
  try {
    await withSecurityApi(
      services(),
      async (h) => {
        platform.setTarget(h.stack.emulator.url);
        const [jx1, jx2] = [`sj-1-${sfx}`, `sj-2-${sfx}`];
        const x = await seedSchool(h, {
          communityId: 9301,
          token: tokenX,
          roster: schoolRoster({
            schoolId: `secx-${sfx}`,
            journals: [jx1, jx2],
            teachers: ['t-1', 't-2'],
            lessons: ['l-1', 'l-2'],
            vkBase: 740_000,
          }),
        });
        const y = await seedSchool(h, {
          communityId: 9302,
          token: tokenY,
          roster: schoolRoster({
            schoolId: `secy-${sfx}`,
            journals: [`sjy-1-${sfx}`, `sjy-2-${sfx}`],
            teachers: ['t-1', 't-2'],
            lessons: ['l-1', 'l-2'],
            vkBase: 750_000,
          }),
        });
        const proxySettings = { port: proxy.port, user: proxyUser, password: proxyPassword };
        await saveSettings(h, x, proxySettings);
        await saveSettings(h, y, proxySettings);

        // X syncs through the proxy and the platform; Y's token is refused and its sync blocks.
        await until(
          'the first sync of X',
          async () => {
            const s = await h.stack.gateway.syncStatus(x.schoolId).catch(() => null);
            return s?.lastRun !== null && s?.state === 'idle';
          },
          180_000,
        );
        const blocked = await until(
          'Y blocked by the refused token',
          async () => {
            const s = await h.stack.gateway.syncStatus(y.schoolId).catch(() => null);
            return s?.blocked?.reason === 'auth' ? s : null;
          },
          180_000,
        );
        assert.match(blocked.blocked?.message ?? '', /MessengerAuth|authori/i);
        assert.ok(proxy.counts.tunnels > 0, 'the calls did not go through the proxy');

        // X's journal button: calls.start answers a 502 page, then error 100, each with the token.
        const teacher = x.teachers['t-1'] ?? '';
        const start = await h.request({
          method: 'POST',
          url: `/journals/${jx1}/call/start`,
          key: teacher,
          payload: { lessonId: 'l-1' },
        });
        assert.equal(start.statusCode, 409, start.body);
        assert.equal(start.json<{ reason: string }>().reason, 'platformError');
        const state = await h.request({
          method: 'GET',
          url: `/journals/${jx1}/call`,
          key: teacher,
        });
        assert.match(
          state.json<{ lastError: string | null }>().lastError ?? '',
          /MessengerBadRequest/,
        );
        assert.ok(platform.counts.leakedErrors >= 2, 'the platform never echoed a token');

        const today = mskDate(Date.now());
        const deep = '{"token":'.repeat(50_000) + JSON.stringify(tokenX) + '}'.repeat(50_000);
        const settingsUrl = `/schools/${x.schoolId}/settings`;
        const asJson = { 'content-type': 'application/json' };
        const settingsWith = (fields: Record<string, unknown>) =>
          JSON.stringify({ communityId: x.communityId, token: tokenX, ...fields });
        const probes: Probe[] = [
          // Where a failing platform call surfaces.
          {
            what: 'school status of the blocked school',
            method: 'GET',
            url: `/schools/${y.schoolId}/status`,
            key: y.admin,
            status: 200,
          },
          {
            what: 'school status of the school whose call failed',
            method: 'GET',
            url: `/schools/${x.schoolId}/status`,
            key: x.admin,
            status: 200,
          },
          {
            what: 'sync now on the blocked school',
            method: 'POST',
            url: `/schools/${y.schoolId}/sync`,
            key: y.admin,
            status: 200,
          },
          {
            what: 'journal call state after the failed start',
            method: 'GET',
            url: `/journals/${jx1}/call`,
            key: teacher,
            status: 200,
          },
          {
            what: 'journal lessons',
            method: 'GET',
            url: `/journals/${jx1}/lessons`,
            key: teacher,
            status: 200,
          },
          {
            what: 'the failed start again',
            method: 'POST',
            url: `/journals/${jx1}/call/start`,
            key: teacher,
            headers: asJson,
            payload: '{"lessonId":"l-1"}',
            status: 409,
          },
          {
            what: 'end with no call running',
            method: 'POST',
            url: `/journals/${jx1}/call/end`,
            key: teacher,
            status: 409,
          },
          {
            what: 'people without a VK ID',
            method: 'GET',
            url: `/schools/${y.schoolId}/no-vk-id`,
            key: y.admin,
            status: 200,
          },
          {
            what: 'audit (JSON) over the failed start',
            method: 'GET',
            url: `/schools/${x.schoolId}/audit?from=${today}`,
            key: x.admin,
            status: [200, 500],
          },
          {
            what: 'audit (text)',
            method: 'GET',
            url: `/schools/${x.schoolId}/audit?from=${today}&format=text`,
            key: x.admin,
            status: [200, 500],
          },
          {
            what: 'audit (CSV)',
            method: 'GET',
            url: `/schools/${x.schoolId}/audit?from=${today}&format=csv`,
            key: x.admin,
            status: [200, 500],
          },
          { what: 'settings as saved', method: 'GET', url: settingsUrl, key: x.admin, status: 200 },
          {
            what: 'settings of the blocked school',
            method: 'GET',
            url: `/schools/${y.schoolId}/settings`,
            key: y.admin,
            status: 200,
          },
          // Bad settings carrying the secrets in their own fields.
          {
            what: 'a token over 512 characters',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ token: tokenX.repeat(12) }),
            status: 400,
          },
          {
            what: 'a token in the community ID',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ communityId: tokenX }),
            status: 400,
          },
          {
            what: 'a token as the period',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ period: tokenX }),
            status: 400,
          },
          {
            what: 'a token as the removal threshold',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ removalThreshold: tokenX }),
            status: 400,
          },
          {
            what: 'a token under a misspelled key',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ acces_token: tokenX }),
            status: 400,
          },
          {
            what: 'a token of the wrong type (array)',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ token: [tokenX] }),
            status: 400,
          },
          {
            what: 'a proxy password over 255 characters',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({
              proxy: {
                server: 'p',
                port: 1,
                username: 'u',
                password: proxyPassword.repeat(10),
                auth: true,
              },
            }),
            status: 400,
          },
          {
            what: 'a proxy password with a bad port',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({
              proxy: {
                server: 'p',
                port: proxyPassword,
                username: 'u',
                password: proxyPassword,
                auth: true,
              },
            }),
            status: 400,
          },
          {
            what: 'a proxy password under a misspelled key',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({
              proxy: { server: 'p', port: 1, auth: true, username: 'u', pasword: proxyPassword },
            }),
            status: 400,
          },
          {
            what: 'a proxy password as the proxy server (too long)',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({
              proxy: { server: proxyPassword.repeat(10), port: 1, auth: false },
            }),
            status: 400,
          },
          {
            what: 'a proxy password of the wrong type (object)',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({
              proxy: {
                server: 'p',
                port: 1,
                username: 'u',
                password: { secret: proxyPassword },
                auth: true,
              },
            }),
            status: 400,
          },
          // Bodies that cannot be told apart field by field.
          {
            what: 'the bare token as a JSON body',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: tokenX,
            status: 400,
          },
          {
            what: 'a JSON body cut after the token',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: `{"communityId":1,"token":"${tokenX}"`,
            status: 400,
          },
          {
            what: 'an unquoted token',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: `{"token":${tokenX}}`,
            status: 400,
          },
          {
            what: 'an unterminated token string',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: `{"token":"${tokenX}`,
            status: 400,
          },
          {
            what: 'a trailing comma after the proxy password',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: `{"proxy":{"password":"${proxyPassword}",}}`,
            status: 400,
          },
          {
            what: 'the token form-encoded',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            payload: `communityId=1&token=${tokenX}`,
            status: 415,
          },
          {
            what: 'the token as text',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: { 'content-type': 'text/plain' },
            payload: tokenX,
            status: 415,
          },
          {
            what: 'the token as the content type',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: { 'content-type': `application/${tokenX}` },
            payload: '{}',
            status: 415,
          },
          {
            what: 'the token in an oversized body',
            method: 'PUT',
            url: settingsUrl,
            key: x.admin,
            headers: asJson,
            payload: settingsWith({ pad: tokenX.repeat(30_000) }),
            status: 413,
          },
          {
            what: 'the token 50,000 levels deep (roster route)',
            method: 'POST',
            url: `/schools/${x.schoolId}/roster`,
            key: x.admin,
            headers: asJson,
            payload: deep,
            status: 400,
          },
          {
            what: 'the token in a roster of the wrong shape',
            method: 'POST',
            url: `/schools/${x.schoolId}/roster`,
            key: x.admin,
            headers: asJson,
            payload: JSON.stringify({
              school: { id: x.schoolId, name: 1, timeZone: tokenX },
              staff: tokenX,
            }),
            status: 400,
          },
          {
            what: 'the token in a study profile',
            method: 'POST',
            url: `/schools/${x.schoolId}/vk-links`,
            key: x.admin,
            headers: asJson,
            payload: JSON.stringify({
              action: 'link',
              personKind: 'staff',
              personId: 't-1',
              vkId: 1,
              profile: {
                firstName: 'A',
                lastName: 'B',
                birthday: tokenX,
                gender: tokenX,
                photoUrl: tokenX,
              },
            }),
            status: 400,
          },
          {
            what: 'the token as a lesson status',
            method: 'PATCH',
            url: '/lessons/l-1',
            key: teacher,
            headers: asJson,
            payload: JSON.stringify({ status: tokenX }),
            status: 400,
          },
          {
            what: 'the token as an audit date and format',
            method: 'GET',
            url: `/schools/${x.schoolId}/audit?from=${tokenX}&format=${tokenX}`,
            key: x.admin,
            status: 400,
          },
          // URLs and credentials.
          {
            what: 'the token in a URL that does not decode',
            method: 'GET',
            url: `/schools/%E0%A4%A${tokenX}/settings`,
            key: x.admin,
            status: 400,
          },
          {
            what: 'the token as a school ID in the path',
            method: 'GET',
            url: `/schools/${tokenX}/status`,
            key: x.admin,
            status: 403,
          },
          {
            what: 'the token as a journal ID in the path',
            method: 'GET',
            url: `/journals/${tokenX}/call`,
            key: teacher,
            status: 403,
          },
          {
            what: 'the token in an unknown route',
            method: 'GET',
            url: `/${tokenX}`,
            key: x.admin,
            status: 404,
          },
          {
            what: 'the token in the query string',
            method: 'GET',
            url: `${settingsUrl}?access_token=${tokenX}`,
            key: x.admin,
            status: 200,
          },
          {
            what: 'the community token as the API credential',
            method: 'GET',
            url: settingsUrl,
            key: tokenX,
            status: 401,
          },
          {
            what: 'the proxy password as the API credential',
            method: 'GET',
            url: settingsUrl,
            key: proxyPassword,
            status: 401,
          },
          {
            what: 'the token in a malformed Authorization header',
            method: 'GET',
            url: settingsUrl,
            headers: { authorization: `Basic ${tokenX}` },
            status: 401,
          },
        ];

        for (const p of probes) {
          const res = await h.request({
            method: p.method,
            url: p.url,
            ...(p.key === undefined ? {} : { key: p.key }),
            ...(p.headers === undefined ? {} : { headers: p.headers }),
            ...(p.payload === undefined ? {} : { payload: p.payload }),
          });
          const [low, high] = typeof p.status === 'number' ? [p.status, p.status] : p.status;
          assert.ok(
            res.statusCode >= low && res.statusCode <= high,
            `${p.what}: ${p.method} ${p.url.slice(0, 80)} → ${res.statusCode} ${res.body.slice(0, 300)}`,
          );
          const leak = findLeak(`${res.body}\n${JSON.stringify(res.headers)}`, secrets);
          assert.equal(
            leak,
            null,
            `${p.what}: the response carries ${leak?.name} ("${leak?.window}")`,
          );
          t.diagnostic(`${p.what} → ${res.statusCode}, ${res.body.length} bytes, no secret`);
        }

        // Everything the API answered in this test, the settings saves and the button included.
        for (const r of h.responses) {
          const leak = findLeak(`${r.body}\n${r.headers}`, secrets);
          assert.equal(
            leak,
            null,
            `${r.method} ${r.url.slice(0, 80)} → ${r.status} carries ${leak?.name}`,
          );
        }
        const logs = h.logs();
        assert.ok(/incoming request/.test(logs), 'the API logs were not captured');
        const leakingLine = logs.split('\n').find((line) => findLeak(line, secrets) !== null);
        assert.equal(leakingLine, undefined, 'a log line carries a secret');
        t.diagnostic(
          `${h.responses.length} API responses and ${logs.split('\n').length} log lines searched for ${Object.keys(secrets).length} secrets and every 10-character piece of them; the platform echoed a token ${platform.counts.leakedErrors} times, ${proxy.counts.tunnels} proxy tunnels`,
        );
      },
      { vkBaseUrl: () => platform.url },
    );
  } finally {
    await platform.close();
    await proxy.close();
  }
});
