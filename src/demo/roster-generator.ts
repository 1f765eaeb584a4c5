import type {
  Journal,
  Parent,
  RosterSnapshot,
  SchoolClass,
  Staff,
  Student,
} from '../contracts/roster';
import {
  CLASS_LETTERS,
  DEPARTMENTS,
  EXTRACURRICULAR,
  LARGE_STAFF,
  LATIN_LETTERS,
  MAX_TEACHER_LOAD,
  NO_VK_ID_SHARE,
  PRIMARY_SUBJECTS,
  SECONDARY_SUBJECTS,
  SPLIT_SUBJECT,
  SUPPORT_POSTS,
} from './curriculum';
import { FEMALE_NAMES, MALE_NAMES, SURNAMES, type Gender, type Name } from './names';
import { Random } from './random';
import { buildLessons, buildTemplate, type GeneratedSchool } from './timetable';

export { LESSON_GRID } from './curriculum';

/**
 * A believable school for demos and benchmarks, the same for the same seed. The names are made up
 * from common Russian name lists; the VK IDs are synthetic.
 */

export type RosterSize = 'small' | 'large';

export interface GenerateRosterOptions {
  readonly seed: number | string;
  readonly size: RosterSize;
  readonly schoolId?: string;
  /**
   * The school's local date; lessons are generated for it and the next day. It has no default
   * from the clock so the same options always give the same roster.
   */
  readonly today?: string;
}

export const DEFAULT_GENERATED_TODAY = '2026-12-01';

export function generateRoster(options: GenerateRosterOptions): RosterSnapshot {
  return new SchoolGenerator(options).generate();
}

/** Builds the school in the order the seed's draws are taken: changing the order changes every school. */
class SchoolGenerator implements GeneratedSchool {
  readonly random: Random;
  private readonly schoolId: string;
  readonly today: string;
  readonly size: RosterSize;
  private nextVkId = 100_000_000;

  private readonly staff: Staff[] = [];
  readonly classes: SchoolClass[] = [];
  private readonly students: Student[] = [];
  private readonly parents: Parent[] = [];
  readonly journals: Journal[] = [];
  /** Weekly hours per journal, for the timetable. */
  readonly hours = new Map<string, number>();
  /** Journals of a subgroup pair, which share their timetable slots. */
  readonly splitPartner = new Map<string, string>();
  /** Teachers by the subject they teach; each takes journals until their load is full. */
  private readonly teachersBySubject = new Map<string, { id: string; load: number }[]>();
  private readonly classTeacherIds = new Set<string>();

  constructor(options: GenerateRosterOptions) {
    this.random = new Random(options.seed);
    this.schoolId = options.schoolId ?? 'school-1';
    this.today = options.today ?? DEFAULT_GENERATED_TODAY;
    this.size = options.size;
    if (
      !/^\d{4}-\d{2}-\d{2}$/.test(this.today) ||
      Number.isNaN(Date.parse(`${this.today}T00:00:00Z`))
    ) {
      throw new RangeError('today must be a date written YYYY-MM-DD');
    }
  }

  generate(): RosterSnapshot {
    const grades: { grade: number; letter: number }[] =
      this.size === 'small'
        ? [{ grade: 5, letter: 0 }]
        : Array.from({ length: 11 * CLASS_LETTERS.length }, (_, i) => ({
            grade: Math.floor(i / CLASS_LETTERS.length) + 1,
            letter: i % CLASS_LETTERS.length,
          }));

    this.addAdministration();
    for (const { grade, letter } of grades) {
      const id = `cls-${String(grade).padStart(2, '0')}${LATIN_LETTERS[letter] ?? 'x'}`;
      const classTeacherId = this.classTeacherFor(grade);
      this.classes.push({ id, name: `${grade}${CLASS_LETTERS[letter] ?? ''}`, classTeacherId });
    }
    this.addStudentsAndFamilies(grades.length);
    for (const cls of this.classes) this.addJournals(cls);
    this.addDismissedStaff();
    if (this.size === 'large') {
      for (let i = 0; this.staff.length < LARGE_STAFF; i++) {
        const title = SUPPORT_POSTS[i % SUPPORT_POSTS.length] ?? 'Педагог';
        this.newStaff({ positions: [{ title, level: 'other', active: true }], accessRoles: [] });
      }
    }

    const template = buildTemplate(this);
    const lessons = buildLessons(this, template);
    return {
      school: {
        id: this.schoolId,
        name:
          this.size === 'small'
            ? 'ГБОУ школа № 1 (демо)'
            : 'ГБОУ средняя общеобразовательная школа № 2 (демо)',
        timeZone: 'Europe/Moscow',
      },
      staff: this.staff,
      classes: this.classes,
      students: this.students,
      parents: this.parents,
      journals: this.journals,
      lessons,
      templates: [template],
    };
  }

  private vkId(): number | null {
    this.nextVkId += this.random.int(1, 5000);
    return this.random.chance(NO_VK_ID_SHARE) ? null : this.nextVkId;
  }

  private adultName(gender: Gender, surname?: readonly [string, string]): Name {
    const [male, female] = surname ?? this.random.pick(SURNAMES);
    const [, sonOf, daughterOf] = this.random.pick(MALE_NAMES);
    return gender === 'male'
      ? { lastName: male, firstName: this.random.pick(MALE_NAMES)[0], middleName: sonOf }
      : { lastName: female, firstName: this.random.pick(FEMALE_NAMES), middleName: daughterOf };
  }

  private newStaff(fields: Partial<Staff> & Pick<Staff, 'positions'>): Staff {
    const gender: Gender = this.random.chance(0.75) ? 'female' : 'male';
    const member: Staff = {
      id: `stf-${String(this.staff.length + 1).padStart(4, '0')}`,
      ...this.adultName(gender),
      vkId: this.vkId(),
      active: true,
      actingHead: false,
      accessRoles: ['teacher'],
      ...fields,
    };
    this.staff.push(member);
    return member;
  }

  private addAdministration(): void {
    // The director always has a VK ID so every demo staff room has an admin.
    const director = this.newStaff({
      positions: [
        { title: 'Директор', level: 'head-1', active: true },
        { title: 'Учитель', level: 'teacher', active: true },
      ],
      accessRoles: ['head'],
    });
    if (director.vkId === null) director.vkId = this.nextVkId += 17;
    // Heads keep a few teaching hours, as their "Учитель" positions say.
    this.registerTeacher(director.id, 'История и обществознание');
    const deputies = this.size === 'small' ? 1 : 4;
    for (let i = 0; i < deputies; i++) {
      const deputy = this.newStaff({
        positions: [
          {
            title: 'Заместитель директора по учебно-воспитательной работе',
            level: 'head-2',
            active: true,
          },
          { title: 'Учитель', level: 'teacher', active: true },
        ],
        accessRoles: ['head', 'teacher'],
        // One deputy stands in for the director (C5: "acting head").
        actingHead: i === 0 && this.size === 'large',
      });
      this.registerTeacher(deputy.id, i % 2 === 0 ? 'Биология и химия' : 'Математика');
    }
    this.newStaff({
      positions: [{ title: 'Секретарь учебной части', level: 'other', active: true }],
      accessRoles: ['administrator'],
    });
    if (this.size === 'large') {
      for (const title of [
        'Педагог-психолог',
        'Социальный педагог',
        'Педагог-библиотекарь',
        'Логопед',
      ]) {
        this.newStaff({ positions: [{ title, level: 'other', active: true }], accessRoles: [] });
      }
      // A former director who now only teaches: her head-1 position is inactive (C5).
      this.newStaff({
        positions: [
          { title: 'Директор', level: 'head-1', active: false },
          { title: 'Учитель', level: 'teacher', active: true },
        ],
      });
    }
  }

  private addTeacher(title: string, subject: string): { id: string; load: number } {
    const member = this.newStaff({ positions: [{ title, level: 'teacher', active: true }] });
    return this.registerTeacher(member.id, subject);
  }

  private registerTeacher(id: string, department: string): { id: string; load: number } {
    const teacher = { id, load: 0 };
    const list = this.teachersBySubject.get(department);
    if (list) list.push(teacher);
    else this.teachersBySubject.set(department, [teacher]);
    return teacher;
  }

  /** Primary classes have their own teacher; from grade 5 a subject teacher leads one class. */
  private classTeacherFor(grade: number): string {
    if (grade <= 4) return this.addTeacher('Учитель начальных классов', `primary-${grade}`).id;
    const subject = this.random.pick(SECONDARY_SUBJECTS.filter(([, , from]) => grade >= from))[0];
    const id = this.teacherFor(subject, 0, this.classTeacherIds);
    this.classTeacherIds.add(id);
    return id;
  }

  /** A subject teacher with room for `hours` more weekly hours, hiring one when everyone is full. */
  private teacherFor(
    subject: string,
    hours: number,
    exclude: ReadonlySet<string> = new Set(),
  ): string {
    const department = DEPARTMENTS[subject] ?? subject;
    const existing = (this.teachersBySubject.get(department) ?? []).find(
      (t) => t.load + hours <= MAX_TEACHER_LOAD && !exclude.has(t.id),
    );
    const teacher =
      existing ?? this.addTeacher(`Учитель (${department.toLowerCase()})`, department);
    teacher.load += hours;
    return teacher.id;
  }

  private addStudentsAndFamilies(classCount: number): void {
    const perClass = this.size === 'small' ? 25 : 30;
    const seats = new Map<string, number>();
    for (const cls of this.classes) seats.set(cls.id, perClass + this.random.int(-2, 2));
    const total = [...seats.values()].reduce((a, b) => a + b, 0);

    let placed = 0;
    while (placed < total) {
      const surname = this.random.pick(SURNAMES);
      const [fatherName, sonOf, daughterOf] = this.random.pick(MALE_NAMES);
      // ~1.1 children per family and ~1.87 parents: the ratio of a typical city school's e-diary.
      const roll = this.random.next();
      const wanted = classCount > 1 ? (roll < 0.01 ? 3 : roll < 0.09 ? 2 : 1) : roll < 0.06 ? 2 : 1;
      const childIds: string[] = [];
      const usedClasses = new Set<string>();
      for (let c = 0; c < wanted && placed < total; c++) {
        const open = this.classes.filter(
          (cls) => (seats.get(cls.id) ?? 0) > 0 && !usedClasses.has(cls.id),
        );
        // Siblings of a one-class school are twins, the only way they share a class.
        const cls =
          open.length > 0
            ? this.random.pick(open)
            : this.classes.find((k) => (seats.get(k.id) ?? 0) > 0);
        if (!cls) break;
        if (classCount > 1) usedClasses.add(cls.id);
        seats.set(cls.id, (seats.get(cls.id) ?? 0) - 1);
        placed++;
        const gender: Gender = this.random.chance(0.5) ? 'male' : 'female';
        const id = `stu-${String(this.students.length + 1).padStart(5, '0')}`;
        this.students.push({
          id,
          classId: cls.id,
          lastName: gender === 'male' ? surname[0] : surname[1],
          firstName:
            gender === 'male' ? this.random.pick(MALE_NAMES)[0] : this.random.pick(FEMALE_NAMES),
          middleName: gender === 'male' ? sonOf : daughterOf,
          vkId: this.vkId(),
          // A few students have left; their records stay with active=false.
          active: !this.random.chance(0.015),
        });
        childIds.push(id);
      }
      if (childIds.length === 0) break;
      const hasFather = this.random.chance(0.9);
      const hasMother = !hasFather || this.random.chance(0.97);
      if (hasMother) this.addParent(childIds, this.adultName('female', surname));
      if (hasFather) {
        const father = this.adultName('male', surname);
        this.addParent(childIds, { ...father, firstName: fatherName });
      }
    }
  }

  private addParent(childIds: readonly string[], name: Name): void {
    const id = `par-${String(this.parents.length + 1).padStart(5, '0')}`;
    this.parents.push({ id, childIds: [...childIds], ...name, vkId: this.vkId() });
  }

  private addJournal(journal: Omit<Journal, 'id'>, hours: number): Journal {
    const created: Journal = {
      // Journal IDs name the journal's workflow, which is one per journal across every school
      // on the server: like a school information system's own IDs, they must not repeat.
      id: `jr-${this.schoolId}-${String(this.journals.length + 1).padStart(4, '0')}`,
      ...journal,
    };
    this.journals.push(created);
    this.hours.set(created.id, hours);
    return created;
  }

  private addJournals(cls: SchoolClass): void {
    const grade = Number.parseInt(cls.name, 10);
    const classTeacherId = cls.classTeacherId ?? undefined;
    const subjects: (readonly [string, number])[] =
      grade <= 4
        ? [...PRIMARY_SUBJECTS]
        : SECONDARY_SUBJECTS.filter(
            ([name, , from]) => grade >= from && !(name === 'Математика' && grade >= 7),
          ).map(([name, hours]) => [name, hours] as const);
    // Subject chats are switched on for about a third of the general journals of grades 5+.
    const chatShare = grade >= 5 ? 0.35 : 0.1;
    for (const [subject, hours] of subjects) {
      const teacherId =
        grade <= 4 && subject !== 'Физическая культура' && subject !== 'Музыка' && classTeacherId
          ? classTeacherId
          : this.teacherFor(subject, hours);
      this.addJournal(
        {
          classId: cls.id,
          subject,
          teacherIds: [teacherId],
          kind: 'general',
          subjectChat: this.random.chance(chatShare),
        },
        hours,
      );
    }
    if (grade >= 2) {
      // English is taught in two subgroups, each with its own journal and teacher.
      const classStudents = this.students.filter((s) => s.classId === cls.id).map((s) => s.id);
      const half = Math.ceil(classStudents.length / 2);
      const hours = grade <= 4 ? 2 : 3;
      const first = this.teacherFor(SPLIT_SUBJECT, hours);
      const second = this.teacherFor(SPLIT_SUBJECT, hours, new Set([first]));
      const chat = this.random.chance(0.3);
      const a = this.addJournal(
        {
          classId: cls.id,
          studentIds: classStudents.slice(0, half),
          subject: SPLIT_SUBJECT,
          teacherIds: [first],
          kind: 'general',
          subjectChat: chat,
        },
        hours,
      );
      const b = this.addJournal(
        {
          classId: cls.id,
          studentIds: classStudents.slice(half),
          subject: SPLIT_SUBJECT,
          teacherIds: [second],
          kind: 'general',
          subjectChat: chat,
        },
        hours,
      );
      this.splitPartner.set(b.id, a.id);
    }
    // An extracurricular journal with the option on: C2 gives it no chat.
    this.addJournal(
      {
        classId: cls.id,
        subject: this.random.pick(EXTRACURRICULAR),
        teacherIds: [this.teacherFor('Внеурочная деятельность', 1)],
        kind: 'extracurricular',
        subjectChat: this.random.chance(0.5),
      },
      1,
    );
    if (this.size === 'small') this.ensureDemoSubjectChat(cls);
  }

  /** The demo needs one subject-chat journal whatever the seed: the class's algebra or maths. */
  private ensureDemoSubjectChat(cls: SchoolClass): void {
    const general = this.journals.filter((j) => j.classId === cls.id && j.kind === 'general');
    if (general.some((j) => j.subjectChat && j.studentIds === undefined)) return;
    const target =
      general.find((j) => j.subject === 'Математика' || j.subject === 'Алгебра') ?? general[0];
    if (target) target.subjectChat = true;
  }

  private addDismissedStaff(): void {
    const count = this.size === 'small' ? 1 : 3;
    for (let i = 0; i < count; i++) {
      this.newStaff({
        positions: [{ title: 'Учитель', level: 'teacher', active: false }],
        active: false,
      });
    }
  }
}
