import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlidingWindowLimiter, sharedLimiter } from '../../src/messenger/rate-limiter';

/** The largest number of grants inside any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let best = 0;
  for (let i = 0; i < times.length; i++) {
    let n = 0;
    for (let j = i; j < times.length && (times[j] ?? 0) - (times[i] ?? 0) < windowMs; j++) n++;
    best = Math.max(best, n);
  }
  return best;
}

void describe('sliding-window rate limiter', () => {
  void it('never grants more than the limit inside one window, however many wait', async () => {
    // The grant times are read after each await, so a busy machine can record a grant late; a
    // 30 ms margin keeps such skew from looking like a sixth grant inside a 100 ms window.
    const limiter = new SlidingWindowLimiter(5, { windowMs: 100, marginMs: 30 });
    const granted: number[] = [];
    await Promise.all(
      Array.from({ length: 23 }, async () => {
        await limiter.acquire();
        granted.push(performance.now());
      }),
    );
    granted.sort((a, b) => a - b);
    assert.equal(granted.length, 23);
    assert.ok(busiestWindow(granted, 100) <= 5, `busiest window: ${busiestWindow(granted, 100)}`);
    // 23 grants at 5 per 130 ms need at least four full windows after the first burst.
    assert.ok((granted.at(-1) ?? 0) - (granted[0] ?? 0) >= 4 * 100);
  });

  void it('grants the first burst at once', async () => {
    const limiter = new SlidingWindowLimiter(20);
    const start = performance.now();
    for (let i = 0; i < 20; i++) await limiter.acquire();
    assert.ok(performance.now() - start < 50);
  });

  void it('a fractional rate stretches the window', async () => {
    const limiter = new SlidingWindowLimiter(0.5, { windowMs: 20, marginMs: 0 });
    const start = performance.now();
    await limiter.acquire();
    await limiter.acquire();
    assert.ok(performance.now() - start >= 39);
  });

  void it('rejects a rate that is not positive', () => {
    assert.throws(() => new SlidingWindowLimiter(0), RangeError);
  });

  void it('shares one limiter per key and rate across the process', () => {
    assert.equal(sharedLimiter('k', 20), sharedLimiter('k', 20));
    assert.notEqual(sharedLimiter('k', 20), sharedLimiter('k', 3));
  });
});
