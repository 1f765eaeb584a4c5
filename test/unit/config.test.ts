import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/process/config';

void test('configuration: a bad variable is refused by its name, without echoing its value', () => {
  assert.throws(
    () => loadConfig({ VK_CALL_END_SIGNAL: 'whenever-secret-looking', API_PORT: '70000' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(error.issues.some((i) => i.startsWith('VK_CALL_END_SIGNAL')));
      assert.ok(error.issues.some((i) => i.startsWith('API_PORT')));
      assert.doesNotMatch(error.message, /whenever-secret-looking/);
      return true;
    },
  );
});

void test('V5: the call-end reading is a deployment switch, trusting either signal by default', () => {
  assert.equal(loadConfig({}).VK_CALL_END_SIGNAL, 'either');
  assert.equal(loadConfig({ VK_CALL_END_SIGNAL: 'callMessage' }).VK_CALL_END_SIGNAL, 'callMessage');
});

void test("worker heap: collections follow the worker's own heap at 10 % growth unless a deployment says otherwise", () => {
  assert.equal(loadConfig({}).WORKER_HEAP_GROWING_PERCENT, 10);
  assert.equal(loadConfig({ WORKER_HEAP_GROWING_PERCENT: '0' }).WORKER_HEAP_GROWING_PERCENT, 0);
  assert.throws(
    () => loadConfig({ WORKER_HEAP_GROWING_PERCENT: '-5' }),
    (error: unknown) =>
      error instanceof ConfigError && /WORKER_HEAP_GROWING_PERCENT/.test(error.message),
  );
});
