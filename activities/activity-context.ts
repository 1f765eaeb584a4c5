import { setTimeout as sleepFor } from 'node:timers/promises';
import { activityInfo, Context, heartbeat } from '@temporalio/activity';

/** What activities use of their Temporal context, with a stand-in when called outside one. */

/**
 * Carries what one attempt of an activity did to the next attempt, outside MongoDB: the attempt
 * that started a platform call may be unable to write it down (MongoDB down, worker killed).
 */
export interface AttemptMemory {
  /** What an earlier attempt left, if anything. */
  recall(): unknown;
  leave(details: unknown): void;
}

/**
 * Temporal keeps an activity's last heartbeat details for its next attempt (`heartbeatDetails`).
 * Called outside an activity (a benchmark driving the functions directly) there is no next attempt.
 */
export const heartbeatMemory: AttemptMemory = {
  recall: () => (inActivity() ? (activityInfo().heartbeatDetails as unknown) : undefined),
  leave: (details) => {
    if (inActivity()) heartbeat(details);
  },
};

/**
 * Sleeps inside an activity so that a cancellation (delivered on a heartbeat's reply) ends the
 * sleep with `CancelledFailure`; outside an activity (a benchmark driving the functions) a timer.
 */
export function activitySleep(ms: number): Promise<void> {
  return inActivity() ? Context.current().sleep(ms) : sleepFor(ms);
}

/** Whether the code runs in an activity, not driven directly by a benchmark or a test. */
export function inActivity(): boolean {
  try {
    activityInfo();
    return true;
  } catch {
    return false;
  }
}
