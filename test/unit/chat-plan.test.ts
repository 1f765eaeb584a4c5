import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type {
  Journal,
  Lesson,
  Parent,
  SchoolClass,
  Staff,
  Student,
} from '../../src/contracts/roster';
import {
  chatKeys,
  planChats,
  type DesiredChat,
  type PlannerRoster,
} from '../../src/domain/chat-plan';

function staff(id: string, vkId: number | null, extra: Partial<Staff> = {}): Staff {
  return {
    id,
    lastName: 'Иванова',
    firstName: 'Мария',
    vkId,
    active: true,
    positions: [{ title: 'Учитель', level: 'teacher', active: true }],
    actingHead: false,
    accessRoles: ['teacher'],
    ...extra,
  };
}

function student(id: string, classId: string, vkId: number | null, active = true): Student {
  return { id, classId, lastName: 'Петров', firstName: 'Иван', vkId, active };
}

function parent(id: string, childIds: string[], vkId: number | null): Parent {
  return { id, childIds, lastName: 'Петрова', firstName: 'Анна', vkId };
}

function journal(id: string, classId: string, extra: Partial<Journal> = {}): Journal {
  return {
    id,
    classId,
    subject: 'Алгебра',
    teacherIds: ['t-math'],
    kind: 'general',
    subjectChat: true,
    ...extra,
  };
}

function lesson(id: string, journalId: string, extra: Partial<Lesson> = {}): Lesson {
  return {
    id,
    journalId,
    date: '2026-12-01',
    number: 2,
    online: true,
    status: 'published',
    ...extra,
  };
}

/**
 * Two classes: 5А (class teacher t-5a) and 6Б (class teacher t-6b). Director, deputy, secretary,
 * a maths teacher. Family "p-both" has a child in each class.
 */
function school(): {
  staff: Staff[];
  classes: SchoolClass[];
  students: Student[];
  parents: Parent[];
  journals: Journal[];
  lessons: Lesson[];
} {
  return {
    staff: [
      staff('t-dir', 1001, { positions: [{ title: 'Директор', level: 'head-1', active: true }] }),
      staff('t-dep', 1002, {
        positions: [{ title: 'Заместитель директора', level: 'head-2', active: true }],
      }),
      staff('t-sec', 1003, { positions: [{ title: 'Секретарь', level: 'other', active: true }] }),
      staff('t-math', 1004),
      staff('t-5a', 1005),
      staff('t-6b', 1006),
    ],
    classes: [
      { id: 'c-5a', name: '5А', classTeacherId: 't-5a' },
      { id: 'c-6b', name: '6Б', classTeacherId: 't-6b' },
    ],
    students: [
      student('s-1', 'c-5a', 2001),
      student('s-2', 'c-5a', 2002),
      student('s-3', 'c-6b', 2003),
      student('s-4', 'c-6b', 2004),
    ],
    parents: [
      parent('p-1', ['s-1'], 3001),
      parent('p-both', ['s-2', 's-3'], 3002),
      parent('p-4', ['s-4'], 3004),
    ],
    journals: [journal('j-alg', 'c-5a')],
    lessons: [lesson('l-1', 'j-alg')],
  };
}

function chat(roster: PlannerRoster, key: string): DesiredChat {
  const found = planChats(roster).chats.find((c) => c.key === key);
  assert.ok(found, `expected chat ${key}`);
  return found;
}

function keys(roster: PlannerRoster): string[] {
  return planChats(roster).chats.map((c) => c.key);
}

void describe('chat planner', () => {
  void test('C1: the staff room, a parents chat and a students chat per class', () => {
    const plan = planChats(school());
    assert.deepEqual(
      plan.chats.map((c) => [c.key, c.kind, c.title]),
      [
        ['staff-room', 'staffRoom', 'Учительская'],
        ['class-parents:c-5a', 'classParents', '5А — родители'],
        ['class-students:c-5a', 'classStudents', '5А — ученики'],
        ['class-parents:c-6b', 'classParents', '6Б — родители'],
        ['class-students:c-6b', 'classStudents', '6Б — ученики'],
        ['subject:j-alg', 'subject', '5А — Алгебра'],
      ],
    );
  });

  void test('C1: every active staff member is in the staff room', () => {
    assert.deepEqual(
      chat(school(), chatKeys.staffRoom()).members,
      [1001, 1002, 1003, 1004, 1005, 1006],
    );
  });

  void test('C1: a dismissed staff member leaves the staff room', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) => (s.id === 't-math' ? { ...s, active: false } : s));
    const room = chat(roster, chatKeys.staffRoom());
    assert.ok(!room.members.includes(1004));
    assert.ok(!chat(roster, chatKeys.subject('j-alg')).members.includes(1004));
  });

  void test('C1: the students chat holds the active students of the class and its class teacher', () => {
    const roster = school();
    roster.students.push(student('s-gone', 'c-5a', 2099, false));
    assert.deepEqual(chat(roster, chatKeys.classStudents('c-5a')).members, [1005, 2001, 2002]);
  });

  void test('C1: the parents chat holds parents of active students of the class and its class teacher', () => {
    const roster = school();
    roster.students.push(student('s-gone', 'c-5a', 2099, false));
    roster.parents.push(parent('p-gone', ['s-gone'], 3099));
    assert.deepEqual(chat(roster, chatKeys.classParents('c-5a')).members, [1005, 3001, 3002]);
  });

  void test('C1: a parent with children in two classes is in both parents chats', () => {
    const roster = school();
    assert.ok(chat(roster, chatKeys.classParents('c-5a')).members.includes(3002));
    assert.ok(chat(roster, chatKeys.classParents('c-6b')).members.includes(3002));
  });

  void test('C3: a student moved between classes leaves the old class chats', () => {
    const roster = school();
    roster.students = roster.students.map((s) => (s.id === 's-1' ? { ...s, classId: 'c-6b' } : s));
    assert.ok(!chat(roster, chatKeys.classStudents('c-5a')).members.includes(2001));
    assert.ok(!chat(roster, chatKeys.classParents('c-5a')).members.includes(3001));
    assert.ok(!chat(roster, chatKeys.subject('j-alg')).members.includes(2001));
    assert.ok(chat(roster, chatKeys.classStudents('c-6b')).members.includes(2001));
    assert.ok(chat(roster, chatKeys.classParents('c-6b')).members.includes(3001));
  });

  void test('C3: inactive people are in no chat', () => {
    const roster = school();
    roster.students = roster.students.map((s) => ({ ...s, active: false }));
    roster.staff = roster.staff.map((s) => ({ ...s, active: false }));
    for (const c of planChats(roster).chats) assert.deepEqual(c.members, [], c.key);
  });

  void test('C2: a general journal with the option on gets a subject chat of its students and teachers', () => {
    const c = chat(school(), chatKeys.subject('j-alg'));
    assert.equal(c.journalId, 'j-alg');
    assert.equal(c.classId, 'c-5a');
    assert.deepEqual(c.members, [1004, 2001, 2002]);
  });

  void test('C2: a subgroup journal chat holds only the active students of the subgroup', () => {
    const roster = school();
    roster.students.push(student('s-gone', 'c-5a', 2099, false));
    roster.journals = [journal('j-alg', 'c-5a', { studentIds: ['s-2', 's-gone'] })];
    assert.deepEqual(chat(roster, chatKeys.subject('j-alg')).members, [1004, 2002]);
  });

  void test('C3: a subgroup member moved to another class leaves the subgroup journal’s subject chat', () => {
    const roster = school();
    roster.journals = [journal('j-alg', 'c-5a', { studentIds: ['s-1', 's-2'] })];
    roster.students = roster.students.map((s) => (s.id === 's-1' ? { ...s, classId: 'c-6b' } : s));
    assert.deepEqual(chat(roster, chatKeys.subject('j-alg')).members, [1004, 2002]);
    assert.ok(chat(roster, chatKeys.classStudents('c-6b')).members.includes(2001));
  });

  void test('C2: a non-general journal with the option on gets no chat', () => {
    for (const kind of ['extracurricular', 'other'] as const) {
      const roster = school();
      roster.journals = [journal('j-alg', 'c-5a', { kind })];
      assert.ok(!keys(roster).includes(chatKeys.subject('j-alg')), kind);
    }
  });

  void test('C2: a general journal with the option off gets no chat', () => {
    const roster = school();
    roster.journals = [journal('j-alg', 'c-5a', { subjectChat: false })];
    assert.ok(!keys(roster).includes(chatKeys.subject('j-alg')));
  });

  void test('C2: a subject-chat journal with only unpublished online lessons gets no chat yet', () => {
    const roster = school();
    roster.lessons = [
      lesson('l-1', 'j-alg', { status: 'draft' }),
      lesson('l-2', 'j-alg', { online: false }),
    ];
    assert.ok(!keys(roster).includes(chatKeys.subject('j-alg')));
  });

  void test('C2: a conducted online lesson also creates the chat', () => {
    const roster = school();
    roster.lessons = [lesson('l-1', 'j-alg', { status: 'conducted' })];
    assert.ok(keys(roster).includes(chatKeys.subject('j-alg')));
  });

  void test('C2: a subject chat that already exists stays after its triggering lesson leaves the roster', () => {
    const roster = school();
    roster.lessons = [];
    const plan = planChats(roster, { existingSubjectChatJournalIds: ['j-alg'] });
    assert.ok(plan.chats.some((c) => c.key === chatKeys.subject('j-alg')));
  });

  void test('C2: subgroup journals of one subject get distinct titles', () => {
    const roster = school();
    roster.journals = [
      journal('j-en-1', 'c-5a', { subject: 'Английский язык', studentIds: ['s-1'] }),
      journal('j-en-2', 'c-5a', { subject: 'Английский язык', studentIds: ['s-2'] }),
    ];
    roster.lessons = [lesson('l-1', 'j-en-1'), lesson('l-2', 'j-en-2')];
    const titles = planChats(roster)
      .chats.filter((c) => c.kind === 'subject')
      .map((c) => c.title);
    assert.deepEqual(titles, [
      '5А — Английский язык (группа 1)',
      '5А — Английский язык (группа 2)',
    ]);
  });

  void test('C5: the director, with an active head-1 position, is a staff room admin', () => {
    assert.ok(chat(school(), chatKeys.staffRoom()).admins.includes(1001));
  });

  void test('C5: a director whose position became inactive loses admin', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) =>
      s.id === 't-dir'
        ? { ...s, positions: [{ title: 'Директор', level: 'head-1', active: false }] }
        : s,
    );
    const room = chat(roster, chatKeys.staffRoom());
    assert.ok(room.members.includes(1001));
    assert.ok(!room.admins.includes(1001));
  });

  void test('C5: a head-2 position alone does not make a staff room admin', () => {
    assert.ok(!chat(school(), chatKeys.staffRoom()).admins.includes(1002));
  });

  void test('C5: an acting head is a staff room admin', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) => (s.id === 't-dep' ? { ...s, actingHead: true } : s));
    assert.ok(chat(roster, chatKeys.staffRoom()).admins.includes(1002));
  });

  void test('C5: the access roles administrator and head make a staff room admin', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) =>
      s.id === 't-sec'
        ? { ...s, accessRoles: ['administrator'] }
        : s.id === 't-dep'
          ? { ...s, accessRoles: ['head'] }
          : s,
    );
    assert.deepEqual(chat(roster, chatKeys.staffRoom()).admins, [1001, 1002, 1003]);
  });

  void test('C5: a dismissed director is neither member nor admin', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) => (s.id === 't-dir' ? { ...s, active: false } : s));
    const room = chat(roster, chatKeys.staffRoom());
    assert.ok(!room.members.includes(1001));
    assert.ok(!room.admins.includes(1001));
  });

  void test('C5: the class teacher from the class card administers both class chats', () => {
    const roster = school();
    assert.deepEqual(chat(roster, chatKeys.classParents('c-5a')).admins, [1005]);
    assert.deepEqual(chat(roster, chatKeys.classStudents('c-5a')).admins, [1005]);
  });

  void test("C5: class teacher from the person's own card is not an admin", () => {
    // Even if an export carried the class picked on the teacher's own card, only the class card's
    // field counts: with it empty, the teacher is an outsider to the class chats.
    const roster = school();
    roster.classes = roster.classes.map((c) =>
      c.id === 'c-5a' ? { ...c, classTeacherId: null } : c,
    );
    roster.staff = roster.staff.map((s) =>
      s.id === 't-5a' ? ({ ...s, classId: 'c-5a', className: '5А' } as Staff) : s,
    );
    const parents = chat(roster, chatKeys.classParents('c-5a'));
    assert.deepEqual(parents.admins, []);
    assert.ok(!parents.members.includes(1005));
    assert.deepEqual(chat(roster, chatKeys.classStudents('c-5a')).admins, []);
  });

  void test('C5: a dismissed class teacher is not an admin of the class chats', () => {
    const roster = school();
    roster.staff = roster.staff.map((s) => (s.id === 't-5a' ? { ...s, active: false } : s));
    assert.deepEqual(chat(roster, chatKeys.classStudents('c-5a')).admins, []);
  });

  void test('C5: the assigned subject teachers administer the subject chat', () => {
    const roster = school();
    roster.journals = [journal('j-alg', 'c-5a', { teacherIds: ['t-math', 't-6b'] })];
    assert.deepEqual(chat(roster, chatKeys.subject('j-alg')).admins, [1004, 1006]);
  });

  void test('C5: admins are always members', () => {
    for (const c of planChats(school()).chats) {
      for (const admin of c.admins) assert.ok(c.members.includes(admin), `${c.key}: ${admin}`);
    }
  });

  void test('S4: people without a VK ID are skipped and reported by ID for each chat', () => {
    const roster = school();
    roster.students = roster.students.map((s) => (s.id === 's-2' ? { ...s, vkId: null } : s));
    roster.staff = roster.staff.map((s) => (s.id === 't-5a' ? { ...s, vkId: null } : s));
    const plan = planChats(roster);
    const skipped = plan.skipped.map((s) => `${s.personKind}:${s.personId}@${s.chatKey}`).sort();
    assert.deepEqual(skipped, [
      'staff:t-5a@class-parents:c-5a',
      'staff:t-5a@class-students:c-5a',
      'staff:t-5a@staff-room',
      'student:s-2@class-students:c-5a',
      'student:s-2@subject:j-alg',
    ]);
    assert.ok(plan.skipped.every((s) => s.reason === 'noVkId'));
    assert.deepEqual(chat(roster, chatKeys.classStudents('c-5a')).admins, []);
  });

  void test('P2: unlinking a VK ID removes the person from every chat', () => {
    const roster = school();
    const before = planChats(roster).chats.filter((c) => c.members.includes(1005));
    assert.ok(before.length >= 3);
    roster.staff = roster.staff.map((s) => (s.id === 't-5a' ? { ...s, vkId: null } : s));
    for (const c of planChats(roster).chats) assert.ok(!c.members.includes(1005), c.key);
  });

  void test('the plan does not depend on the order of the input', () => {
    const roster = school();
    const reversed = {
      staff: [...roster.staff].reverse(),
      classes: [...roster.classes].reverse(),
      students: [...roster.students].reverse(),
      parents: [...roster.parents].reverse(),
      journals: [...roster.journals].reverse(),
      lessons: [...roster.lessons].reverse(),
    };
    assert.deepEqual(planChats(reversed), planChats(roster));
  });
});
