/**
 * The journal workflow's patch IDs and timings. A patch ID is recorded in histories: it never
 * changes, and the code behind it stays until no open history predates it.
 */

/** After a failed automatic start, try again this much later while the lesson's window is open. */
export const RETRY_FAILED_START_MS = 60_000;
/** After the journal could not be loaded, try again this much later. */
export const RELOAD_AFTER_FAILURE_MS = 60_000;
/** Workflow patch: a manual start after the lesson's automatic end gets no automatic end. */
export const PATCH_NO_PAST_AUTO_END = 'manual-start-after-auto-end-has-no-auto-end';
/** Workflow patch: the journal is reloaded when the school day changes. */
export const PATCH_RELOAD_EACH_DAY = 'reload-journal-each-day';
/** Lessons remembered as called; older ones have long left the planner's today/tomorrow window. */
export const CALLED_LESSONS_KEPT = 64;
/**
 * Workflow patch: an action is slept up to shortly before it, and the rest from a fresh task.
 * Temporal counts a timer from when the task that set it completed, while the workflow's clock
 * reads when that task started: a task that waited in a busy worker (every journal re-plans at
 * once after a roster import, at midnight, after a bell) sets its timer late by its own wait,
 * seconds on a loaded machine. The early wake-up runs at a quiet moment, so the timer it sets
 * carries only its own short run.
 */
export const PATCH_WAKE_EARLY = 'wake-early-before-due-action';
/**
 * How early: 10 to 40 s, spread by journal, so the journals due at one bell do not all wake in
 * the same second either; only for actions further away than the lead and WAKE_EARLY_MARGIN_MS.
 */
export const WAKE_EARLY_MIN_MS = 10_000;
export const WAKE_EARLY_SPREAD_MS = 30_000;
export const WAKE_EARLY_MARGIN_MS = 5_000;
/**
 * Workflow patch: an automatic start due within ARM_WITHIN_MS is armed: its activity is scheduled
 * now and sends calls.start itself at the due instant. At a bell every journal's start is due at
 * once, and a timer firing then waits for a worker slot, a workflow task and an activity task,
 * one journal after another (seconds on a busy worker); an armed start only waits for its own
 * timer in the worker.
 */
export const PATCH_ARM_START = 'arm-start-before-due';
/** Covers the early wake-up (WAKE_EARLY_MIN_MS + WAKE_EARLY_SPREAD_MS) and its margin. */
export const ARM_WITHIN_MS = 45_000;
/** Workflow patch: search attributes are upserted only when they change (one visibility write less per wake). */
export const PATCH_PUBLISH_CHANGES_ONLY = 'upsert-search-attributes-on-change';
/**
 * Workflow patch (V1, C2): a journal that is not general-education with the subject chat on has
 * no calls: its online lessons are not started, and a teacher's start is refused.
 */
export const PATCH_CALLS_WHERE_AVAILABLE = 'calls-only-in-general-journals-with-subject-chat';
/** Workflow patch (V5): a failed automatic end backs off, and is given up when it must be. */
export const PATCH_END_BACKOFF = 'back-off-failed-end';
/** Workflow patch (V2): a teacher's start is for a lesson of today or tomorrow only. */
export const PATCH_MANUAL_TODAY_OR_TOMORROW = 'manual-start-today-or-tomorrow';
/** V5: the first pause after a failed end; each further failure doubles it, up to the cap. */
export const END_RETRY_FIRST_MS = 60_000;
export const END_RETRY_MAX_MS = 15 * 60_000;
/**
 * Workflow patch: the call activities are `openCall`, `closeCall` and `recordPlatformEnd`, no
 * longer `startCall` and `endCall` (the updates' names too) and `endedOnPlatform`. Asked once, at
 * a run's start, so one run schedules one set of names.
 */
export const PATCH_CALL_ACTIVITY_NAMES = 'call-activities-open-close';
