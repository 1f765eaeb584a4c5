import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorType, nonRetryableErrorTypes } from '../../src/contracts/errors';
import {
  VkApiError,
  classifyVkError,
  nextRetryDelayHint,
  redact,
  vkErrorTable,
} from '../../src/messenger/vk-errors';

void describe('VK error classification', () => {
  void it('every row agrees with the retry policy of its type', () => {
    for (const [code, cls] of vkErrorTable) {
      assert.equal(cls.retryable, !nonRetryableErrorTypes.includes(cls.type), `code ${code}`);
    }
  });

  void it('retries what the issue lists as retryable, and nothing it lists as final', () => {
    for (const code of [1, 6, 9, 10, 29])
      assert.equal(classifyVkError(code).retryable, true, `code ${code}`);
    for (const code of [5, 7, 15, 27, 28, 100, 113, 917, 925, 927, 935, 936, 945, 946, 1017]) {
      assert.equal(classifyVkError(code).retryable, false, `code ${code}`);
    }
  });

  void it('maps codes to the ErrorType the contracts describe', () => {
    assert.equal(classifyVkError(5).type, ErrorType.MessengerAuth);
    assert.equal(classifyVkError(27).type, ErrorType.MessengerAuth);
    assert.equal(classifyVkError(925).type, ErrorType.MessengerForbidden);
    assert.equal(classifyVkError(917).type, ErrorType.MessengerForbidden);
    assert.equal(classifyVkError(100).type, ErrorType.MessengerBadRequest);
    assert.equal(classifyVkError(935).type, ErrorType.MessengerNotFound);
    assert.equal(classifyVkError(6).type, ErrorType.MessengerRateLimited);
    assert.equal(classifyVkError(10).type, ErrorType.MessengerUnavailable);
  });

  void it('an unknown code is not retried', () => {
    assert.deepEqual(classifyVkError(424242), {
      type: ErrorType.MessengerBadRequest,
      retryable: false,
    });
  });

  void it('flood control (9) asks for a long back-off, the per-second cap for a short one', () => {
    assert.ok((nextRetryDelayHint(9) ?? 0) >= 30_000);
    assert.ok((nextRetryDelayHint(6) ?? 0) >= 1_000 && (nextRetryDelayHint(6) ?? 0) < 5_000);
    assert.equal(nextRetryDelayHint(925), undefined);
  });
});

void describe('VkApiError redaction', () => {
  const token = 'vk1.a.SUPER-secret-token-value';

  void it('drops access_token from request_params and scrubs the token from every text', () => {
    const err = new VkApiError({
      code: 100,
      method: 'messages.send',
      message: `One of the parameters specified was missing or invalid: bad token ${token}`,
      requestParams: [
        { key: 'method', value: 'messages.send' },
        { key: 'access_token', value: token },
        { key: 'message', value: `echo ${token}` },
      ],
      secrets: [token],
    });
    const dump = JSON.stringify({
      m: err.message,
      d: err.details,
      p: err.requestParams,
      s: err.stack,
    });
    assert.ok(!dump.includes(token));
    assert.deepEqual(
      err.requestParams.map((p) => p.key),
      ['method', 'message'],
    );
    assert.equal(err.type, ErrorType.MessengerBadRequest);
    assert.equal(err.nonRetryable, true);
    assert.equal(err.code, 100);
    assert.equal(err.method, 'messages.send');
  });

  void it('redact leaves short strings alone so ordinary words survive', () => {
    assert.equal(redact('a b c', ['b']), 'a b c');
    assert.equal(redact('pass=hunter22;', ['hunter22']), 'pass=[REDACTED];');
    assert.equal(redact('x', [undefined]), 'x');
  });
});
