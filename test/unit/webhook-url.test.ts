import assert from 'node:assert/strict';
import { test } from 'node:test';
import { webhookUrlProblem } from '../../src/diary/webhook';

const prod = { devMode: false };
const dev = { devMode: true };

void test('V4: a public https webhook URL is fine in production', () => {
  assert.equal(webhookUrlProblem('https://portal.example.ru/diary/webhook', prod), null);
  assert.equal(webhookUrlProblem('https://portal.example.ru:8443/hook?school=1', prod), null);
  assert.equal(webhookUrlProblem('https://93.184.216.34/hook', prod), null);
  assert.equal(webhookUrlProblem('https://172.32.0.1/hook', prod), null, '172.32/16 is public');
  assert.equal(webhookUrlProblem('https://[2001:db8::1]/hook', prod), null);
});

void test('V4: plain http is refused outside dev mode, allowed in it', () => {
  assert.match(webhookUrlProblem('http://portal.example.ru/hook', prod) ?? '', /https/);
  assert.equal(webhookUrlProblem('http://portal.example.ru/hook', dev), null);
});

void test('V4: loopback, private and link-local addresses are refused outside dev mode', () => {
  const internal = [
    'https://localhost/hook',
    'https://LOCALHOST./hook',
    'https://portal.localhost/hook',
    'https://127.0.0.1/hook',
    'https://127.1.2.3/hook',
    'https://2130706433/hook', // 127.0.0.1 as one number: the URL parser normalises it
    'https://0x7f.1/hook',
    'https://0.0.0.0/hook',
    'https://10.0.0.5/hook',
    'https://172.16.0.1/hook',
    'https://172.31.255.255/hook',
    'https://192.168.1.10/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/hook',
    'https://[::]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[::ffff:10.1.2.3]/hook',
    'https://[fc00::1]/hook',
    'https://[fd12:3456::1]/hook',
    'https://[fe80::1]/hook',
    'https://[febf::1]/hook',
  ];
  for (const url of internal) {
    const problem = webhookUrlProblem(url, prod);
    assert.match(problem ?? '', /loopback, private or link-local/, url);
    assert.equal(webhookUrlProblem(url, dev), null, `${url} in dev mode`);
  }
});

void test('V4: a URL that is not a web URL is refused in either mode', () => {
  for (const opts of [prod, dev]) {
    assert.match(webhookUrlProblem('portal.example.ru/hook', opts) ?? '', /not a valid/);
    assert.match(webhookUrlProblem('', opts) ?? '', /not a valid/);
    assert.match(webhookUrlProblem('ftp://portal.example.ru/hook', opts) ?? '', /https/);
    assert.match(webhookUrlProblem('javascript:alert(1)', opts) ?? '', /https/);
  }
});

void test('V4: credentials in the URL are refused, and the message does not repeat them', () => {
  const problem = webhookUrlProblem('https://user:hunter2-pass@portal.example.ru/hook', prod);
  assert.match(problem ?? '', /user name or password/);
  assert.doesNotMatch(problem ?? '', /hunter2/);
});
