/**
 * VK's two limits on a caller: requests per second per token (error 6) and write actions per
 * minute per community (flood control, error 9), each a sliding window.
 */

const FLOOD_WINDOW_MS = 60_000;

export interface Limits {
  /** True when the token is over its limit; a request let through is counted. */
  overRateLimit(tokenHash: string, at: number): boolean;
  /** False when the community is over its write actions; one let through is counted. */
  floodAllows(communityId: number, at: number): boolean;
  reset(): void;
}

export function createLimits(args: {
  /** Requests per second per token. */
  readonly perSecond: () => number;
  /** Write actions per community per minute; 0: no flood control. */
  readonly actionsPerMinute: () => number;
}): Limits {
  const sent = new Map<string, number[]>();
  const flood = new Map<number, number[]>();

  /** Counts `at` in the window of `key` unless it already holds `limit` within `spanMs`. */
  function admit<K>(
    windows: Map<K, number[]>,
    key: K,
    at: number,
    spanMs: number,
    limit: number,
  ): boolean {
    const window = windows.get(key) ?? [];
    while (window.length > 0 && (window[0] ?? 0) <= at - spanMs) window.shift();
    if (window.length >= limit) return false;
    window.push(at);
    windows.set(key, window);
    return true;
  }

  return {
    overRateLimit: (hash, at) => !admit(sent, hash, at, 1000, args.perSecond()),
    floodAllows(communityId, at) {
      const limit = args.actionsPerMinute();
      return limit <= 0 || admit(flood, communityId, at, FLOOD_WINDOW_MS, limit);
    },
    reset() {
      sent.clear();
      flood.clear();
    },
  };
}
