import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { rosterSnapshotSchema, type RosterSnapshot } from '../../src/contracts/roster';
import { planChats } from '../../src/domain/chat-plan';
import { generateRoster, LESSON_GRID } from '../../src/demo/roster-generator';
import { validateSnapshot } from '../../src/domain/roster-validation';

const small = generateRoster({ seed: 7, size: 'small', today: '2026-12-01' });
const large = generateRoster({ seed: 7, size: 'large', today: '2026-12-01' });

function people(roster: RosterSnapshot): { vkId: number | null }[] {
  return [...roster.staff, ...roster.students, ...roster.parents];
}

void test('the same seed gives the same roster, another seed a different one', () => {
  assert.deepEqual(generateRoster({ seed: 7, size: 'large', today: '2026-12-01' }), large);
  assert.deepEqual(
    generateRoster({ seed: 'demo', size: 'small' }),
    generateRoster({ seed: 'demo', size: 'small' }),
  );
  assert.notDeepEqual(generateRoster({ seed: 8, size: 'small', today: '2026-12-01' }), small);
});

void test('generated rosters pass the import schema and the reference checks', () => {
  for (const roster of [small, large]) {
    assert.deepEqual(rosterSnapshotSchema.parse(roster), roster);
    const result = validateSnapshot(roster);
    assert.ok(result.ok, JSON.stringify(result.ok ? [] : result.errors.slice(0, 5)));
  }
});

void test('a small school is one class of about 25 students with a subject chat for the demo', () => {
  assert.deepEqual(
    small.classes.map((c) => c.name),
    ['5А'],
  );
  assert.ok(
    small.students.length >= 20 && small.students.length <= 30,
    `${small.students.length} students`,
  );
  assert.ok(
    small.parents.length >= 30 && small.parents.length <= 50,
    `${small.parents.length} parents`,
  );
  assert.ok(small.staff.length >= 6 && small.staff.length <= 14, `${small.staff.length} staff`);
  const subjectChats = planChats(small).chats.filter((c) => c.kind === 'subject');
  assert.ok(subjectChats.length >= 1);
});

void test('a small school has a published online lesson today whatever the weekday', () => {
  for (const today of ['2026-11-29', '2026-11-30', '2026-12-05']) {
    const roster = generateRoster({ seed: 3, size: 'small', today });
    assert.ok(
      roster.lessons.some((l) => l.date === today && l.online && l.status === 'published'),
      today,
    );
  }
});

void test('a large school has 33 classes and the sizes of a big city school', () => {
  assert.equal(large.classes.length, 33);
  const within = (n: number, target: number): boolean => Math.abs(n - target) <= target * 0.1;
  assert.ok(within(large.students.length, 1000), `${large.students.length} students`);
  assert.ok(within(large.parents.length, 1700), `${large.parents.length} parents`);
  assert.ok(within(large.staff.length, 120), `${large.staff.length} staff`);
  assert.ok(within(large.journals.length, 400), `${large.journals.length} journals`);
});

void test('S4: about a tenth of the people have no VK ID, and VK IDs are unique', () => {
  const all = people(large);
  const missing = all.filter((p) => p.vkId === null).length / all.length;
  assert.ok(missing > 0.07 && missing < 0.13, `${missing}`);
  const ids = all.flatMap((p) => (p.vkId === null ? [] : [p.vkId]));
  assert.equal(new Set(ids).size, ids.length);
});

void test('names are Russian with gendered surnames and patronymics', () => {
  const cyrillic = /^[А-ЯЁ][а-яё-]+$/;
  for (const person of [...large.staff, ...large.students, ...large.parents]) {
    assert.match(person.lastName, cyrillic);
    assert.match(person.firstName, cyrillic);
    assert.match(person.middleName ?? '', /^[А-ЯЁ][а-яё]+(вич|вна|ич|ична)$/);
  }
  // A mother shares her child's family name in its feminine form.
  const students = new Map(large.students.map((s) => [s.id, s]));
  const mother = large.parents.find(
    (p) => /вна|ична$/.test(p.middleName ?? '') && p.lastName.endsWith('ова'),
  );
  assert.ok(mother);
  const child = students.get(mother.childIds[0] ?? '');
  assert.ok(child);
  assert.ok(child.lastName === mother.lastName || `${child.lastName}а` === mother.lastName);
});

void test('C1: some parents have children in two classes', () => {
  const classOf = new Map(large.students.map((s) => [s.id, s.classId]));
  const spanning = large.parents.filter(
    (p) => new Set(p.childIds.map((id) => classOf.get(id))).size > 1,
  );
  assert.ok(spanning.length > 10);
});

void test('C5: every class has a distinct class teacher and the school a director', () => {
  const teachers = large.classes.map((c) => c.classTeacherId);
  assert.ok(teachers.every((t) => t !== null));
  assert.equal(new Set(teachers).size, teachers.length);
  assert.ok(
    large.staff.some((s) => s.active && s.positions.some((p) => p.level === 'head-1' && p.active)),
  );
  assert.ok(large.staff.some((s) => s.actingHead));
});

void test('V7: the timetable template is complete, with the school bell grid', () => {
  const [template] = large.templates;
  assert.ok(template);
  assert.ok(template.validFrom !== null && template.validTo !== null);
  assert.equal(template.sendToPortal, true);
  assert.deepEqual(template.grid, LESSON_GRID);
  assert.deepEqual(template.grid[0], { number: 1, start: '08:30', end: '09:15' });
  const scheduled = new Set(template.entries.map((e) => e.journalId));
  assert.ok(large.journals.every((j) => scheduled.has(j.id)));
});

void test('V1: lessons exist for today and tomorrow, online only in subject-chat journals', () => {
  const dates = new Set(large.lessons.map((l) => l.date));
  assert.deepEqual([...dates].sort(), ['2026-12-01', '2026-12-02']);
  const journals = new Map(large.journals.map((j) => [j.id, j]));
  const online = large.lessons.filter((l) => l.online);
  assert.ok(online.length > 0);
  assert.ok(online.every((l) => journals.get(l.journalId)?.subjectChat === true));
});

void test('C2: the large school includes non-general journals with the subject-chat option on', () => {
  assert.ok(large.journals.some((j) => j.kind !== 'general' && j.subjectChat));
});

void test('the committed example import file is the small demo roster and passes validation', () => {
  const file = JSON.parse(
    readFileSync(join(__dirname, '..', 'fixtures', 'roster-small.json'), 'utf8'),
  ) as unknown;
  const expected = generateRoster({
    seed: 'demo',
    size: 'small',
    schoolId: 'school-demo',
    today: '2026-12-01',
  });
  assert.deepEqual(file, rosterSnapshotSchema.parse(expected));
  assert.ok(validateSnapshot(file).ok);
});
