/**
 * The school sync's timings and the patches its histories were recorded under. A patch ID names
 * what the workflow does since it: histories recorded before it replay the way they ran.
 */

/** Applying chats: retried with a back-off long enough for a platform outage to pass. */
export const APPLY_RETRY = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '2 minutes',
  maximumAttempts: 8,
} as const;

/**
 * Histories recorded before the whole plan was applied in one activity applied one activity per
 * chat, APPLY_CONCURRENCY at a time; they replay that way.
 */
export const PATCH_PLAN_IN_ONE_ACTIVITY = 'apply-plan-in-one-activity';
export const APPLY_CONCURRENCY = 4;

/**
 * Histories recorded before roster changes settled on a quiet moment waited this long after the
 * first change; it is also the longest a burst of changes can hold back its run.
 */
export const ROSTER_SETTLE_MS = 5_000;
/** A burst of roster changes is over once this long passes without another one. */
export const ROSTER_QUIET_MS = 1_000;
export const PATCH_SETTLE_ON_QUIET = 'roster-settle-on-quiet';

/**
 * Histories recorded before the guard split a held plan applied nothing of it; now the part the
 * guard lets through is applied in the same run (C3).
 */
export const PATCH_APPLY_PASSED_PART = 'apply-passed-part-of-held-plan';

/**
 * Histories recorded before journals had their own path told them of roster changes only after a
 * run that was neither held nor blocked; now a roster change re-plans them first, in any state.
 */
export const PATCH_JOURNALS_ON_ROSTER_CHANGE = 'journals-on-roster-change';
