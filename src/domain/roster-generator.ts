import type {
  GridRow,
  Journal,
  Lesson,
  Parent,
  RosterSnapshot,
  SchoolClass,
  Staff,
  Student,
  Template,
  TemplateEntry,
} from '../contracts/roster';

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

/** The bell schedule: 45-minute lessons with 10- and 20-minute breaks. */
export const LESSON_GRID: readonly GridRow[] = [
  { number: 1, start: '08:30', end: '09:15' },
  { number: 2, start: '09:25', end: '10:10' },
  { number: 3, start: '10:30', end: '11:15' },
  { number: 4, start: '11:35', end: '12:20' },
  { number: 5, start: '12:30', end: '13:15' },
  { number: 6, start: '13:25', end: '14:10' },
  { number: 7, start: '14:20', end: '15:05' },
  { number: 8, start: '15:15', end: '16:00' },
];

/** Weekly hours a subject teacher takes before the school hires another (many work part-time). */
const MAX_TEACHER_LOAD = 12;

/** Share of people who have not linked a VK ID yet (S4). */
const NO_VK_ID_SHARE = 0.1;

/** mulberry32: tiny, fast, and good enough to shuffle names; never used for anything secret. */
class Random {
  private state: number;

  constructor(seed: number | string) {
    this.state = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const a = out[i] as T;
      out[i] = out[j] as T;
      out[j] = a;
    }
    return out;
  }
}

function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

type Gender = 'male' | 'female';

/** Male first names with the patronymics they give a son and a daughter. */
const MALE_NAMES: readonly (readonly [string, string, string])[] = [
  ['Александр', 'Александрович', 'Александровна'],
  ['Алексей', 'Алексеевич', 'Алексеевна'],
  ['Андрей', 'Андреевич', 'Андреевна'],
  ['Антон', 'Антонович', 'Антоновна'],
  ['Артём', 'Артёмович', 'Артёмовна'],
  ['Борис', 'Борисович', 'Борисовна'],
  ['Вадим', 'Вадимович', 'Вадимовна'],
  ['Василий', 'Васильевич', 'Васильевна'],
  ['Виктор', 'Викторович', 'Викторовна'],
  ['Владимир', 'Владимирович', 'Владимировна'],
  ['Георгий', 'Георгиевич', 'Георгиевна'],
  ['Григорий', 'Григорьевич', 'Григорьевна'],
  ['Даниил', 'Даниилович', 'Данииловна'],
  ['Денис', 'Денисович', 'Денисовна'],
  ['Дмитрий', 'Дмитриевич', 'Дмитриевна'],
  ['Евгений', 'Евгеньевич', 'Евгеньевна'],
  ['Егор', 'Егорович', 'Егоровна'],
  ['Иван', 'Иванович', 'Ивановна'],
  ['Игорь', 'Игоревич', 'Игоревна'],
  ['Илья', 'Ильич', 'Ильинична'],
  ['Кирилл', 'Кириллович', 'Кирилловна'],
  ['Константин', 'Константинович', 'Константиновна'],
  ['Леонид', 'Леонидович', 'Леонидовна'],
  ['Максим', 'Максимович', 'Максимовна'],
  ['Матвей', 'Матвеевич', 'Матвеевна'],
  ['Михаил', 'Михайлович', 'Михайловна'],
  ['Никита', 'Никитич', 'Никитична'],
  ['Николай', 'Николаевич', 'Николаевна'],
  ['Олег', 'Олегович', 'Олеговна'],
  ['Павел', 'Павлович', 'Павловна'],
  ['Роман', 'Романович', 'Романовна'],
  ['Сергей', 'Сергеевич', 'Сергеевна'],
  ['Степан', 'Степанович', 'Степановна'],
  ['Тимофей', 'Тимофеевич', 'Тимофеевна'],
  ['Фёдор', 'Фёдорович', 'Фёдоровна'],
  ['Юрий', 'Юрьевич', 'Юрьевна'],
  ['Ярослав', 'Ярославович', 'Ярославовна'],
];

const FEMALE_NAMES: readonly string[] = [
  'Александра',
  'Алиса',
  'Алла',
  'Анастасия',
  'Анна',
  'Валентина',
  'Варвара',
  'Вера',
  'Вероника',
  'Виктория',
  'Галина',
  'Дарья',
  'Екатерина',
  'Елена',
  'Елизавета',
  'Ирина',
  'Ксения',
  'Лариса',
  'Любовь',
  'Людмила',
  'Марина',
  'Мария',
  'Милана',
  'Надежда',
  'Наталья',
  'Оксана',
  'Ольга',
  'Полина',
  'Светлана',
  'Софья',
  'Татьяна',
  'Ульяна',
  'Юлия',
];

/**
 * Surnames as [male, female]: most take -а/-ая in the feminine; those ending in -ко, -их, -ых or a
 * soft sign stay the same.
 */
const SURNAMES: readonly (readonly [string, string])[] = [
  ...[
    'Иванов',
    'Смирнов',
    'Кузнецов',
    'Попов',
    'Васильев',
    'Петров',
    'Соколов',
    'Михайлов',
    'Новиков',
    'Фёдоров',
    'Морозов',
    'Волков',
    'Алексеев',
    'Лебедев',
    'Семёнов',
    'Егоров',
    'Павлов',
    'Козлов',
    'Степанов',
    'Николаев',
    'Орлов',
    'Андреев',
    'Макаров',
    'Никитин',
    'Захаров',
    'Зайцев',
    'Соловьёв',
    'Борисов',
    'Яковлев',
    'Григорьев',
    'Романов',
    'Воробьёв',
    'Сергеев',
    'Кузьмин',
    'Фролов',
    'Александров',
    'Дмитриев',
    'Королёв',
    'Гусев',
    'Киселёв',
    'Ильин',
    'Максимов',
    'Поляков',
    'Сорокин',
    'Виноградов',
    'Ковалёв',
    'Белов',
    'Медведев',
    'Антонов',
    'Тарасов',
    'Жуков',
    'Баранов',
    'Филиппов',
    'Комаров',
    'Давыдов',
    'Беляев',
    'Герасимов',
    'Богданов',
    'Осипов',
    'Сидоров',
  ].map((m) => [m, `${m}а`] as const),
  ...['Вишневский', 'Каменский', 'Покровский', 'Савицкий', 'Горский'].map(
    (m) => [m, `${m.slice(0, -2)}ая`] as const,
  ),
  ...['Шевченко', 'Бондаренко', 'Черных', 'Белых', 'Седых', 'Гоголь'].map((m) => [m, m] as const),
];

interface Name {
  readonly lastName: string;
  readonly firstName: string;
  readonly middleName?: string;
}

/** Subjects by grade band, with weekly hours; the first list is primary school (grades 1–4). */
const PRIMARY_SUBJECTS: readonly (readonly [string, number])[] = [
  ['Русский язык', 5],
  ['Литературное чтение', 4],
  ['Математика', 4],
  ['Окружающий мир', 2],
  ['Музыка', 1],
  ['Изобразительное искусство', 1],
  ['Труд (технология)', 1],
  ['Физическая культура', 2],
];

const SECONDARY_SUBJECTS: readonly (readonly [string, number, number])[] = [
  // [subject, weekly hours, first grade it is taught in]
  ['Русский язык', 4, 5],
  ['Литература', 3, 5],
  ['Алгебра', 3, 7],
  ['Геометрия', 2, 7],
  ['Математика', 5, 5],
  ['История', 2, 5],
  ['Обществознание', 1, 6],
  ['География', 2, 5],
  ['Биология', 2, 5],
  ['Физика', 2, 7],
  ['Химия', 2, 8],
  ['Информатика', 1, 7],
  ['Физическая культура', 2, 5],
];

/** Subjects one teacher may combine, as a school's methodical departments group them. */
const DEPARTMENTS: Readonly<Record<string, string>> = {
  'Русский язык': 'Русский язык и литература',
  Литература: 'Русский язык и литература',
  Математика: 'Математика',
  Алгебра: 'Математика',
  Геометрия: 'Математика',
  Информатика: 'Информатика',
  История: 'История и обществознание',
  Обществознание: 'История и обществознание',
  География: 'География',
  Биология: 'Биология и химия',
  Химия: 'Биология и химия',
  Физика: 'Физика',
  'Физическая культура': 'Физическая культура',
  Музыка: 'Музыка',
};

/** Non-teaching posts that bring a large school's staff list to its usual size. */
const SUPPORT_POSTS = [
  'Воспитатель группы продлённого дня',
  'Педагог дополнительного образования',
  'Педагог-организатор',
  'Лаборант',
  'Тьютор',
  'Заведующий хозяйством',
];
const LARGE_STAFF = 120;

/** Taught to two subgroups of the class by two teachers. */
const SPLIT_SUBJECT = 'Английский язык';
const EXTRACURRICULAR = [
  'Шахматы',
  'Робототехника',
  'Хоровое пение',
  'Юный исследователь',
  'Театральная студия',
];
const CLASS_LETTERS = ['А', 'Б', 'В'] as const;
const LATIN_LETTERS = ['a', 'b', 'v'] as const;

export function generateRoster(options: GenerateRosterOptions): RosterSnapshot {
  return new SchoolGenerator(options).generate();
}

class SchoolGenerator {
  private readonly random: Random;
  private readonly schoolId: string;
  private readonly today: string;
  private readonly size: RosterSize;
  private nextVkId = 100_000_000;

  private readonly staff: Staff[] = [];
  private readonly classes: SchoolClass[] = [];
  private readonly students: Student[] = [];
  private readonly parents: Parent[] = [];
  private readonly journals: Journal[] = [];
  /** Weekly hours per journal, for the timetable. */
  private readonly hours = new Map<string, number>();
  /** Journals of a subgroup pair, which share their timetable slots. */
  private readonly splitPartner = new Map<string, string>();
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

    const template = this.buildTemplate();
    const lessons = this.buildLessons(template);
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

  /** One template for the school year: a six-day week, each class's weekly hours shuffled into its slots. */
  private buildTemplate(): Template {
    const entries: TemplateEntry[] = [];
    const slotsPerDay = (grade: number): number =>
      grade <= 1 ? 4 : grade <= 4 ? 5 : grade <= 8 ? 6 : 7;
    for (const cls of this.classes) {
      const perDay = slotsPerDay(Number.parseInt(cls.name, 10));
      const weekly: string[] = [];
      for (const journal of this.journals) {
        if (journal.classId !== cls.id || this.splitPartner.has(journal.id)) continue;
        for (let h = 0; h < (this.hours.get(journal.id) ?? 0); h++) weekly.push(journal.id);
      }
      const slots = this.random.shuffle(weekly);
      for (let i = 0; i < slots.length && i < perDay * 6; i++) {
        const journalId = slots[i] as string;
        const weekday = (i % 6) + 1;
        const number = Math.floor(i / 6) + 1;
        entries.push({ journalId, weekday, number });
      }
    }
    // A subgroup's partner sits in the same slot, in the other classroom.
    const partners = new Map<string, string>();
    for (const [second, first] of this.splitPartner) partners.set(first, second);
    for (const entry of [...entries]) {
      const second = partners.get(entry.journalId);
      if (second) entries.push({ ...entry, journalId: second });
    }
    const year =
      Number.parseInt(this.today.slice(0, 4), 10) -
      (Number.parseInt(this.today.slice(5, 7), 10) < 9 ? 1 : 0);
    return {
      id: 'tpl-main',
      validFrom: `${year}-09-01`,
      validTo: `${year + 1}-08-31`,
      sendToPortal: true,
      grid: [...LESSON_GRID],
      entries,
    };
  }

  /** Lessons for today and tomorrow from the template; online ones only where the journal allows it (V1). */
  private buildLessons(template: Template): Lesson[] {
    const lessons: Lesson[] = [];
    const journalsById = new Map(this.journals.map((j) => [j.id, j]));
    const dates = [this.today, addDays(this.today, 1)];
    for (const [dayIndex, date] of dates.entries()) {
      const weekday = isoWeekday(date);
      for (const entry of template.entries) {
        if (entry.weekday !== weekday) continue;
        const journal = journalsById.get(entry.journalId);
        if (!journal) continue;
        lessons.push(this.lesson(journal, date, entry.number, dayIndex));
      }
    }
    if (this.size === 'small') {
      // The demo must have an online lesson whatever weekday it runs on: a make-up lesson when
      // the timetable has none today.
      const demo = this.journals.find(
        (j) => j.kind === 'general' && j.subjectChat && j.studentIds === undefined,
      );
      if (demo) {
        for (const [dayIndex, date] of dates.entries()) {
          if (lessons.some((l) => l.journalId === demo.id && l.date === date)) continue;
          lessons.push(this.lesson(demo, date, 7, dayIndex));
        }
        for (const l of lessons) {
          if (l.journalId === demo.id) {
            l.online = true;
            if (l.date === this.today) l.status = 'published';
          }
        }
      }
    }
    return lessons.sort((a, b) =>
      a.date !== b.date
        ? a.date < b.date
          ? -1
          : 1
        : a.number - b.number || (a.journalId < b.journalId ? -1 : 1),
    );
  }

  private lesson(journal: Journal, date: string, number: number, dayIndex: number): Lesson {
    const online = journal.subjectChat && journal.kind === 'general' && this.random.chance(0.5);
    // Today's lessons are mostly published already; tomorrow's mostly still drafts.
    const status =
      dayIndex === 0
        ? this.random.chance(0.85)
          ? 'published'
          : 'draft'
        : this.random.chance(0.3)
          ? 'published'
          : 'draft';
    return {
      id: `les-${journal.id}-${date}-${number}`,
      journalId: journal.id,
      date,
      number,
      online,
      status,
    };
  }
}

function addDays(date: string, days: number): string {
  const ms = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

/** ISO weekday, 1 = Monday … 7 = Sunday. */
function isoWeekday(date: string): number {
  const day = new Date(Date.parse(`${date}T00:00:00Z`)).getUTCDay();
  return day === 0 ? 7 : day;
}
