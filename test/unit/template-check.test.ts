import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { Template } from '../../src/contracts/roster';
import { checkTemplate, selectTemplate } from '../../src/domain/template-check';

const JOURNAL = 'j-algebra-7a';

function template(extra: Partial<Template> = {}): Template {
  return {
    id: 'tpl-autumn',
    validFrom: '2026-09-01',
    validTo: '2026-12-31',
    sendToPortal: true,
    grid: [
      { number: 1, start: '08:30', end: '09:15' },
      { number: 2, start: '09:25', end: '10:10' },
      { number: 3, start: '10:25', end: '11:10' },
    ],
    entries: [
      { journalId: JOURNAL, weekday: 1, number: 2 },
      { journalId: 'j-history-7a', weekday: 2, number: 1 },
    ],
    ...extra,
  };
}

void describe('checkTemplate', () => {
  void test('V7: a template with dates, the portal flag, a timed grid and a journal entry is complete', () => {
    assert.deepEqual(checkTemplate({ template: template(), journalId: JOURNAL }), {
      complete: true,
      missing: [],
      gridGaps: [],
    });
  });

  void test('V7: a template without a date names which one is missing (noStartDate, noEndDate, or both)', () => {
    const cases: [Partial<Template>, string[]][] = [
      [{ validFrom: null }, ['noStartDate']],
      [{ validTo: null }, ['noEndDate']],
      [{ validFrom: null, validTo: null }, ['noStartDate', 'noEndDate']],
    ];
    for (const [dates, missing] of cases) {
      assert.deepEqual(checkTemplate({ template: template(dates), journalId: JOURNAL }), {
        complete: false,
        missing,
        gridGaps: [],
      });
    }
  });

  void test('V7: a template not sent to the portal by default is incomplete (notSentToPortal)', () => {
    assert.deepEqual(
      checkTemplate({ template: template({ sendToPortal: false }), journalId: JOURNAL }),
      { complete: false, missing: ['notSentToPortal'], gridGaps: [] },
    );
  });

  void test('V7: a template with an empty grid is incomplete (gridWithoutTimes), and the journal’s lesson has no row', () => {
    assert.deepEqual(checkTemplate({ template: template({ grid: [] }), journalId: JOURNAL }), {
      complete: false,
      missing: ['gridWithoutTimes', 'lessonNotInGrid'],
      gridGaps: [{ number: 2, lacks: 'row' }],
    });
  });

  void test('V7: a grid row this journal uses without an end time names the lesson and the end (lessonWithoutTimes)', () => {
    const grid = [
      { number: 1, start: '08:30', end: '09:15' },
      { number: 2, start: '09:25', end: null },
    ];
    assert.deepEqual(checkTemplate({ template: template({ grid }), journalId: JOURNAL }), {
      complete: false,
      missing: ['lessonWithoutTimes'],
      gridGaps: [{ number: 2, lacks: 'end' }],
    });
  });

  void test('V7: a grid row without a start, or without both times, says which', () => {
    for (const [row, lacks] of [
      [{ number: 2, start: null, end: '10:10' }, 'start'],
      [{ number: 2, start: null, end: null }, 'startAndEnd'],
    ] as const) {
      const grid = [{ number: 1, start: '08:30', end: '09:15' }, row];
      assert.deepEqual(checkTemplate({ template: template({ grid }), journalId: JOURNAL }), {
        complete: false,
        missing: ['lessonWithoutTimes'],
        gridGaps: [{ number: 2, lacks }],
      });
    }
  });

  void test('V7: an entry pointing at a lesson number the grid lacks names that number (lessonNotInGrid)', () => {
    const entries = [
      { journalId: JOURNAL, weekday: 1, number: 7 },
      { journalId: JOURNAL, weekday: 3, number: 7 },
    ];
    assert.deepEqual(checkTemplate({ template: template({ entries }), journalId: JOURNAL }), {
      complete: false,
      missing: ['lessonNotInGrid'],
      gridGaps: [{ number: 7, lacks: 'row' }],
    });
  });

  void test('V7: a grid row whose end is not after its start gives no times (lessonWithoutTimes)', () => {
    const grid = [{ number: 2, start: '10:10', end: '09:25' }];
    assert.deepEqual(checkTemplate({ template: template({ grid }), journalId: JOURNAL }), {
      complete: false,
      missing: ['gridWithoutTimes', 'lessonWithoutTimes'],
      gridGaps: [{ number: 2, lacks: 'endNotAfterStart' }],
    });
  });

  void test('V7: an untimed grid row that this journal does not use does not count against it', () => {
    const grid = [
      { number: 0, start: null, end: null },
      { number: 2, start: '09:25', end: '10:10' },
    ];
    assert.equal(
      checkTemplate({ template: template({ grid }), journalId: JOURNAL }).complete,
      true,
    );
  });

  void test('V7: a template with no lesson of this journal is incomplete (noEntryForJournal)', () => {
    assert.deepEqual(checkTemplate({ template: template(), journalId: 'j-physics-9b' }), {
      complete: false,
      missing: ['noEntryForJournal'],
      gridGaps: [],
    });
  });

  void test('V7: the journal entry may be on a different weekday than the lesson', () => {
    // The entry is on Monday (weekday 1); 2026-12-03 is a Thursday.
    assert.deepEqual(
      checkTemplate({ template: template(), journalId: JOURNAL, date: '2026-12-03' }),
      { complete: true, missing: [], gridGaps: [] },
    );
  });

  void test('V7: a lesson date outside the validity dates is not covered (notValidOnDate)', () => {
    assert.deepEqual(
      checkTemplate({ template: template(), journalId: JOURNAL, date: '2027-01-11' }),
      { complete: false, missing: ['notValidOnDate'], gridGaps: [] },
    );
    assert.equal(
      checkTemplate({ template: template(), journalId: JOURNAL, date: '2026-12-31' }).complete,
      true,
    );
  });

  void test('V7: every defect is listed, in the order the manual gives them', () => {
    const broken = template({ validTo: null, sendToPortal: false, grid: [], entries: [] });
    assert.deepEqual(checkTemplate({ template: broken, journalId: JOURNAL }), {
      complete: false,
      missing: ['noEndDate', 'notSentToPortal', 'gridWithoutTimes', 'noEntryForJournal'],
      gridGaps: [],
    });
  });
});

void describe('selectTemplate', () => {
  const spring = template({ id: 'tpl-spring', validFrom: '2027-01-09', validTo: '2027-05-31' });

  void test('V7: no template at all means calls are manual only (noTemplate)', () => {
    assert.deepEqual(selectTemplate({ templates: [], journalId: JOURNAL, date: '2026-12-03' }), {
      template: null,
      complete: false,
      missing: ['noTemplate'],
      gridGaps: [],
    });
  });

  void test('V7: the template whose validity covers the lesson date governs it', () => {
    const templates = [spring, template()];
    assert.equal(
      selectTemplate({ templates, journalId: JOURNAL, date: '2026-12-03' }).template?.id,
      'tpl-autumn',
    );
    assert.equal(
      selectTemplate({ templates, journalId: JOURNAL, date: '2027-02-01' }).template?.id,
      'tpl-spring',
    );
  });

  void test('V7: a covering template without this journal loses to a complete one that has it', () => {
    const otherClasses = template({ id: 'tpl-other', entries: [] });
    const selection = selectTemplate({
      templates: [otherClasses, template()],
      journalId: JOURNAL,
      date: '2026-12-03',
    });
    assert.equal(selection.template?.id, 'tpl-autumn');
    assert.equal(selection.complete, true);
  });

  void test("V7: with no complete template, the journal's own template reports its defects", () => {
    const own = template({ sendToPortal: false });
    const otherClasses = template({ id: 'tpl-other', entries: [] });
    assert.deepEqual(
      selectTemplate({ templates: [otherClasses, own], journalId: JOURNAL, date: '2026-12-03' }),
      { template: own, complete: false, missing: ['notSentToPortal'], gridGaps: [] },
    );
  });

  void test('V7: between the winter holidays the nearest template says the date is not covered', () => {
    const selection = selectTemplate({
      templates: [template(), spring],
      journalId: JOURNAL,
      date: '2027-01-05',
    });
    assert.equal(selection.complete, false);
    assert.deepEqual(selection.missing, ['notValidOnDate']);
  });

  void test('V7: overlapping complete templates resolve to the newest, whatever the order', () => {
    const revised = template({ id: 'tpl-autumn-rev', validFrom: '2026-11-01' });
    for (const templates of [
      [template(), revised],
      [revised, template()],
    ]) {
      assert.equal(
        selectTemplate({ templates, journalId: JOURNAL, date: '2026-12-03' }).template?.id,
        'tpl-autumn-rev',
      );
    }
  });
});
