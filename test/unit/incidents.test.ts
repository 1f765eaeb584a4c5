import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeIncident, historyIncidents, LATE_FIRE_MS } from '../../src/audit/incidents';

/**
 * The audit's incidents: the outage behind a late or missed call, read from the history itself.
 * Synthetic histories in the protojson form the archive stores; one recorded fixture for the
 * failed-for-good case.
 */

const T0 = Date.parse('2026-12-01T05:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const summary = (text: string): { summary: { data: string } } => ({
  summary: { data: Buffer.from(JSON.stringify(text)).toString('base64') },
});
const run = { workflowId: 'journal-calls/j1', runId: 'r1' };

void test('audit incidents: an activity that succeeded after retries reports its attempts, the time lost and the last error', () => {
  const history = {
    events: [
      {
        eventId: '5',
        eventTime: at(0),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
        activityTaskScheduledEventAttributes: { activityType: { name: 'startCall' } },
      },
      {
        eventId: '6',
        eventTime: at(31_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
        activityTaskStartedEventAttributes: {
          scheduledEventId: '5',
          attempt: 6,
          lastFailure: {
            message: 'connect ECONNREFUSED 127.0.0.1:27027\n    at stack',
            applicationFailureInfo: { type: 'StoreUnavailable' },
          },
        },
      },
      {
        eventId: '7',
        eventTime: at(31_050),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
        activityTaskCompletedEventAttributes: { scheduledEventId: '5' },
      },
    ],
  };
  const [incident, ...rest] = historyIncidents({ ...run, history });
  assert.equal(rest.length, 0);
  assert.deepEqual(incident, {
    ...run,
    kind: 'activityRetried',
    at: T0 + 31_000,
    subject: 'startCall',
    attempts: 6,
    delayMs: 31_000,
    reason: 'StoreUnavailable: connect ECONNREFUSED 127.0.0.1:27027',
  });
  assert.equal(
    describeIncident(incident),
    'startCall succeeded on attempt 6 after 31 s; last error: StoreUnavailable: connect ECONNREFUSED 127.0.0.1:27027',
  );
});

void test('audit incidents: a timer that fired late names its summary and how late; one on time is no incident', () => {
  const history = {
    events: [
      {
        eventId: '12',
        eventTime: at(0),
        eventType: 'EVENT_TYPE_TIMER_STARTED',
        userMetadata: summary('start call for lesson les-1 at 08:10'),
        timerStartedEventAttributes: { timerId: '1', startToFireTimeout: '600s' },
      },
      {
        eventId: '13',
        eventTime: at(600_000 + 95_000),
        eventType: 'EVENT_TYPE_TIMER_FIRED',
        timerFiredEventAttributes: { startedEventId: '12' },
      },
      {
        eventId: '20',
        eventTime: at(700_000),
        eventType: 'EVENT_TYPE_TIMER_STARTED',
        timerStartedEventAttributes: { timerId: '2', startToFireTimeout: '60.5s' },
      },
      {
        eventId: '21',
        eventTime: at(760_500 + LATE_FIRE_MS - 1),
        eventType: 'EVENT_TYPE_TIMER_FIRED',
        timerFiredEventAttributes: { startedEventId: '20' },
      },
    ],
  };
  const incidents = historyIncidents({ ...run, history });
  assert.equal(incidents.length, 1);
  assert.equal(incidents[0]?.kind, 'timerLate');
  assert.equal(incidents[0]?.delayMs, 95_000);
  assert.match(
    describeIncident(incidents[0]),
    /"start call for lesson les-1 at 08:10" fired 95 s late/,
  );
});

void test('audit incidents: a workflow task that timed out (worker killed) is reported; a sticky-queue reset is routine and is not', () => {
  const history = {
    events: [
      {
        eventId: '30',
        eventTime: at(0),
        eventType: 'EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT',
        workflowTaskTimedOutEventAttributes: { timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE' },
      },
      {
        eventId: '31',
        eventTime: at(1),
        eventType: 'EVENT_TYPE_WORKFLOW_TASK_FAILED',
        workflowTaskFailedEventAttributes: {
          cause: 'WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE',
        },
      },
    ],
  };
  const incidents = historyIncidents({ ...run, history });
  assert.deepEqual(
    incidents.map((i) => i.kind),
    ['workflowTaskTimedOut'],
  );
  assert.match(describeIncident(incidents[0]!), /no worker completed the task in time/);
});

void test('audit incidents: an activity retried after its start-to-close timeout says its worker was lost', () => {
  const history = {
    events: [
      {
        eventId: '5',
        eventTime: at(0),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
        activityTaskScheduledEventAttributes: { activityType: { name: 'startCall' } },
      },
      {
        eventId: '6',
        eventTime: at(62_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
        activityTaskStartedEventAttributes: {
          scheduledEventId: '5',
          attempt: 2,
          lastFailure: {
            message: 'activity StartToClose timeout',
            timeoutFailureInfo: { timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE' },
          },
        },
      },
      {
        eventId: '7',
        eventTime: at(63_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
        activityTaskCompletedEventAttributes: { scheduledEventId: '5' },
      },
    ],
  };
  const [incident] = historyIncidents({ ...run, history });
  assert.equal(
    incident?.reason,
    'TIMEOUT_TYPE_START_TO_CLOSE: activity StartToClose timeout (the attempt never reported back: its worker was killed, cut off from the server or hung)',
  );
});

void test('audit incidents: a workflow task or a first activity attempt picked up long after it was scheduled says no worker was there; a prompt pickup is no incident', () => {
  const history = {
    events: [
      { eventId: '40', eventTime: at(0), eventType: 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED' },
      {
        eventId: '41',
        eventTime: at(40_000),
        eventType: 'EVENT_TYPE_WORKFLOW_TASK_STARTED',
        workflowTaskStartedEventAttributes: { scheduledEventId: '40' },
      },
      {
        eventId: '45',
        eventTime: at(41_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
        activityTaskScheduledEventAttributes: { activityType: { name: 'loadJournal' } },
      },
      {
        eventId: '46',
        eventTime: at(41_000 + LATE_FIRE_MS - 1),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
        activityTaskStartedEventAttributes: { scheduledEventId: '45', attempt: 1 },
      },
      {
        eventId: '50',
        eventTime: at(50_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
        activityTaskScheduledEventAttributes: { activityType: { name: 'startCall' } },
      },
      {
        eventId: '51',
        eventTime: at(80_000),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
        activityTaskStartedEventAttributes: { scheduledEventId: '50', attempt: 1 },
      },
    ],
  };
  const incidents = historyIncidents({ ...run, history });
  assert.deepEqual(
    incidents.map((i) => [i.kind, i.subject, i.delayMs]),
    [
      ['waitedForWorker', 'workflow task', 40_000],
      ['waitedForWorker', 'startCall', 30_000],
    ],
  );
  assert.match(describeIncident(incidents[0]!), /^workflow task waited 40 s for a worker: /);
});

void test('audit incidents: a Temporal server restart while an activity was in flight is named, with how long nothing was recorded; the lazily written start does not shorten it', () => {
  const range = 2 ** 20;
  const history = {
    events: [
      {
        eventId: '7',
        eventTime: at(0),
        taskId: String(range + 11),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
        activityTaskScheduledEventAttributes: { activityType: { name: 'applyPlan' } },
      },
      {
        // Written after the restart with the rest of the attempt, dated when it started.
        eventId: '8',
        eventTime: at(500),
        taskId: String(2 * range + 3),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED',
        activityTaskStartedEventAttributes: { scheduledEventId: '7', attempt: 1 },
      },
      {
        eventId: '9',
        eventTime: at(18_000),
        taskId: String(2 * range + 4),
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
        activityTaskCompletedEventAttributes: { scheduledEventId: '7' },
      },
    ],
  };
  const incidents = historyIncidents({ ...run, history });
  assert.deepEqual(
    incidents.map((i) => [i.kind, i.subject, i.at, i.delayMs]),
    [['serverRestarted', 'Temporal server', T0 + 18_000, 18_000]],
  );
  assert.match(
    describeIncident(incidents[0]!),
    /^Temporal server restarted, or the history shard moved to another host, between .* nothing was recorded while work was in flight \(18 s\)$/,
  );
});

void test('audit incidents: a restart while the run only slept on a timer not yet due, and task IDs in one range, are no incidents', () => {
  const range = 2 ** 20;
  const history = {
    events: [
      {
        eventId: '20',
        eventTime: at(0),
        taskId: String(range + 40),
        eventType: 'EVENT_TYPE_TIMER_STARTED',
        timerStartedEventAttributes: { timerId: '1', startToFireTimeout: '1800s' },
      },
      {
        eventId: '21',
        eventTime: at(1_800_000),
        taskId: String(2 * range + 1),
        eventType: 'EVENT_TYPE_TIMER_FIRED',
        timerFiredEventAttributes: { startedEventId: '20' },
      },
      {
        eventId: '22',
        eventTime: at(1_800_001),
        taskId: String(2 * range + 2),
        eventType: 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      },
      {
        eventId: '23',
        eventTime: at(1_800_020),
        taskId: String(2 * range + 3),
        eventType: 'EVENT_TYPE_WORKFLOW_TASK_STARTED',
        workflowTaskStartedEventAttributes: { scheduledEventId: '22' },
      },
    ],
  };
  assert.deepEqual(historyIncidents({ ...run, history }), []);
});

void test('audit incidents: a start that failed for good is one failure with the platform error, not a success after retries (recorded history)', () => {
  const history: unknown = JSON.parse(
    readFileSync(join(__dirname, '..', 'fixtures', 'histories', 'journal-calls-j4.json'), 'utf8'),
  );
  const incidents = historyIncidents({ ...run, history });
  assert.ok(incidents.length > 0);
  for (const incident of incidents) {
    assert.equal(incident.kind, 'activityFailed');
    assert.equal(incident.subject, 'startCall');
    assert.equal(incident.attempts, 5);
    assert.equal(incident.reason, 'MessengerUnavailable: calls.start: internal server error');
  }
});

void test('audit incidents: what is not a JSON history is refused', () => {
  assert.throws(() => historyIncidents({ ...run, history: { events: 'nope' } }));
});
