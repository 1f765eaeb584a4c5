import type { LongPollDown } from './long-poll';

/**
 * The faults the emulator injects into `/method/` requests: random ones at set rates, and scripted
 * ones (`strikeNext`) that strike one chosen request each, whatever the rates.
 */

/** Fault injection for `/method/` requests; every rate is a probability in [0, 1]. */
export interface EmulatorFaults {
  /** Answer error 10 before doing anything. */
  readonly errorRate10: number;
  /** Answer HTTP 502 with an HTML page, as a failing front end would. */
  readonly http502Rate: number;
  /** Destroy the connection before the action is applied. */
  readonly dropBeforeRate: number;
  /** Apply the action, then destroy the connection instead of answering: the caller cannot know it worked. */
  readonly dropAfterRate: number;
  /** Added to every request before it is handled. */
  readonly latencyMs: number;
  /** Overrides the per-token rate limit while set (a lower limit for tests); null restores the option. */
  readonly rateLimitPerSecond: number | null;
  /** The long-poll server down until cleared: every a_check gets HTTP 502 or a dropped connection. */
  readonly longPollDown: LongPollDown;
}

export const noFaults: EmulatorFaults = {
  errorRate10: 0,
  http502Rate: 0,
  dropBeforeRate: 0,
  dropAfterRate: 0,
  latencyMs: 0,
  rateLimitPerSecond: null,
  longPollDown: null,
};

/** A fault `strikeNext` makes happen exactly once, on a chosen request. */
export type StrikeFault = 'dropBefore' | 'http502' | 'error10' | 'dropAfter';

/** The request a scripted fault struck: its method and parameters, the token left out. */
export interface StruckRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
}

export interface Strike {
  readonly fault: StrikeFault;
  /** Undefined: the next request of any method. */
  readonly method: string | undefined;
  readonly resolve: (req: StruckRequest) => void;
}

/** The scripted faults armed and not yet struck, in arming order. */
export interface Strikes {
  arm(fault: StrikeFault, method?: string): Promise<StruckRequest>;
  /** The earliest strike armed for `method`, taken off the queue. */
  take(method: string): Strike | undefined;
  /** Puts back a strike whose request failed before the strike's point, for the next request. */
  putBack(strike: Strike): void;
}

export function createStrikes(): Strikes {
  const armed: Strike[] = [];
  return {
    arm: (fault, method) => new Promise((resolve) => armed.push({ fault, method, resolve })),
    take(method) {
      const at = armed.findIndex((s) => s.method === undefined || s.method === method);
      return at < 0 ? undefined : armed.splice(at, 1)[0];
    },
    putBack: (strike) => void armed.unshift(strike),
  };
}
