import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { journalFingerprints } from '../../activities/sync';
import { generateRoster } from '../../src/demo/roster-generator';

/**
 * After a new roster version the sync re-plans only the journal workflows whose inputs changed;
 * the fingerprint decides which. It must move with everything a journal's calls are planned from
 * and with nothing else.
 */

const roster = generateRoster({ seed: 'fingerprints', size: 'small', today: '2026-12-01' });
const inputs = {
  journals: roster.journals,
  timeZone: roster.school.timeZone,
  lessons: roster.lessons,
  templates: roster.templates,
};
const before = journalFingerprints(inputs);
const changedJournals = (after: Record<string, string>): string[] =>
  Object.keys(before).filter((id) => before[id] !== after[id]);

void describe('journal fingerprints (which journal workflows re-plan after an import)', () => {
  void test('the same inputs in another order give the same fingerprints', () => {
    const shuffled = journalFingerprints({
      ...inputs,
      lessons: [...inputs.lessons].reverse(),
    });
    assert.deepEqual(shuffled, before);
    assert.equal(Object.keys(before).length, roster.journals.length);
  });

  void test('a lesson published in one journal re-plans that journal only', () => {
    const lesson = roster.lessons.find((l) => l.status !== 'published');
    assert.ok(lesson, 'the generated school has an unpublished lesson');
    const after = journalFingerprints({
      ...inputs,
      lessons: roster.lessons.map((l) => (l === lesson ? { ...l, status: 'published' } : l)),
    });
    assert.deepEqual(changedJournals(after), [lesson.journalId]);
  });

  void test('a timetable template change re-plans every journal; a time zone change too', () => {
    const template = roster.templates[0];
    assert.ok(template);
    const moved = journalFingerprints({
      ...inputs,
      templates: [
        { ...template, sendToPortal: !template.sendToPortal },
        ...roster.templates.slice(1),
      ],
    });
    assert.equal(changedJournals(moved).length, roster.journals.length);
    const zoned = journalFingerprints({ ...inputs, timeZone: 'Asia/Yekaterinburg' });
    assert.equal(changedJournals(zoned).length, roster.journals.length);
  });

  void test("a journal's own record (its teachers) re-plans that journal only", () => {
    const journal = roster.journals[0];
    assert.ok(journal);
    const after = journalFingerprints({
      ...inputs,
      journals: roster.journals.map((j) => (j === journal ? { ...j, teacherIds: [] } : j)),
    });
    assert.deepEqual(changedJournals(after), [journal.id]);
  });
});
