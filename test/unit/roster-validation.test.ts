import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { RosterSnapshot, Template } from '../../src/contracts/roster';
import { generateRoster } from '../../src/demo/roster-generator';
import {
  formatPath,
  validateChangeSet,
  validateSnapshot,
} from '../../src/domain/roster-validation';
import { applyChangeSet, diffRosters } from '../../src/domain/roster-changes';
import type { RosterIssue } from '../../src/domain/roster-issues';

const base = (): RosterSnapshot => generateRoster({ seed: 11, size: 'small', today: '2026-12-01' });

function errorsOf(result: { ok: true } | { ok: false; errors: RosterIssue[] }): RosterIssue[] {
  assert.equal(result.ok, false, 'expected the input to be rejected');
  return result.ok ? [] : result.errors;
}

function paths(errors: readonly RosterIssue[]): string[] {
  return errors.map((e) => e.path).sort();
}

void test('a valid snapshot is accepted with defaults applied', () => {
  const result = validateSnapshot({
    school: { id: 'sch', name: 'Школа' },
    classes: [{ id: 'cls-1', name: '1А', classTeacherId: null }],
  });
  assert.ok(result.ok);
  assert.equal(result.value.school.timeZone, 'Europe/Moscow');
  assert.deepEqual(result.value.staff, []);
  assert.deepEqual(result.value.classes, [{ id: 'cls-1', name: '1А', classTeacherId: null }]);
});

void test('every schema error is reported with its path, not only the first', () => {
  const roster = base();
  const input = {
    ...roster,
    school: { id: 'bad id!', name: '' },
    students: roster.students.map((s, i) => (i === 3 ? { ...s, active: 'yes' } : s)),
    lessons: roster.lessons.map((l, i) =>
      i === 0 ? { ...(l as object), date: '01.12.2026', status: 'done' } : l,
    ),
  };
  const errors = errorsOf(validateSnapshot(input));
  assert.deepEqual(paths(errors), [
    'lessons[0].date',
    'lessons[0].status',
    'school.id',
    'school.name',
    'students[3].active',
  ]);
  assert.ok(errors.every((e) => e.message.length > 0));
});

void test('references to missing records are reported at the field that holds them', () => {
  const roster = base();
  roster.students[2] = { ...roster.students[2]!, classId: 'cls-nope' };
  roster.parents[1] = { ...roster.parents[1]!, childIds: [roster.students[0]!.id, 'stu-nope'] };
  roster.journals[0] = {
    ...roster.journals[0]!,
    classId: 'cls-nope',
    teacherIds: ['stf-nope'],
    studentIds: ['stu-x'],
  };
  roster.lessons[0] = { ...roster.lessons[0]!, journalId: 'jr-nope' };
  roster.classes[0] = { ...roster.classes[0]!, classTeacherId: 'stf-nope' };
  const template = roster.templates[0]!;
  roster.templates[0] = {
    ...template,
    entries: [{ journalId: 'jr-nope', weekday: 1, number: 1 }, ...template.entries],
  };
  const errors = errorsOf(validateSnapshot(roster));
  assert.deepEqual(paths(errors), [
    'classes[0].classTeacherId',
    'journals[0].classId',
    'journals[0].studentIds[0]',
    'journals[0].teacherIds[0]',
    'lessons[0].journalId',
    'parents[1].childIds[1]',
    'students[2].classId',
    'templates[0].entries[0].journalId',
  ]);
  assert.deepEqual(
    errors.find((e) => e.path === 'students[2].classId'),
    { path: 'students[2].classId', message: 'class "cls-nope" does not exist' },
  );
});

void test('duplicate IDs are reported with the first occurrence', () => {
  const roster = base();
  roster.students.push({ ...roster.students[4]!, firstName: 'Другой' });
  const errors = errorsOf(validateSnapshot(roster));
  const last = roster.students.length - 1;
  assert.deepEqual(errors, [
    {
      path: `students[${last}].id`,
      message: `duplicate id "${roster.students[4]!.id}", first at students[4]`,
    },
  ]);
});

void test('a record with a schema error does not make the records pointing at it fail too', () => {
  const roster = base() as unknown as { classes: Record<string, unknown>[] } & Record<
    string,
    unknown
  >;
  roster.classes[0] = { ...roster.classes[0], name: '' };
  assert.deepEqual(paths(errorsOf(validateSnapshot(roster))), ['classes[0].name']);
});

void test('V7: template dates and lesson grid are checked for order and duplicates', () => {
  const roster = base();
  const template = roster.templates[0]!;
  roster.templates[0] = {
    ...template,
    validFrom: '2027-01-01',
    validTo: '2026-09-01',
    grid: [
      { number: 1, start: '08:30', end: '08:00' },
      { number: 1, start: '09:25', end: '10:10' },
    ],
  };
  assert.deepEqual(paths(errorsOf(validateSnapshot(roster))), [
    'templates[0].grid[0].end',
    'templates[0].grid[1].number',
    'templates[0].validTo',
  ]);
});

void test('a document that is not an object is rejected at the root', () => {
  assert.deepEqual(errorsOf(validateSnapshot([])), [
    { path: '(root)', message: 'expected a JSON object' },
  ]);
  assert.deepEqual(
    paths(errorsOf(validateSnapshot({ school: { id: 's', name: 'n' }, staff: {} }))),
    ['staff'],
  );
});

void test('C3: a change set adds, replaces and removes records by ID', () => {
  const current = base();
  const moved = { ...current.students[0]!, active: false };
  const added = { ...current.students[1]!, id: 'stu-new' };
  const removedParent = current.parents.find((p) => !p.childIds.includes('stu-new'))!;
  const result = validateChangeSet(
    {
      schoolId: current.school.id,
      upsert: { students: [moved, added] },
      remove: { parents: [removedParent.id] },
    },
    current,
  );
  assert.ok(result.ok, JSON.stringify(result.ok ? [] : result.errors));
  const { next } = result.value;
  assert.equal(next.students.length, current.students.length + 1);
  assert.equal(next.students.find((s) => s.id === moved.id)?.active, false);
  assert.ok(!next.parents.some((p) => p.id === removedParent.id));
  const changes = diffRosters(current, next);
  assert.deepEqual(changes.students, { added: ['stu-new'], changed: [moved.id], removed: [] });
  assert.deepEqual(changes.parents, { added: [], changed: [], removed: [removedParent.id] });
  assert.deepEqual(changes.staff, { added: [], changed: [], removed: [] });
});

void test('a change set that removes a record still referenced is rejected at the removal', () => {
  const current = base();
  const classId = current.classes[0]!.id;
  const errors = errorsOf(
    validateChangeSet({ schoolId: current.school.id, remove: { classes: [classId] } }, current),
  );
  assert.ok(errors.length > current.students.length);
  assert.ok(errors.every((e) => e.path === 'remove.classes[0]'));
  assert.match(errors[0]!.message, /^still referenced by /);
});

void test('a change set reports bad records, unknown collections and conflicting operations with paths', () => {
  const current = base();
  const student = current.students[0]!;
  const errors = errorsOf(
    validateChangeSet(
      {
        schoolId: 'another-school',
        upsert: { students: [{ ...student, classId: 'cls-nope' }, { id: 'x' }], pupils: [] },
        remove: { students: [student.id, 42] },
      },
      current,
    ),
  );
  const got = paths(errors);
  assert.ok(got.includes('schoolId'));
  assert.ok(got.includes('upsert.pupils'));
  assert.ok(got.includes('upsert.students[0].classId'));
  assert.ok(got.includes('upsert.students[1].classId'));
  assert.ok(got.includes('remove.students[1]'));
});

void test('a change set that upserts and removes the same ID is rejected', () => {
  const current = base();
  const student = current.students[0]!;
  const errors = errorsOf(
    validateChangeSet(
      {
        schoolId: current.school.id,
        upsert: { students: [student] },
        remove: { students: [student.id] },
      },
      current,
    ),
  );
  assert.deepEqual(paths(errors), ['remove.students[0]']);
});

void test('applyChangeSet leaves the input untouched', () => {
  const current = base();
  const snapshot = JSON.stringify(current);
  applyChangeSet(current, {
    schoolId: current.school.id,
    upsert: {},
    remove: { lessons: [current.lessons[0]!.id] },
  });
  assert.equal(JSON.stringify(current), snapshot);
});

void test('paths are written the way people read them', () => {
  assert.equal(formatPath(['students', 3, 'classId']), 'students[3].classId');
  assert.equal(formatPath([0, 'id'], 'upsert.staff'), 'upsert.staff[0].id');
  assert.equal(formatPath([]), '(root)');
});

/** Two classes, a subgroup journal of 5А, and an extracurricular and an option-off journal. */
function twoClasses(): RosterSnapshot {
  const pupil = (id: string, classId: string) => ({
    id,
    classId,
    lastName: 'Петров',
    firstName: 'Иван',
    vkId: null,
    active: true,
  });
  const journal = (id: string, extra: object) => ({
    id,
    classId: 'c-5a',
    subject: 'Английский язык',
    teacherIds: [],
    kind: 'general' as const,
    subjectChat: true,
    ...extra,
  });
  const lesson = (id: string, journalId: string) => ({
    id,
    journalId,
    date: '2026-12-01',
    number: 1,
    online: true,
    status: 'published' as const,
  });
  const result = validateSnapshot({
    school: { id: 'sch', name: 'Школа' },
    classes: [
      { id: 'c-5a', name: '5А', classTeacherId: null },
      { id: 'c-6b', name: '6Б', classTeacherId: null },
    ],
    students: [pupil('s-1', 'c-5a'), pupil('s-2', 'c-5a')],
    journals: [
      journal('j-en', { studentIds: ['s-1', 's-2'] }),
      journal('j-club', { kind: 'extracurricular' }),
      journal('j-off', { subjectChat: false }),
    ],
    lessons: [lesson('l-en', 'j-en'), lesson('l-club', 'j-club'), lesson('l-off', 'j-off')],
  });
  assert.ok(result.ok);
  return { ...result.value, lessons: result.value.lessons.map((l) => ({ ...l, online: true })) };
}

function warningsOf(
  result: ReturnType<typeof validateSnapshot> | ReturnType<typeof validateChangeSet>,
): { code: string; path: string; message: string }[] {
  assert.ok(result.ok, JSON.stringify(result));
  return result.ok ? result.warnings : [];
}

void test('C3: a subgroup student of another class is a warning on the snapshot, naming the journal field', () => {
  const roster = twoClasses();
  roster.students = roster.students.map((s) => (s.id === 's-2' ? { ...s, classId: 'c-6b' } : s));
  const warnings = warningsOf(validateSnapshot(roster)).filter(
    (w) => w.code === 'subgroupStudentOutsideClass',
  );
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['journals[0].studentIds[1]'],
  );
  assert.match(
    warnings[0]?.message ?? '',
    /"s-2" is in class "c-6b".*left out of the journal's subject chat/,
  );
});

void test('C3: a change set that moves a subgroup student warns at the stored journal', () => {
  const current = twoClasses();
  const moved = { ...current.students[1]!, classId: 'c-6b' };
  const warnings = warningsOf(
    validateChangeSet({ schoolId: 'sch', upsert: { students: [moved] } }, current),
  ).filter((w) => w.code === 'subgroupStudentOutsideClass');
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['journals[id=j-en].studentIds[1]'],
  );
});

void test('V1: online lessons in journals that cannot have calls are stored as not online, with a warning each', () => {
  const result = validateSnapshot(twoClasses());
  assert.ok(result.ok);
  assert.deepEqual(
    result.value.lessons.map((l) => [l.id, l.online]),
    [
      ['l-en', true],
      ['l-club', false],
      ['l-off', false],
    ],
  );
  const warnings = result.warnings.filter((w) => w.code === 'onlineLessonWithoutCalls');
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['lessons[1].online', 'lessons[2].online'],
  );
  assert.match(warnings[0]?.message ?? '', /extracurricular, not general-education/);
  assert.match(warnings[1]?.message ?? '', /subject-chat option off/);
});

void test('V1: a change set switching a journal’s subject-chat option off takes its stored lessons offline, with a warning', () => {
  const current = validateSnapshot(twoClasses());
  assert.ok(current.ok);
  const journal = { ...current.value.journals[0]!, subjectChat: false };
  const result = validateChangeSet(
    { schoolId: 'sch', upsert: { journals: [journal] } },
    current.value,
  );
  assert.ok(result.ok);
  assert.equal(result.value.next.lessons.find((l) => l.id === 'l-en')?.online, false);
  assert.ok(
    result.warnings.some(
      (w) => w.code === 'onlineLessonWithoutCalls' && w.path === 'lessons[id=l-en].online',
    ),
  );
});

void test('V7: a template without validTo is told that null is allowed there', () => {
  const roster = base();
  const template: Partial<Template> = { ...roster.templates[0]! };
  delete template.validTo;
  const errors = errorsOf(validateSnapshot({ ...roster, templates: [template] }));
  assert.deepEqual(errors, [
    {
      path: 'templates[0].validTo',
      message: 'required: a date (YYYY-MM-DD), or null if there is none',
    },
  ]);
  const typed = errorsOf(
    validateSnapshot({ ...roster, templates: [{ ...template, validTo: 20270531 }] }),
  );
  assert.deepEqual(
    typed.map((e) => e.message),
    ['expected a date (YYYY-MM-DD) or null'],
  );
});

void test('V7: a template with null dates is valid (calls are then manual only)', () => {
  const roster = base();
  const template = { ...roster.templates[0]!, validFrom: null, validTo: null };
  assert.ok(validateSnapshot({ ...roster, templates: [template] }).ok);
});
