import type { GridRow } from '../contracts/roster';

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
export const MAX_TEACHER_LOAD = 12;

/** Share of people who have not linked a VK ID yet (S4). */
export const NO_VK_ID_SHARE = 0.1;

/** Subjects by grade band, with weekly hours; the first list is primary school (grades 1–4). */
export const PRIMARY_SUBJECTS: readonly (readonly [string, number])[] = [
  ['Русский язык', 5],
  ['Литературное чтение', 4],
  ['Математика', 4],
  ['Окружающий мир', 2],
  ['Музыка', 1],
  ['Изобразительное искусство', 1],
  ['Труд (технология)', 1],
  ['Физическая культура', 2],
];

export const SECONDARY_SUBJECTS: readonly (readonly [string, number, number])[] = [
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
export const DEPARTMENTS: Readonly<Record<string, string>> = {
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
export const SUPPORT_POSTS = [
  'Воспитатель группы продлённого дня',
  'Педагог дополнительного образования',
  'Педагог-организатор',
  'Лаборант',
  'Тьютор',
  'Заведующий хозяйством',
];
export const LARGE_STAFF = 120;

/** Taught to two subgroups of the class by two teachers. */
export const SPLIT_SUBJECT = 'Английский язык';
export const EXTRACURRICULAR = [
  'Шахматы',
  'Робототехника',
  'Хоровое пение',
  'Юный исследователь',
  'Театральная студия',
];
export const CLASS_LETTERS = ['А', 'Б', 'В'] as const;
export const LATIN_LETTERS = ['a', 'b', 'v'] as const;
