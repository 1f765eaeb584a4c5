import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { Lesson, Template } from '../../src/contracts/roster';
import {
  planCalls,
  type CallAction,
  type CallPlanInput,
  type RunningCall,
} from '../../src/domain/call-plan';

const JOURNAL = 'j-algebra-7a';
const MOSCOW = 'Europe/Moscow';
const MINUTE = 60_000;

// Expected instants are written with explicit offsets, so they do not depend on the code under test.
/** An instant on the wall clock of Moscow (UTC+3 all year). */
const msk = (dateTime: string): number => Date.parse(`${dateTime}:00+03:00`);

// 2026-12-01 is a Tuesday (ISO weekday 2).
const TODAY = '2026-12-01';
const TOMORROW = '2026-12-02';
const DAY_AFTER_TOMORROW = '2026-12-03';

function template(extra: Partial<Template> = {}): Template {
  return {
    id: 'tpl-2026',
    validFrom: '2026-01-09',
    validTo: '2026-12-28',
    sendToPortal: true,
    grid: [
      { number: 1, start: '08:30', end: '09:15' },
      { number: 2, start: '09:25', end: '10:10' },
      { number: 3, start: '10:25', end: '11:10' },
      { number: 4, start: '11:25', end: '12:10' },
    ],
    entries: [{ journalId: JOURNAL, weekday: 2, number: 2 }],
    ...extra,
  };
}

function lesson(id: string, extra: Partial<Lesson> = {}): Lesson {
  return {
    id,
    journalId: JOURNAL,
    date: TODAY,
    number: 2,
    online: true,
    status: 'published',
    ...extra,
  };
}

function plan(input: Partial<CallPlanInput> & Pick<CallPlanInput, 'lessons' | 'now'>) {
  return planCalls({ journalId: JOURNAL, templates: [template()], timeZone: MOSCOW, ...input });
}

function running(lessonId: string, autoEndAt: number | null): RunningCall {
  return { lessonId, startedAt: msk(`${TODAY}T09:05`), autoEndAt, lessonIds: [lessonId] };
}

/** Asserts that the plan's next action is an automatic start, and narrows it to one. */
function expectStart(next: CallAction | null): Extract<CallAction, { kind: 'start' }> {
  assert.ok(next?.kind === 'start', `expected a start, got ${JSON.stringify(next)}`);
  return next;
}

/** Runs `fn` with the process time zone set to each of `zones` (Node re-reads TZ on assignment). */
function underProcessZones(zones: readonly string[], fn: () => void): void {
  const saved = process.env.TZ;
  try {
    for (const zone of zones) {
      process.env.TZ = zone;
      fn();
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

void describe('call planner: automatic start (V1, V2)', () => {
  void test('V2: auto-start is scheduled 20 minutes before the lesson starts', () => {
    const result = plan({ lessons: [lesson('l-2')], now: msk(`${TODAY}T08:00`) });
    assert.deepEqual(result.next, {
      kind: 'start',
      lessonId: 'l-2',
      at: msk(`${TODAY}T09:05`),
      lessonStart: msk(`${TODAY}T09:25`),
      lessonEnd: msk(`${TODAY}T10:10`),
      autoEndAt: msk(`${TODAY}T10:30`),
    });
    assert.equal(result.manualOnly, null);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(result.lessonTimes, {
      'l-2': { start: msk(`${TODAY}T09:25`), end: msk(`${TODAY}T10:10`) },
    });
  });

  void test('V2: a lesson less than 20 minutes away starts now', () => {
    const now = msk(`${TODAY}T09:15`);
    assert.equal(plan({ lessons: [lesson('l-2')], now }).next?.at, now);
  });

  void test('V2: exactly 20 minutes after the start the lesson is still auto-started, now', () => {
    const now = msk(`${TODAY}T09:45`);
    const { next, skipped } = plan({ lessons: [lesson('l-2')], now });
    const start = expectStart(next);
    assert.equal(start.lessonId, 'l-2');
    assert.equal(start.at, now);
    assert.deepEqual(skipped, []);
  });

  void test('V2: 21 minutes after the start the lesson is manual only (startedTooLongAgo)', () => {
    const result = plan({ lessons: [lesson('l-2')], now: msk(`${TODAY}T09:46`) });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-2', reason: 'startedTooLongAgo' }]);
    // The lesson being too late is not a template problem: the journal is not "manual only".
    assert.equal(result.manualOnly, null);
  });

  void test('V2: a lesson tomorrow is scheduled 20 minutes before its start', () => {
    const result = plan({
      lessons: [lesson('l-tomorrow', { date: TOMORROW, number: 1 })],
      now: msk(`${TODAY}T15:00`),
    });
    const start = expectStart(result.next);
    assert.equal(start.lessonId, 'l-tomorrow');
    assert.equal(start.at, msk(`${TOMORROW}T08:10`));
  });

  void test('V2: a lesson the day after tomorrow is not a candidate yet; the plan is redone at midnight', () => {
    const result = plan({
      lessons: [lesson('l-later', { date: DAY_AFTER_TOMORROW })],
      now: msk(`${TODAY}T15:00`),
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-later', reason: 'notTodayOrTomorrow' }]);
    assert.equal(result.manualOnly, null);
    assert.equal(result.replanAt, msk(`${TOMORROW}T00:00`));
  });

  void test('V2: the nearest lesson is chosen, whatever order the lessons arrive in', () => {
    const result = plan({
      lessons: [
        lesson('l-tomorrow', { date: TOMORROW, number: 1 }),
        lesson('l-4', { number: 4 }),
        lesson('l-3', { number: 3 }),
      ],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(expectStart(result.next).lessonId, 'l-3');
  });

  void test('V2: past days are history and are neither planned nor reported', () => {
    const result = plan({
      lessons: [lesson('l-yesterday', { date: '2026-11-30' }), lesson('l-2')],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(expectStart(result.next).lessonId, 'l-2');
    assert.deepEqual(result.skipped, []);
  });

  void test('V1: conducted lessons count like published ones', () => {
    const result = plan({
      lessons: [lesson('l-2', { status: 'conducted' })],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(expectStart(result.next).lessonId, 'l-2');
  });

  void test('V1: lessons with the online switch off are ignored', () => {
    const result = plan({
      lessons: [lesson('l-2', { online: false })],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-2', reason: 'notOnline' }]);
  });

  void test("V1: lessons of other journals are not this journal's concern", () => {
    const result = plan({
      lessons: [lesson('l-history', { journalId: 'j-history-7a' })],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, []);
  });

  void test('V2: a lesson whose number has no time in the grid is not auto-started (noGridTime)', () => {
    const result = plan({ lessons: [lesson('l-7', { number: 7 })], now: msk(`${TODAY}T08:00`) });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-7', reason: 'noGridTime' }]);
    assert.deepEqual(result.lessonTimes, {});
  });

  void test('V5: a lesson whose call already ran is not started again inside its window', () => {
    // The teacher ended the call by hand at 09:35; a replan at 09:40 must not restart it.
    const result = plan({
      lessons: [lesson('l-2')],
      now: msk(`${TODAY}T09:40`),
      calledLessonIds: ['l-2'],
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-2', reason: 'alreadyCalled' }]);
  });
});

void describe('call planner: unpublished earlier lesson (V3)', () => {
  void test('V3: an earlier online lesson left unpublished is skipped and named in a warning', () => {
    const result = plan({
      lessons: [lesson('l-1', { number: 1, status: 'draft' }), lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T08:00`),
    });
    const start = expectStart(result.next);
    assert.equal(start.lessonId, 'l-3');
    assert.equal(start.at, msk(`${TODAY}T10:05`));
    assert.deepEqual(result.warnings, [
      { kind: 'earlierUnpublished', skippedLessonId: 'l-1', chosenLessonId: 'l-3' },
    ]);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-1', reason: 'notPublished' }]);
  });

  void test('V3: a draft after the chosen lesson raises no warning', () => {
    const result = plan({
      lessons: [lesson('l-1', { number: 1 }), lesson('l-3', { number: 3, status: 'draft' })],
      now: msk(`${TODAY}T08:00`),
    });
    assert.equal(expectStart(result.next).lessonId, 'l-1');
    assert.deepEqual(result.warnings, []);
  });

  void test('V3: a draft already past its 20-minute window no longer competes, so no warning', () => {
    const result = plan({
      lessons: [lesson('l-1', { number: 1, status: 'draft' }), lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T09:00`),
    });
    assert.equal(expectStart(result.next).lessonId, 'l-3');
    assert.deepEqual(result.warnings, []);
  });
});

void describe('call planner: timetable template (V7)', () => {
  const now = msk(`${TODAY}T08:00`);

  function assertManualOnly(templates: Template[], reasons: string[]): void {
    const result = plan({ lessons: [lesson('l-2')], now, templates });
    assert.equal(result.next, null);
    assert.deepEqual(result.manualOnly?.reasons, reasons);
    assert.deepEqual(result.skipped, [{ lessonId: 'l-2', reason: 'templateIncomplete' }]);
  }

  void test('V7: a template with a start date and no end date names the end date (noEndDate)', () => {
    assertManualOnly([template({ validTo: null })], ['noEndDate']);
  });

  void test('V7: a template with neither date names both (noStartDate, noEndDate)', () => {
    assertManualOnly([template({ validFrom: null, validTo: null })], ['noStartDate', 'noEndDate']);
  });

  void test('V7: a lesson number of the journal with no row in the grid is named (lessonNotInGrid)', () => {
    const entries = [{ journalId: JOURNAL, weekday: 2, number: 7 }];
    const result = plan({ lessons: [lesson('l-2')], now, templates: [template({ entries })] });
    assert.equal(result.next, null);
    assert.deepEqual(result.manualOnly, {
      reasons: ['lessonNotInGrid'],
      templateId: 'tpl-2026',
      gridGaps: [{ number: 7, lacks: 'row' }],
    });
  });

  void test('V7: without "send to the portal by default" calls are manual only (notSentToPortal)', () => {
    assertManualOnly([template({ sendToPortal: false })], ['notSentToPortal']);
  });

  void test('V7: with a grid lacking start and end times calls are manual only (gridWithoutTimes)', () => {
    const grid = [
      { number: 1, start: null, end: null },
      { number: 2, start: '09:25', end: null },
    ];
    assertManualOnly([template({ grid })], ['gridWithoutTimes', 'lessonWithoutTimes']);
    const result = plan({ lessons: [lesson('l-2')], now, templates: [template({ grid })] });
    assert.deepEqual(result.manualOnly?.gridGaps, [{ number: 2, lacks: 'end' }]);
  });

  void test('V7: with no entry for this journal calls are manual only (noEntryForJournal)', () => {
    const entries = [{ journalId: 'j-history-7a', weekday: 2, number: 2 }];
    assertManualOnly([template({ entries })], ['noEntryForJournal']);
  });

  void test('V7: with no template at all calls are manual only (noTemplate)', () => {
    assertManualOnly([], ['noTemplate']);
  });

  void test('V7: a template entry on a different weekday than the lesson still enables automatic calls', () => {
    // The only entry is on Friday; the lesson is on Tuesday.
    const entries = [{ journalId: JOURNAL, weekday: 5, number: 4 }];
    const result = plan({ lessons: [lesson('l-2')], now, templates: [template({ entries })] });
    assert.equal(result.manualOnly, null);
    assert.equal(expectStart(result.next).at, msk(`${TODAY}T09:05`));
  });

  void test('V7: the journal says why it is manual only even when no lesson is due', () => {
    const result = plan({ lessons: [], now, templates: [template({ sendToPortal: false })] });
    assert.deepEqual(result.manualOnly, {
      reasons: ['notSentToPortal'],
      templateId: 'tpl-2026',
      gridGaps: [],
    });
  });

  void test('V7: a lesson after the template has expired is manual only (notValidOnDate)', () => {
    const result = plan({
      lessons: [lesson('l-2', { date: '2026-12-29' })],
      now: msk('2026-12-29T08:00'),
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.manualOnly?.reasons, ['notValidOnDate']);
  });

  void test('V7: with an incomplete template a running call has no automatic end either', () => {
    const result = plan({
      lessons: [lesson('l-2'), lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T09:40`),
      templates: [template({ sendToPortal: false })],
      running: running('l-2', msk(`${TODAY}T10:30`)),
    });
    assert.equal(result.next, null);
    assert.deepEqual(result.manualOnly?.reasons, ['notSentToPortal']);
  });
});

void describe('call planner: running call (V5, back-to-back)', () => {
  void test('V5: a running call is scheduled to end 20 minutes after its lesson ends', () => {
    const result = plan({
      lessons: [lesson('l-2')],
      now: msk(`${TODAY}T09:40`),
      running: running('l-2', msk(`${TODAY}T10:30`)),
    });
    assert.deepEqual(result.next, { kind: 'end', lessonId: 'l-2', at: msk(`${TODAY}T10:30`) });
    assert.deepEqual(result.skipped, []);
  });

  void test('V5: an auto-end already overdue is due now', () => {
    const now = msk(`${TODAY}T10:45`);
    const result = plan({
      lessons: [lesson('l-2')],
      now,
      running: running('l-2', msk(`${TODAY}T10:30`)),
    });
    assert.deepEqual(result.next, { kind: 'end', lessonId: 'l-2', at: now });
  });

  void test('V3: while a call runs no second call is started; back-to-back: it carries over to the next lesson', () => {
    // Lesson 3 auto-starts at 10:05, before lesson 2's call would end at 10:30.
    const result = plan({
      lessons: [lesson('l-2'), lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T09:40`),
      running: running('l-2', msk(`${TODAY}T10:30`)),
    });
    assert.deepEqual(result.next, {
      kind: 'carryOver',
      fromLessonId: 'l-2',
      toLessonId: 'l-3',
      at: msk(`${TODAY}T10:05`),
      newAutoEndAt: msk(`${TODAY}T11:30`),
    });
  });

  void test('back-to-back: a lesson that auto-starts after the auto-end gets a call of its own', () => {
    // Lesson 4 auto-starts at 11:05, after lesson 2's call ends at 10:30.
    const result = plan({
      lessons: [lesson('l-2'), lesson('l-4', { number: 4 })],
      now: msk(`${TODAY}T09:40`),
      running: running('l-2', msk(`${TODAY}T10:30`)),
    });
    assert.deepEqual(result.next, { kind: 'end', lessonId: 'l-2', at: msk(`${TODAY}T10:30`) });
  });

  void test('back-to-back: a call started by hand with no automatic end carries over to the next lesson', () => {
    const result = plan({
      lessons: [lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T09:40`),
      running: running('l-manual', null),
    });
    assert.deepEqual(result.next, {
      kind: 'carryOver',
      fromLessonId: 'l-manual',
      toLessonId: 'l-3',
      at: msk(`${TODAY}T10:05`),
      newAutoEndAt: msk(`${TODAY}T11:30`),
    });
  });

  void test('V5: a call with no automatic end and no next lesson waits for a manual end', () => {
    const result = plan({
      lessons: [lesson('l-2')],
      now: msk(`${TODAY}T09:40`),
      running: running('l-2', null),
    });
    assert.equal(result.next, null);
    assert.equal(result.manualOnly, null);
  });

  void test('back-to-back: lessons already carried by the running call are not planned again', () => {
    const result = plan({
      lessons: [lesson('l-2'), lesson('l-3', { number: 3 })],
      now: msk(`${TODAY}T10:20`),
      running: { ...running('l-3', msk(`${TODAY}T11:30`)), lessonIds: ['l-2', 'l-3'] },
    });
    assert.deepEqual(result.next, { kind: 'end', lessonId: 'l-3', at: msk(`${TODAY}T11:30`) });
    assert.deepEqual(result.skipped, []);
  });
});

void describe('call planner: time zones', () => {
  const serverZones = ['UTC', 'America/Los_Angeles', 'Asia/Vladivostok', 'Europe/Moscow'];

  void test("V2: today and tomorrow are the school's days, not the server's (Asia/Vladivostok)", () => {
    // 23:30 UTC on 1 December is already 09:30 on 2 December in Vladivostok (UTC+10).
    const now = Date.parse('2026-12-01T23:30:00Z');
    underProcessZones(serverZones, () => {
      const result = planCalls({
        journalId: JOURNAL,
        templates: [template()],
        timeZone: 'Asia/Vladivostok',
        now,
        lessons: [
          lesson('l-dec3', { date: '2026-12-03', number: 1 }),
          lesson('l-dec4', { date: '2026-12-04', number: 1 }),
        ],
      });
      const start = expectStart(result.next);
      assert.equal(start.lessonId, 'l-dec3');
      assert.equal(start.at, Date.parse('2026-12-02T22:10:00Z'));
      assert.deepEqual(result.skipped, [{ lessonId: 'l-dec4', reason: 'notTodayOrTomorrow' }]);
      assert.equal(result.replanAt, Date.parse('2026-12-02T14:00:00Z'));
    });
  });

  void test('V2: a lesson after the spring DST change starts on the summer clock (America/New_York)', () => {
    // Sunday 8 March 2026, 01:00 EST; clocks go forward at 02:00. Monday's 09:25 is EDT (UTC-4).
    const now = Date.parse('2026-03-08T06:00:00Z');
    underProcessZones(serverZones, () => {
      const result = planCalls({
        journalId: JOURNAL,
        templates: [template()],
        timeZone: 'America/New_York',
        now,
        lessons: [lesson('l-mon', { date: '2026-03-09' })],
      });
      const start = expectStart(result.next);
      assert.equal(start.lessonStart, Date.parse('2026-03-09T13:25:00Z'));
      assert.equal(start.at, Date.parse('2026-03-09T13:05:00Z'));
      assert.equal(result.replanAt, Date.parse('2026-03-09T04:00:00Z'));
    });
  });

  void test('V2, V5: exact instants for a school in Asia/Yekaterinburg (UTC+5), whatever the server zone', () => {
    underProcessZones(serverZones, () => {
      const result = planCalls({
        journalId: JOURNAL,
        templates: [template()],
        timeZone: 'Asia/Yekaterinburg',
        now: 1796094000000, // 2026-12-01 08:00 in Yekaterinburg
        lessons: [lesson('l-2')],
      });
      assert.deepEqual(result.next, {
        kind: 'start',
        lessonId: 'l-2',
        at: 1796097900000, // 09:05
        lessonStart: 1796099100000, // 09:25
        lessonEnd: 1796101800000, // 10:10
        autoEndAt: 1796103000000, // 10:30
      });
      assert.equal(result.replanAt, 1796151600000); // 2026-12-02 00:00
    });
  });

  void test('V2: 20 minutes means 20 minutes of real time across the autumn DST change', () => {
    // Sunday 1 November 2026 in New York: 01:00-02:00 happens twice. A lesson at 01:10
    // (first occurrence, EDT) auto-starts at 00:50 EDT = 04:50 UTC.
    const result = planCalls({
      journalId: JOURNAL,
      templates: [template({ grid: [{ number: 2, start: '01:10', end: '01:55' }] })],
      timeZone: 'America/New_York',
      now: Date.parse('2026-11-01T04:00:00Z'),
      lessons: [lesson('l-night', { date: '2026-11-01' })],
    });
    const start = expectStart(result.next);
    assert.equal(start.at, Date.parse('2026-11-01T04:50:00Z'));
    assert.equal(start.lessonEnd - start.lessonStart, 45 * MINUTE);
  });
});

void describe('call planner: journals without calls (V1, C2)', () => {
  const now = msk(`${TODAY}T08:00`);

  void test('V1/C2: an extracurricular journal gets no automatic call; its online lessons count as not online', () => {
    const result = plan({
      lessons: [lesson('l-2'), lesson('l-t', { date: TOMORROW })],
      now,
      journal: { kind: 'extracurricular', subjectChat: true },
    });
    assert.equal(result.next, null);
    assert.equal(result.callsUnavailable, 'callsNotAvailable');
    assert.equal(result.manualOnly, null, 'the template is not what is missing');
    assert.deepEqual(result.skipped, [
      { lessonId: 'l-2', reason: 'callsNotAvailable' },
      { lessonId: 'l-t', reason: 'callsNotAvailable' },
    ]);
  });

  void test('V1/C2: a general journal whose subject-chat option is off gets no automatic call', () => {
    const result = plan({
      lessons: [lesson('l-2')],
      now,
      journal: { kind: 'general', subjectChat: false },
    });
    assert.equal(result.next, null);
    assert.equal(result.callsUnavailable, 'noSubjectChat');
    assert.deepEqual(result.skipped, [{ lessonId: 'l-2', reason: 'callsNotAvailable' }]);
  });

  void test('V1/C2: a general journal with the subject chat on gets its call', () => {
    const result = plan({
      lessons: [lesson('l-2')],
      now,
      journal: { kind: 'general', subjectChat: true },
    });
    assert.equal(expectStart(result.next).lessonId, 'l-2');
    assert.equal(result.callsUnavailable, null);
  });
});
