import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeReason, explainLessons } from '../../src/audit/explain';
import type { Incident } from '../../src/audit/incidents';
import type { CallDecision } from '../../src/contracts/decisions';
import type { Lesson, Template } from '../../src/contracts/roster';
import { zonedDateTimeToEpoch } from '../../src/domain/time';

/** The reason rules of the audit on hand-made decisions, without a server. */
const TZ = 'Europe/Moscow';
const DAY = '2026-12-01';
const at = (time: string): number => zonedDateTimeToEpoch({ date: DAY, time, timeZone: TZ });
const template: Template = {
  id: 'tpl',
  validFrom: '2026-09-01',
  validTo: '2027-05-31',
  sendToPortal: true,
  grid: [{ number: 1, start: '08:30', end: '09:15' }],
  entries: [{ journalId: 'j', weekday: 2, number: 1 }],
};
const lesson: Lesson = {
  id: 'l1',
  journalId: 'j',
  date: DAY,
  number: 1,
  online: true,
  status: 'published',
};
const d = (decision: Omit<CallDecision, 'journalId'>): CallDecision => ({
  journalId: 'j',
  ...decision,
});

function explain(decisions: CallDecision[], lessons: Lesson[] = [lesson]) {
  return explainLessons({ lessons, templates: [template], timeZone: TZ, decisions });
}

void test('V2: an automatic start more than a minute after it was due is flagged with how late', () => {
  const [row] = explain([
    d({ kind: 'autoStarted', lessonId: 'l1', at: at('08:25'), dueAt: at('08:10'), actor: 'auto' }),
    d({
      kind: 'autoEnded',
      lessonId: 'l1',
      at: at('09:35'),
      dueAt: at('09:35'),
      actor: 'auto',
      details: { lessons: 'l1' },
    }),
  ]);
  assert.equal(row?.started?.lateMs, 15 * 60_000);
  assert.equal(row?.ended?.lateMs, null);
  assert.equal(row?.missed, null);
});

void test('worker unavailable: first seen past the grace period with nothing holding it back', () => {
  const [row] = explain([
    d({ kind: 'skipped', lessonId: 'l1', reason: 'startedTooLongAgo', at: at('08:55') }),
  ]);
  const missed = row?.missed;
  assert.deepEqual(missed, { code: 'workerUnavailable', lateMinutes: 45 });
  assert.equal(describeReason(missed), 'worker unavailable: the timer fired 45 min late');
});

void test('V2: published too late says how long after the start', () => {
  const [row] = explain([
    d({ kind: 'skipped', lessonId: 'l1', reason: 'notPublished', at: at('07:00') }),
    d({ kind: 'skipped', lessonId: 'l1', reason: 'startedTooLongAgo', at: at('09:00') }),
  ]);
  assert.deepEqual(row?.missed, { code: 'publishedTooLate', minutesAfterStart: 30 });
});

void test('V3: a refused manual start while another call ran is the reason, over a plain skip', () => {
  const [row] = explain([
    d({ kind: 'skipped', lessonId: 'l1', reason: 'notPublished', at: at('07:00') }),
    d({
      kind: 'refused',
      lessonId: 'l1',
      reason: 'anotherCallRunning',
      actor: 'stf-1',
      at: at('08:40'),
    }),
  ]);
  assert.deepEqual(row?.missed, { code: 'anotherCallRunning', refusals: 1 });
});

void test('V7: template defects come from the template when the decision does not name them', () => {
  const [row] = explainLessons({
    lessons: [lesson],
    templates: [{ ...template, sendToPortal: false }],
    timeZone: TZ,
    decisions: [
      d({ kind: 'skipped', lessonId: 'l1', reason: 'templateIncomplete', at: at('07:00') }),
    ],
  });
  assert.deepEqual(row?.missed, { code: 'templateIncomplete', missing: ['notSentToPortal'] });
});

void test('a carried-over lesson ends with the call that served it; offline lessons are not audited', () => {
  const second: Lesson = { ...lesson, id: 'l2', number: 2 };
  const offline: Lesson = { ...lesson, id: 'l3', number: 3, online: false };
  const rows = explain(
    [
      d({
        kind: 'autoStarted',
        lessonId: 'l1',
        at: at('08:10'),
        dueAt: at('08:10'),
        actor: 'auto',
      }),
      d({ kind: 'carriedOver', lessonId: 'l2', at: at('09:05'), dueAt: at('09:05') }),
      d({
        kind: 'endedInSferum',
        lessonId: 'l2',
        at: at('10:30'),
        actor: 'auto',
        details: { lessons: 'l1,l2' },
      }),
    ],
    [lesson, second, offline],
  );
  assert.deepEqual(
    rows.map((r) => [r.lessonId, r.started?.how, r.ended?.how]),
    [
      ['l1', 'auto', 'inSferum'],
      ['l2', 'carriedOver', 'inSferum'],
    ],
  );
});

void test('no decision at all: no history covers the lesson', () => {
  assert.deepEqual(explain([])[0]?.missed, { code: 'noHistory' });
});

void test('a late automatic start names its causes: the journal’s incidents between the due time and the start, not other journals’ or later ones', () => {
  const incident = (workflowId: string, time: string): Incident => ({
    kind: 'activityRetried',
    workflowId,
    runId: 'r',
    at: at(time),
    subject: 'startCall',
    attempts: 2,
    delayMs: 62_000,
    reason: 'TIMEOUT_TYPE_START_TO_CLOSE: activity StartToClose timeout',
  });
  const own = incident('journal-calls-j', '08:11');
  const [row] = explainLessons({
    lessons: [lesson],
    templates: [template],
    timeZone: TZ,
    decisions: [
      d({
        kind: 'autoStarted',
        lessonId: 'l1',
        at: at('08:11'),
        dueAt: at('08:10'),
        actor: 'auto',
      }),
    ],
    incidents: [
      own,
      incident('journal-calls-other', '08:11'),
      incident('journal-calls-j', '08:40'),
    ],
  });
  assert.deepEqual(row?.causes, [own]);
});

void test('a missed lesson names the incidents of its start window (platform error after retries)', () => {
  const failed: Incident = {
    kind: 'activityFailed',
    workflowId: 'journal-calls-j',
    runId: 'r',
    at: at('08:11'),
    subject: 'startCall',
    attempts: 5,
    delayMs: 30_000,
    reason: 'MessengerUnavailable: VK calls.start failed with error 10: Internal server error',
  };
  const [row] = explainLessons({
    lessons: [lesson],
    templates: [template],
    timeZone: TZ,
    decisions: [
      d({
        kind: 'startFailed',
        lessonId: 'l1',
        reason: 'platformError',
        at: at('08:11'),
        dueAt: at('08:10'),
        details: { error: failed.reason },
      }),
    ],
    incidents: [failed],
  });
  assert.equal(row?.missed?.code, 'platformError');
  assert.deepEqual(row?.causes, [failed]);
});

void test('V2: an automatic start that failed and succeeded on a later try is late from the first try’s due time', () => {
  const [row] = explain([
    d({
      kind: 'startFailed',
      lessonId: 'l1',
      reason: 'platformError',
      at: at('08:10'),
      dueAt: at('08:10'),
    }),
    d({ kind: 'autoStarted', lessonId: 'l1', at: at('08:12'), dueAt: at('08:11'), actor: 'auto' }),
  ]);
  assert.equal(row?.started?.lateMs, 2 * 60_000);
  assert.equal(row?.missed, null);
});

void test('V1: a lesson that had a call and was switched offline afterwards stays in the audit', () => {
  const offlineNow: Lesson = { ...lesson, online: false };
  const neverOnline: Lesson = { ...lesson, id: 'l2', number: 2, online: false };
  const rows = explain(
    [
      d({ kind: 'manualStarted', lessonId: 'l1', at: at('08:25'), actor: 'stf-1' }),
      d({ kind: 'manualEnded', lessonId: 'l1', at: at('09:10'), actor: 'stf-1' }),
    ],
    [offlineNow, neverOnline],
  );
  assert.deepEqual(
    rows.map((r) => [r.lessonId, r.online, r.started?.how, r.ended?.how, r.missed]),
    [['l1', false, 'manual', 'manual', null]],
  );
});

void test('V7: the audit names the missing date and the grid row, and still explains the retired noValidityDates', () => {
  const skipped = (details: Record<string, string>) =>
    d({ kind: 'skipped', lessonId: 'l1', reason: 'templateIncomplete', at: at('07:00'), details });
  const [now] = explain([skipped({ missing: 'noEndDate,lessonNotInGrid', gridGaps: '3:row' })]);
  assert.deepEqual(now?.missed, {
    code: 'templateIncomplete',
    missing: ['noEndDate', 'lessonNotInGrid'],
    gridGaps: [{ number: 3, lacks: 'row' }],
  });
  assert.equal(
    now?.missed && describeReason(now.missed),
    'template incomplete (no end date; lesson 3 has no grid row): manual start only',
  );
  const [old] = explain([skipped({ missing: 'noValidityDates' })]);
  assert.deepEqual(old?.missed, { code: 'templateIncomplete', missing: ['noValidityDates'] });
  assert.equal(
    old?.missed && describeReason(old.missed),
    'template incomplete (no start or no end date): manual start only',
  );
});
