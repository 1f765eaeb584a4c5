import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toFailure } from '../../activities/boundary';
import { ErrorType } from '../../src/contracts/errors';
import { TransientOpsError, type FailedOp } from '../../src/messenger/op-failures';
import { nextRetryDelayHint } from '../../src/messenger/vk-errors';

/**
 * A sync activity whose platform calls partly failed is retried, and the audit sees only the last
 * failure of a retried activity: the error it raises must say what failed, not only that
 * something did.
 */

const flood: FailedOp = {
  code: 9,
  type: ErrorType.MessengerRateLimited,
  message: 'VK messages.addChatUser failed with error 9: Flood control',
};
const bad502: FailedOp = {
  code: 0,
  type: ErrorType.MessengerUnavailable,
  message: 'VK execute: HTTP 502 from VK',
};

void test('transient operation failures: the message names each distinct failure with its count', () => {
  const error = new TransientOpsError('chat class-parents:5a', [flood, bad502, flood, flood]);
  assert.equal(
    error.message,
    'chat class-parents:5a: 4 operations failed transiently (VK messages.addChatUser failed with error 9: Flood control ×3; VK execute: HTTP 502 from VK); retrying the rest',
  );
  const many = new TransientOpsError(
    'plan',
    [1, 2, 3, 4, 5].map((n) => ({ ...bad502, message: `VK execute: failure ${n}` })),
  );
  assert.match(
    many.message,
    /failure 1; VK execute: failure 2; VK execute: failure 3; 2 other failures\)/,
  );
});

void test('transient operation failures: flood control makes the activity rate-limited and waits out its window; a transport failure alone keeps the policy back-off', () => {
  const flooded = toFailure(new TransientOpsError('plan', [bad502, flood]));
  assert.equal(flooded.type, ErrorType.MessengerRateLimited);
  assert.equal(flooded.nonRetryable, false);
  assert.equal(flooded.nextRetryDelay, nextRetryDelayHint(9));
  assert.match(flooded.message, /error 9: Flood control/);

  const unavailable = toFailure(new TransientOpsError('plan', [bad502]));
  assert.equal(unavailable.type, ErrorType.MessengerUnavailable);
  assert.equal(unavailable.nextRetryDelay, undefined);
  assert.match(
    unavailable.message,
    /^plan: 1 operation failed transiently \(VK execute: HTTP 502 from VK\)/,
  );
});
