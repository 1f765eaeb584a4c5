import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

/** What a probe gives while the awaited thing has not happened yet. */
type NotYet = undefined | null | false;

export interface UntilOptions {
  /** Give up this long after the first probe (default 60 s). */
  readonly timeoutMs?: number;
  /** Or at this instant (epoch ms), for several waits sharing one deadline. */
  readonly deadlineAt?: number;
  /** Between probes (default 100 ms). */
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it gives a value (not undefined, null or false) and returns it, or fails the
 * test naming `what`. A probe that throws is asked again (a workflow not started yet, a server
 * restarting); at the deadline its last error is in the failure.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | NotYet> | T | NotYet,
  options: number | UntilOptions = {},
): Promise<T> {
  const opts = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = opts.deadlineAt ?? Date.now() + (opts.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      assert.fail(`timed out waiting for ${what}${why}`);
    }
    await delay(opts.intervalMs ?? 100);
  }
}
