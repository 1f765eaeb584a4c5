import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseProxyText, type ProxyTextResult } from '../../src/contracts/proxy-text';
import { proxySettingsSchema, schoolSettingsInputSchema } from '../../src/contracts/settings';

const SECRET = 'pa=ss-w0rd secret';

/** The manual's five lines, as an operator pastes them (Windows line ends, spaces around). */
const manualText = [
  'proxy_server=proxy.school.local',
  'proxy_port=3128 ',
  'proxy_username=school',
  `proxy_password=${SECRET}`,
  'proxy_auth=1',
  '',
].join('\r\n');

function errorsOf(result: ProxyTextResult): { key: string | null; message: string }[] {
  assert.equal(result.ok, false, 'expected the text to be rejected');
  return result.ok ? [] : [...result.errors];
}

void test('S2: the manual’s proxy lines become the structured proxy settings', () => {
  const result = parseProxyText(manualText);
  assert.deepEqual(result, {
    ok: true,
    proxy: {
      server: 'proxy.school.local',
      port: 3128,
      username: 'school',
      password: SECRET,
      auth: true,
    },
  });
  assert.ok(result.ok && proxySettingsSchema.safeParse(result.proxy).success);
});

void test('S2: proxy_auth=0 with empty user name and password is a proxy without authentication', () => {
  const result = parseProxyText(
    'proxy_server=10.0.0.1\nproxy_port=8080\nproxy_username=\nproxy_password=\nproxy_auth=0',
  );
  assert.deepEqual(result, { ok: true, proxy: { server: '10.0.0.1', port: 8080, auth: false } });
});

void test('S2: an empty proxy text means no proxy', () => {
  assert.deepEqual(parseProxyText(' \n\r\n'), { ok: true, proxy: null });
});

void test('S2: an unknown key is named', () => {
  const errors = errorsOf(parseProxyText(`${manualText}proxy_type=http\n`));
  assert.deepEqual(
    errors.map((e) => e.key),
    ['proxy_type'],
  );
});

void test('S2: a bad port is named', () => {
  for (const port of ['0', '65536', '31 28', 'http', '-1', '3128.5', '']) {
    const errors = errorsOf(parseProxyText(manualText.replace('3128 ', port)));
    assert.deepEqual(
      errors.map((e) => e.key),
      ['proxy_port'],
      `port "${port}"`,
    );
  }
});

void test('S2: proxy_auth=1 without a user name names the user name', () => {
  const errors = errorsOf(parseProxyText(manualText.replace('proxy_username=school', '')));
  assert.deepEqual(errors, [{ key: 'proxy_username', message: 'is required when proxy_auth=1' }]);
});

void test('S2: proxy_auth must be 1 or 0', () => {
  const errors = errorsOf(parseProxyText(manualText.replace('proxy_auth=1', 'proxy_auth=yes')));
  assert.deepEqual(
    errors.map((e) => e.key),
    ['proxy_auth'],
  );
});

void test('S2: a repeated key is refused rather than one of the two silently winning', () => {
  const errors = errorsOf(parseProxyText(`${manualText}proxy_port=8080\n`));
  assert.deepEqual(
    errors.map((e) => e.key),
    ['proxy_port'],
  );
});

void test('S2: server, port and auth are required', () => {
  const errors = errorsOf(parseProxyText('proxy_username=school'));
  assert.deepEqual(errors.map((e) => e.key).sort(), ['proxy_auth', 'proxy_port', 'proxy_server']);
});

void test('S2: no error ever quotes the password, even on a malformed line', () => {
  const texts = [
    `${manualText}${SECRET}\n`,
    manualText.replace('proxy_password=', 'proxy_pass word='),
    manualText.replace('proxy_port=3128', `proxy_port=${SECRET}`),
    `${manualText}proxy_password=${SECRET}\n`,
  ];
  for (const text of texts) {
    const errors = errorsOf(parseProxyText(text));
    assert.ok(errors.length > 0);
    assert.ok(!JSON.stringify(errors).includes('secret'), JSON.stringify(errors));
  }
});

void test('S2: settings take the proxy text in place of the structured proxy', () => {
  const base = { communityId: 1, token: 'vk1.a.community-token-0123456789' };
  const parsed = schoolSettingsInputSchema.parse({ ...base, proxyText: manualText });
  assert.deepEqual(parsed.proxy, {
    server: 'proxy.school.local',
    port: 3128,
    username: 'school',
    password: SECRET,
    auth: true,
  });
  const bad = schoolSettingsInputSchema.safeParse({ ...base, proxyText: 'proxy_port=0' });
  assert.equal(bad.success, false);
  const paths = bad.error?.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, [
    'proxyText.proxy_auth',
    'proxyText.proxy_port',
    'proxyText.proxy_server',
  ]);
  const both = schoolSettingsInputSchema.safeParse({
    ...base,
    proxyText: manualText,
    proxy: { server: 'p', port: 1, auth: false },
  });
  assert.deepEqual(
    both.error?.issues.map((i) => i.path.join('.')),
    ['proxyText'],
  );
});
