import { setTimeout as sleep } from 'node:timers/promises';
import type { RateSlots } from '../contracts/rate-slots';
import type { RateLimiter } from './rate-limiter';

/**
 * VK counts requests per community token, whichever process sends them; with several workers a
 * per-process limiter lets each send its full rate. Time is cut into buckets of
 * `(1000 + margin) / limit` ms and each bucket carries at most one request of a token across the
 * deployment, claimed in the shared store. The platform counts arrivals, and requests of two
 * processes travel differently (one opens a connection, the other has one), so a second of
 * arrivals can hold the departures of a second and a bit: with the margin, a second plus the
 * margin overlaps at most `limit + 1` buckets, 19 at the default 18, under the platform's 20. The
 * price is that a token's requests are spaced evenly instead of leaving in a burst. The process's
 * own limiter still applies first (it counts a slot until the answer).
 */
export class ClusterLimiter implements RateLimiter {
  readonly #local: RateLimiter;
  readonly #slots: RateSlots;
  readonly #key: string;
  readonly #bucketMs: number;
  readonly #now: () => number;

  constructor(args: {
    local: RateLimiter;
    slots: RateSlots;
    key: string;
    limitPerSecond: number;
    /** How much later one process's request may arrive than another's that left after it. */
    marginMs?: number;
    now?: () => number;
  }) {
    if (!Number.isFinite(args.limitPerSecond) || args.limitPerSecond <= 0) {
      throw new RangeError(`rate limit must be positive, got ${args.limitPerSecond}`);
    }
    this.#local = args.local;
    this.#slots = args.slots;
    this.#key = args.key;
    this.#bucketMs = (1000 + (args.marginMs ?? 150)) / args.limitPerSecond;
    this.#now = args.now ?? Date.now;
  }

  async acquire(): Promise<() => void> {
    const answered = await this.#local.acquire();
    await this.#claimBucket();
    return answered;
  }

  /** A taken bucket sends us to the next one; a future bucket is waited for once it is ours. */
  async #claimBucket(): Promise<void> {
    let bucket = Math.floor(this.#now() / this.#bucketMs);
    for (;;) {
      const startsAt = bucket * this.#bucketMs;
      if (await this.#slots.claim({ key: this.#key, bucket, at: new Date(startsAt) })) {
        const wait = startsAt - this.#now();
        if (wait > 0) await sleep(wait);
        // A claim answered after its bucket ended would leave in the next one, beside its owner.
        if (this.#now() < startsAt + this.#bucketMs) return;
      }
      bucket = Math.max(bucket + 1, Math.floor(this.#now() / this.#bucketMs));
    }
  }
}
