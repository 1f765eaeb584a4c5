import { z } from 'zod';
import type { incidentFieldsSchema } from '../contracts/sync-records';

/**
 * What went wrong around a run, read from its history without replaying it: the outages a
 * worker, the Temporal server, MongoDB or VK caused. Decisions (explain.ts) say what the workflow
 * chose; incidents say what got in its way and why, e.g. "startCall succeeded on attempt 7 after
 * 34 s; last error: MongoServerSelectionError", so a late or missed call has its cause beside it.
 *
 * Temporal writes a retried activity's started event only once, for its last attempt, carrying the
 * attempt number and the previous attempt's failure; that is where the reason of an outage lives.
 */

/** A timer that fired, or a task picked up, this much later than due means someone was not there. */
export const LATE_FIRE_MS = 5_000;

export type IncidentKind =
  /** An activity that needed more than one attempt; `reason` is the last failure before success. */
  | 'activityRetried'
  /** An activity that failed for good (after its retries or non-retryable). */
  | 'activityFailed'
  | 'activityTimedOut'
  /** A workflow task no worker completed in time: the worker was killed or stalled. */
  | 'workflowTaskTimedOut'
  /** A workflow task the worker failed, e.g. a non-determinism error after a deploy. */
  | 'workflowTaskFailed'
  /**
   * A workflow task, or an activity's first attempt, picked up well after it was scheduled: no
   * worker was polling (stopped, killed, cut off from the server) or the server was down.
   */
  | 'waitedForWorker'
  /**
   * A timer fired well after its due time. Timers fire on the server whether or not a worker
   * polls, so this is the server: down, or too far behind.
   */
  | 'timerLate'
  /**
   * The Temporal server restarted (or the run's history shard moved to another host) while work
   * was in flight, and nothing was recorded for a while: the events' task IDs jump to a new range.
   */
  | 'serverRestarted';

export type Incident = z.infer<typeof incidentFieldsSchema> & {
  readonly kind: IncidentKind;
  readonly workflowId: string;
  readonly runId: string;
  /** When it was seen in the history (epoch ms): the activity's final start, the timer's firing… */
  readonly at: number;
};

const failureSchema = z.looseObject({
  message: z.string().optional(),
  applicationFailureInfo: z.looseObject({ type: z.string().optional() }).optional(),
  timeoutFailureInfo: z.looseObject({ timeoutType: z.string().optional() }).optional(),
  cause: z.looseObject({ message: z.string().optional() }).optional(),
});
type FailureJson = z.infer<typeof failureSchema>;

const payloadsSchema = z.looseObject({ data: z.string().optional() }).optional();

const idSchema = z.union([z.string(), z.number()]);

const eventSchema = z.looseObject({
  eventId: z.union([z.string(), z.number()]),
  eventType: z.string(),
  eventTime: z.string().optional(),
  taskId: idSchema.optional(),
  userMetadata: z.looseObject({ summary: payloadsSchema }).optional(),
  activityTaskScheduledEventAttributes: z
    .looseObject({ activityType: z.looseObject({ name: z.string() }).optional() })
    .optional(),
  activityTaskStartedEventAttributes: z
    .looseObject({
      scheduledEventId: z.union([z.string(), z.number()]),
      attempt: z.number().optional(),
      lastFailure: failureSchema.optional(),
    })
    .optional(),
  activityTaskCompletedEventAttributes: z
    .looseObject({ scheduledEventId: z.union([z.string(), z.number()]) })
    .optional(),
  activityTaskFailedEventAttributes: z
    .looseObject({
      scheduledEventId: z.union([z.string(), z.number()]),
      failure: failureSchema.optional(),
    })
    .optional(),
  activityTaskTimedOutEventAttributes: z
    .looseObject({
      scheduledEventId: z.union([z.string(), z.number()]),
      failure: failureSchema.optional(),
    })
    .optional(),
  workflowTaskStartedEventAttributes: z
    .looseObject({ scheduledEventId: z.union([z.string(), z.number()]) })
    .optional(),
  workflowTaskTimedOutEventAttributes: z
    .looseObject({ timeoutType: z.string().optional() })
    .optional(),
  workflowTaskFailedEventAttributes: z
    .looseObject({ cause: z.string().optional(), failure: failureSchema.optional() })
    .optional(),
  timerStartedEventAttributes: z
    .looseObject({ timerId: z.string().optional(), startToFireTimeout: z.string().optional() })
    .optional(),
  timerFiredEventAttributes: z
    .looseObject({ startedEventId: z.union([z.string(), z.number()]) })
    .optional(),
  timerCanceledEventAttributes: z.looseObject({ startedEventId: idSchema }).optional(),
  activityTaskCanceledEventAttributes: z.looseObject({ scheduledEventId: idSchema }).optional(),
});
type EventJson = z.infer<typeof eventSchema>;

const historySchema = z.looseObject({ events: z.array(eventSchema) });

/** `EVENT_TYPE_ACTIVITY_TASK_STARTED` (protojson) and `ActivityTaskStarted` (older CLI) alike. */
function eventKind(type: string): string {
  return type
    .replace(/^EVENT_TYPE_/, '')
    .replace(/_/g, '')
    .toUpperCase();
}

/** What an activity timeout means for the attempt, in words an operator can act on. */
const timeoutMeaning: Readonly<Record<string, string>> = {
  TIMEOUT_TYPE_START_TO_CLOSE:
    'the attempt never reported back: its worker was killed, cut off from the server or hung',
  TIMEOUT_TYPE_HEARTBEAT: 'the attempt stopped heartbeating: its worker was killed or hung',
  TIMEOUT_TYPE_SCHEDULE_TO_START: 'no worker picked it up in time',
  TIMEOUT_TYPE_SCHEDULE_TO_CLOSE: 'it ran out of its overall time',
};

function describeFailure(failure: FailureJson | undefined): string {
  if (failure === undefined) return 'no failure recorded';
  const timeout = failure.timeoutFailureInfo?.timeoutType;
  const type = failure.applicationFailureInfo?.type ?? timeout;
  const message = failure.message ?? failure.cause?.message ?? '';
  const first = message.split('\n', 1)[0] ?? '';
  const meaning = timeout === undefined ? undefined : timeoutMeaning[timeout];
  const text = type ? `${type}: ${first}` : first;
  return meaning ? `${text} (${meaning})` : text;
}

function decodeSummary(data: string | undefined): string | undefined {
  if (data === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** protojson durations are seconds with a suffix: "20347.241s". */
function durationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(text);
  return match ? Math.round(Number(match[1]) * 1000) : undefined;
}

/**
 * A history shard hands out task IDs from a range it takes when it is loaded: the range sits in
 * the high bits (Temporal's shard rangeID << 20), so a jump to a new range means the shard was
 * loaded again, by a restarted server or another host.
 */
const TASK_ID_RANGE = 2 ** 20;

/**
 * Restarts of the server (or shard moves) that held up work in flight, keyed by the index of the
 * first event after them. A restart while the run only waited on a timer not yet due, or a range
 * renewed without a pause, is no incident.
 */
function serverRestarts(
  events: readonly EventJson[],
  time: (e: EventJson | undefined) => number,
): Map<number, Omit<Incident, 'workflowId' | 'runId'>> {
  const found = new Map<number, Omit<Incident, 'workflowId' | 'runId'>>();
  const activities = new Set<string>();
  const timers = new Map<string, number>();
  let workflowTasks = 0;
  let range: number | undefined;
  let lastBefore = Number.NaN;
  for (const [index, event] of events.entries()) {
    const next =
      event.taskId === undefined ? undefined : Math.floor(Number(event.taskId) / TASK_ID_RANGE);
    if (next !== undefined && range !== undefined && next !== range) {
      // An activity's started event is written with its completion, dated when it started.
      const firstAfter = time(
        events.slice(index).find((e) => eventKind(e.eventType) !== 'ACTIVITYTASKSTARTED'),
      );
      const gap = firstAfter - lastBefore;
      const inFlight =
        activities.size > 0 ||
        workflowTasks > 0 ||
        [...timers.values()].some((due) => due < firstAfter - LATE_FIRE_MS);
      if (inFlight && gap > LATE_FIRE_MS) {
        found.set(index, {
          kind: 'serverRestarted',
          at: firstAfter,
          subject: 'Temporal server',
          attempts: null,
          delayMs: gap,
          reason: `restarted, or the history shard moved to another host, between ${new Date(lastBefore).toISOString()} and ${new Date(firstAfter).toISOString()}: nothing was recorded while work was in flight`,
        });
      }
    }
    if (next !== undefined) range = next;
    const at = time(event);
    if (at > lastBefore || Number.isNaN(lastBefore)) lastBefore = at;
    const scheduledId =
      event.activityTaskCompletedEventAttributes?.scheduledEventId ??
      event.activityTaskFailedEventAttributes?.scheduledEventId ??
      event.activityTaskTimedOutEventAttributes?.scheduledEventId ??
      event.activityTaskCanceledEventAttributes?.scheduledEventId;
    const timerId =
      event.timerFiredEventAttributes?.startedEventId ??
      event.timerCanceledEventAttributes?.startedEventId;
    switch (eventKind(event.eventType)) {
      case 'ACTIVITYTASKSCHEDULED':
        activities.add(String(event.eventId));
        break;
      case 'WORKFLOWTASKSCHEDULED':
        workflowTasks += 1;
        break;
      case 'WORKFLOWTASKCOMPLETED':
      case 'WORKFLOWTASKFAILED':
      case 'WORKFLOWTASKTIMEDOUT':
        workflowTasks = Math.max(0, workflowTasks - 1);
        break;
      case 'TIMERSTARTED':
        timers.set(
          String(event.eventId),
          at + (durationMs(event.timerStartedEventAttributes?.startToFireTimeout) ?? 0),
        );
        break;
    }
    if (scheduledId !== undefined) activities.delete(String(scheduledId));
    if (timerId !== undefined) timers.delete(String(timerId));
  }
  return found;
}

/** Incidents of one run, in history order. Throws when the input is not a JSON history. */
export function historyIncidents(args: {
  workflowId: string;
  runId: string;
  history: unknown;
}): Incident[] {
  const { events } = historySchema.parse(args.history);
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const time = (e: { eventTime?: string | undefined } | undefined): number =>
    e?.eventTime ? Date.parse(e.eventTime) : Number.NaN;
  const activityName = (scheduledId: string | number): string =>
    byId.get(String(scheduledId))?.activityTaskScheduledEventAttributes?.activityType?.name ??
    'activity';
  // A failed activity's last start carries its attempt count but the failure sits on the failed
  // event: only a completed activity's retries are reported as retries.
  const completed = new Set(
    events.flatMap((e) =>
      e.activityTaskCompletedEventAttributes
        ? [String(e.activityTaskCompletedEventAttributes.scheduledEventId)]
        : [],
    ),
  );
  const incidents: Incident[] = [];
  const push = (incident: Omit<Incident, 'workflowId' | 'runId'>): void => {
    incidents.push({ workflowId: args.workflowId, runId: args.runId, ...incident });
  };
  /** A task picked up at `at` that was scheduled long before: nobody was there to take it. */
  const waited = (
    at: number,
    scheduled: { eventTime?: string | undefined } | undefined,
    subject: string,
  ): void => {
    const delayMs = at - time(scheduled);
    if (!(delayMs > LATE_FIRE_MS)) return;
    push({
      kind: 'waitedForWorker',
      at,
      subject,
      attempts: null,
      delayMs,
      reason:
        'no worker picked the task up: none was polling (stopped, killed or cut off from the server), or the server was down',
    });
  };

  const restarts = serverRestarts(events, time);

  for (const [index, event] of events.entries()) {
    const restart = restarts.get(index);
    if (restart) push(restart);
    const at = time(event);
    switch (eventKind(event.eventType)) {
      case 'ACTIVITYTASKSTARTED': {
        const attrs = event.activityTaskStartedEventAttributes;
        const attempts = attrs?.attempt ?? 1;
        if (attrs === undefined) break;
        const scheduled = byId.get(String(attrs.scheduledEventId));
        if (attempts <= 1) {
          // A retried activity's wait is in its retry incident; a first attempt's is only here.
          waited(at, scheduled, activityName(attrs.scheduledEventId));
          break;
        }
        if (!completed.has(String(attrs.scheduledEventId))) break;
        push({
          kind: 'activityRetried',
          at,
          subject: activityName(attrs.scheduledEventId),
          attempts,
          delayMs: Math.max(0, at - time(scheduled)),
          reason: describeFailure(attrs.lastFailure),
        });
        break;
      }
      case 'ACTIVITYTASKFAILED':
      case 'ACTIVITYTASKTIMEDOUT': {
        const attrs =
          event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
        if (attrs === undefined) break;
        const scheduled = byId.get(String(attrs.scheduledEventId));
        const started = events.find(
          (e) =>
            e.activityTaskStartedEventAttributes !== undefined &&
            String(e.activityTaskStartedEventAttributes.scheduledEventId) ===
              String(attrs.scheduledEventId),
        );
        push({
          kind: event.activityTaskFailedEventAttributes ? 'activityFailed' : 'activityTimedOut',
          at,
          subject: activityName(attrs.scheduledEventId),
          attempts: started?.activityTaskStartedEventAttributes?.attempt ?? null,
          delayMs: Math.max(0, at - time(scheduled)),
          reason: describeFailure(attrs.failure),
        });
        break;
      }
      case 'WORKFLOWTASKSTARTED':
        waited(
          at,
          byId.get(String(event.workflowTaskStartedEventAttributes?.scheduledEventId)),
          'workflow task',
        );
        break;
      case 'WORKFLOWTASKTIMEDOUT':
        push({
          kind: 'workflowTaskTimedOut',
          at,
          subject: 'workflow task',
          attempts: null,
          delayMs: 0,
          reason: `${event.workflowTaskTimedOutEventAttributes?.timeoutType ?? 'timeout'}: no worker completed the task in time (worker stopped, killed or overloaded)`,
        });
        break;
      case 'WORKFLOWTASKFAILED': {
        const attrs = event.workflowTaskFailedEventAttributes;
        // A sticky worker gone is routine: the task is simply retried on the normal queue.
        if (attrs?.cause === 'WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE') break;
        push({
          kind: 'workflowTaskFailed',
          at,
          subject: 'workflow task',
          attempts: null,
          delayMs: 0,
          reason: `${attrs?.cause ?? 'failed'}: ${describeFailure(attrs?.failure)}`,
        });
        break;
      }
      case 'TIMERFIRED': {
        const started = byId.get(String(event.timerFiredEventAttributes?.startedEventId));
        const timeout = durationMs(started?.timerStartedEventAttributes?.startToFireTimeout);
        if (started === undefined || timeout === undefined) break;
        const late = at - (time(started) + timeout);
        if (!(late > LATE_FIRE_MS)) break;
        push({
          kind: 'timerLate',
          at,
          subject:
            decodeSummary(started.userMetadata?.summary?.data) ??
            `timer ${started.timerStartedEventAttributes?.timerId ?? ''}`.trim(),
          attempts: null,
          delayMs: late,
          reason:
            'the timer fired late: the Temporal server was down or behind (timers fire on the server, with or without a worker)',
        });
        break;
      }
    }
  }
  return incidents;
}

export function describeIncident(incident: Incident): string {
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  switch (incident.kind) {
    case 'activityRetried':
      return `${incident.subject} succeeded on attempt ${incident.attempts ?? '?'} after ${seconds(incident.delayMs)}; last error: ${incident.reason}`;
    case 'activityFailed':
      return `${incident.subject} failed after ${incident.attempts ?? '?'} attempt(s) in ${seconds(incident.delayMs)}: ${incident.reason}`;
    case 'activityTimedOut':
      return `${incident.subject} timed out after ${seconds(incident.delayMs)}: ${incident.reason}`;
    case 'workflowTaskTimedOut':
    case 'workflowTaskFailed':
      return `workflow task: ${incident.reason}`;
    case 'waitedForWorker':
      return `${incident.subject} waited ${seconds(incident.delayMs)} for a worker: ${incident.reason}`;
    case 'timerLate':
      return `"${incident.subject}" fired ${seconds(incident.delayMs)} late: ${incident.reason}`;
    case 'serverRestarted':
      return `${incident.subject} ${incident.reason} (${seconds(incident.delayMs)})`;
  }
}
