import type { CallAction, CallPlan } from '../../src/domain/call-plan';
import { PATCH_WAKE_EARLY, WAKE_EARLY_MARGIN_MS } from './rules';
import { describe } from './view';

/** When the loop sleeps to, and what the Web UI says it waits for. */
export interface WakeUp {
  readonly at: number;
  readonly summary: string;
}

/**
 * When the loop wakes next: the due action, a failed start's or end's retry, or the re-plan at
 * midnight; an action far enough away is woken for early (PATCH_WAKE_EARLY). `endRetryAt` is
 * asked only when the next action is an end that waits for its retry.
 */
export function wakeUp(args: {
  planned: CallPlan;
  now: number;
  timeZone: string;
  retryStartAfter: number;
  endRetryAt: (next: CallAction) => number | null;
  wakeEarlyMs: number;
  patched: (patchId: string) => boolean;
}): WakeUp {
  const { planned, now, timeZone, retryStartAfter, wakeEarlyMs } = args;
  const next = planned.next;
  // After a failed automatic start the planner still says "start now" (it knows nothing of the
  // failure), so the start waits for its retry time instead of spinning on 1 ms timers.
  const dueAt =
    next?.kind === 'start' && retryStartAfter > now
      ? Math.max(next.at, retryStartAfter)
      : next?.kind === 'end'
        ? (args.endRetryAt(next) ?? next.at)
        : (next?.at ?? Infinity);
  let at = Math.max(Math.min(dueAt, planned.replanAt), now);
  const wakesEarly =
    next !== null &&
    next.at <= at &&
    at - now > wakeEarlyMs + WAKE_EARLY_MARGIN_MS &&
    args.patched(PATCH_WAKE_EARLY);
  if (wakesEarly) at -= wakeEarlyMs;
  const summary =
    next && wakesEarly
      ? `${describe(next, timeZone)} (waking ${Math.round(wakeEarlyMs / 1000)} s before)`
      : next && next.at <= at
        ? describe(next, timeZone)
        : 're-plan at midnight (today and tomorrow move)';
  return { at, summary };
}
