import { setTimeout as sleep } from 'node:timers/promises';
import type { MessengerSettings } from './port';
import { tokenFingerprint } from './vk-errors';

export interface RateLimiter {
  /**
   * Resolves when one more request may be sent now, with a function to call when its answer is
   * in: the server counted the request somewhere between, so its slot counts from the answer.
   */
  acquire(): Promise<() => void>;
}

export interface SlidingWindowOptions {
  readonly windowMs?: number;
  /**
   * Extra time a slot stays taken after its window. The server counts arrivals, we count
   * departures; a request that leaves first may arrive late, so without a margin 21 arrivals can
   * land in one server window. Must exceed the worst in-flight delay difference on the path.
   */
  readonly marginMs?: number;
  readonly now?: () => number;
}

/**
 * At most `limit` requests per window, counted over a sliding window (the way VK counts), not a
 * token bucket: a bucket refills continuously and so allows `limit + 1` inside some windows.
 * Waiters are served first come, first served.
 */
export class SlidingWindowLimiter implements RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #marginMs: number;
  readonly #now: () => number;
  /** When each request of the window left, or was answered once it was. */
  #sent: { at: number }[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  constructor(limit: number, opts: SlidingWindowOptions = {}) {
    if (!Number.isFinite(limit) || limit <= 0)
      throw new RangeError(`rate limit must be positive, got ${limit}`);
    // A fractional rate (e.g. 0.5/s) becomes one request per stretched window.
    this.#limit = Math.max(1, Math.floor(limit));
    this.#windowMs = (opts.windowMs ?? 1000) * (limit < 1 ? 1 / limit : 1);
    this.#marginMs = opts.marginMs ?? 50;
    this.#now = opts.now ?? Date.now;
  }

  acquire(): Promise<() => void> {
    const turn = this.#tail.then(() => this.#waitForSlot());
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  /**
   * A request whose connection took long to open arrives long after it left: counted from its
   * departure only, the next window's first request could reach the server inside its window.
   */
  async #waitForSlot(): Promise<() => void> {
    for (;;) {
      const now = this.#now();
      const horizon = now - this.#windowMs - this.#marginMs;
      this.#sent = this.#sent.filter((slot) => slot.at > horizon);
      if (this.#sent.length < this.#limit) {
        const slot = { at: now };
        this.#sent.push(slot);
        return () => {
          slot.at = Math.max(slot.at, this.#now());
        };
      }
      const oldest = Math.min(...this.#sent.map((slot) => slot.at));
      await sleep(Math.max(1, oldest - horizon));
    }
  }
}

/**
 * VK limits per token, and activities may build a fresh messenger per call, so the limiter must
 * outlive any one messenger: one per (API base, token, rate) for the whole process. Keys hold a
 * token fingerprint, never the token.
 */
const shared = new Map<string, SlidingWindowLimiter>();

/** What a limiter counts for: VK limits per token (the key holds its fingerprint, never the token). */
export function limiterKey(settings: Pick<MessengerSettings, 'baseUrl' | 'token'>): string {
  return `${settings.baseUrl.replace(/\/+$/, '')}|${tokenFingerprint(settings.token)}`;
}

export function sharedLimiter(
  key: string,
  limitPerSecond: number,
  opts?: SlidingWindowOptions,
): RateLimiter {
  const fullKey = `${key}|${limitPerSecond}`;
  let limiter = shared.get(fullKey);
  if (limiter === undefined) {
    limiter = new SlidingWindowLimiter(limitPerSecond, opts);
    shared.set(fullKey, limiter);
  }
  return limiter;
}
