import { z } from 'zod';

/**
 * The roster as the school information system exports it (DESIGN.md §2, "The roster as the school
 * system sends it"). IDs are the school system's own strings. Every record is validated here
 * before anything is written. Unknown fields inside a record are ignored (an export may carry more
 * than we use); an unknown top-level key is an error, since a misspelled collection would
 * otherwise import as empty. The arrays inside a record have bounds far above any school's: zod
 * checks an array's length before its items, so a hostile array costs one issue, not millions.
 */

/**
 * The message of a field that must be present but may be null, when it is missing or of the
 * wrong type: zod alone says "expected string, received undefined", which hides that null is
 * the way to say "none".
 */
function orNull(what: string): z.core.$ZodErrorMap {
  return (issue) =>
    issue.code !== 'invalid_type'
      ? undefined
      : issue.input === undefined
        ? `required: ${what}, or null if there is none`
        : `expected ${what} or null`;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
const ID_MESSAGE = 'letters, digits and . _ : - only';

export const idSchema = z.string().min(1).max(128).regex(ID_PATTERN, ID_MESSAGE);

const nullableId = (what: string) =>
  z
    .string({ error: orNull(what) })
    .min(1)
    .max(128)
    .regex(ID_PATTERN, ID_MESSAGE)
    .nullable();

/** A VK (Sferum) account ID: present once the person has linked their VK ID (S4, P1). */
export const vkIdSchema = z
  .number({ error: orNull('a VK ID (a positive whole number)') })
  .int()
  .positive()
  .nullable();

const isoDate = z.iso.date();
const nullableDate = z.iso.date({ error: orNull('a date (YYYY-MM-DD)') }).nullable();
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const nullableTime = z
  .string({ error: orNull('a time (HH:MM)') })
  .regex(HHMM, 'must be HH:MM')
  .nullable();

/** An IANA zone the runtime knows, e.g. Europe/Moscow. */
export const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'unknown time zone');

export const schoolSchema = z.object({
  id: idSchema,
  name: z.string().min(1).max(300),
  timeZone: timeZoneSchema.default('Europe/Moscow'),
});

export const positionLevels = ['head-1', 'head-2', 'teacher', 'other'] as const;

export const positionSchema = z.object({
  title: z.string().min(1).max(200),
  level: z.enum(positionLevels),
  active: z.boolean(),
});

export const staffSchema = z.object({
  id: idSchema,
  lastName: z.string().min(1).max(100),
  firstName: z.string().min(1).max(100),
  middleName: z.string().max(100).optional(),
  vkId: vkIdSchema,
  active: z.boolean(),
  positions: z.array(positionSchema).max(50).default([]),
  actingHead: z.boolean().default(false),
  accessRoles: z.array(z.string().min(1).max(64)).max(50).default([]),
});

export const classSchema = z.object({
  id: idSchema,
  name: z.string().min(1).max(50),
  classTeacherId: nullableId('a staff ID'),
});

export const studentSchema = z.object({
  id: idSchema,
  classId: idSchema,
  lastName: z.string().min(1).max(100),
  firstName: z.string().min(1).max(100),
  middleName: z.string().max(100).optional(),
  vkId: vkIdSchema,
  active: z.boolean(),
});

export const parentSchema = z.object({
  id: idSchema,
  childIds: z.array(idSchema).min(1).max(50),
  lastName: z.string().min(1).max(100),
  firstName: z.string().min(1).max(100),
  middleName: z.string().max(100).optional(),
  vkId: vkIdSchema,
});

export const journalKinds = ['general', 'extracurricular', 'other'] as const;

export const journalSchema = z.object({
  id: idSchema,
  classId: idSchema,
  /** A subgroup of the class; absent means the whole class. */
  studentIds: z.array(idSchema).max(5_000).optional(),
  subject: z.string().min(1).max(200),
  teacherIds: z.array(idSchema).max(100),
  kind: z.enum(journalKinds),
  subjectChat: z.boolean(),
});

export const lessonStatuses = ['draft', 'published', 'conducted'] as const;

export const lessonSchema = z.object({
  id: idSchema,
  journalId: idSchema,
  date: isoDate,
  number: z.number().int().min(0).max(20),
  online: z.boolean(),
  status: z.enum(lessonStatuses),
});

export const gridRowSchema = z.object({
  number: z.number().int().min(0).max(20),
  start: nullableTime,
  end: nullableTime,
});

export const templateEntrySchema = z.object({
  journalId: idSchema,
  weekday: z.number().int().min(1).max(7),
  number: z.number().int().min(0).max(20),
});

export const templateSchema = z.object({
  id: idSchema,
  validFrom: nullableDate,
  validTo: nullableDate,
  sendToPortal: z.boolean(),
  grid: z.array(gridRowSchema).max(50),
  entries: z.array(templateEntrySchema).max(50_000),
});

export const rosterCollections = [
  'staff',
  'classes',
  'students',
  'parents',
  'journals',
  'lessons',
  'templates',
] as const;
export type RosterCollection = (typeof rosterCollections)[number];

export const rosterRecordSchemas = {
  staff: staffSchema,
  classes: classSchema,
  students: studentSchema,
  parents: parentSchema,
  journals: journalSchema,
  lessons: lessonSchema,
  templates: templateSchema,
} as const;

/** A whole school, as one JSON document. */
export const rosterSnapshotSchema = z.strictObject({
  school: schoolSchema,
  staff: z.array(staffSchema).default([]),
  classes: z.array(classSchema).default([]),
  students: z.array(studentSchema).default([]),
  parents: z.array(parentSchema).default([]),
  journals: z.array(journalSchema).default([]),
  lessons: z.array(lessonSchema).default([]),
  templates: z.array(templateSchema).default([]),
});

/** Records to upsert and IDs to remove, per collection. */
export const changeSetSchema = z.strictObject({
  schoolId: idSchema,
  upsert: z
    .object({
      staff: z.array(staffSchema).optional(),
      classes: z.array(classSchema).optional(),
      students: z.array(studentSchema).optional(),
      parents: z.array(parentSchema).optional(),
      journals: z.array(journalSchema).optional(),
      lessons: z.array(lessonSchema).optional(),
      templates: z.array(templateSchema).optional(),
    })
    .strict()
    .default({}),
  remove: z
    .object({
      staff: z.array(idSchema).optional(),
      classes: z.array(idSchema).optional(),
      students: z.array(idSchema).optional(),
      parents: z.array(idSchema).optional(),
      journals: z.array(idSchema).optional(),
      lessons: z.array(idSchema).optional(),
      templates: z.array(idSchema).optional(),
    })
    .strict()
    .default({}),
});

export type School = z.infer<typeof schoolSchema>;
export type Position = z.infer<typeof positionSchema>;
export type Staff = z.infer<typeof staffSchema>;
export type SchoolClass = z.infer<typeof classSchema>;
export type Student = z.infer<typeof studentSchema>;
export type Parent = z.infer<typeof parentSchema>;
export type Journal = z.infer<typeof journalSchema>;
export type Lesson = z.infer<typeof lessonSchema>;
export type LessonStatus = Lesson['status'];
export type GridRow = z.infer<typeof gridRowSchema>;
export type TemplateEntry = z.infer<typeof templateEntrySchema>;
export type Template = z.infer<typeof templateSchema>;
export type RosterSnapshot = z.infer<typeof rosterSnapshotSchema>;
export type RosterSnapshotInput = z.input<typeof rosterSnapshotSchema>;
export type ChangeSet = z.infer<typeof changeSetSchema>;

/** The record type of each roster collection. */
export interface RosterRecordTypes {
  staff: Staff;
  classes: SchoolClass;
  students: Student;
  parents: Parent;
  journals: Journal;
  lessons: Lesson;
  templates: Template;
}

/** VK ID link and unlink events from the city portal (P1, P2). */
export const personKinds = ['staff', 'student', 'parent'] as const;
export type PersonKind = (typeof personKinds)[number];

export const studyProfileSchema = z.strictObject({
  firstName: z.string().min(1).max(100),
  lastName: z.string().min(1).max(100),
  middleName: z.string().max(100).optional(),
  birthday: isoDate,
  gender: z.enum(['male', 'female']),
  photoUrl: z.url().optional(),
});

/** Events from the city portal are our own API's bodies: unknown fields are refused. */
export const vkLinkEventSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('link'),
    personKind: z.enum(personKinds),
    personId: idSchema,
    vkId: z.number().int().positive(),
    profile: studyProfileSchema,
  }),
  z.strictObject({
    action: z.literal('unlink'),
    personKind: z.enum(personKinds),
    personId: idSchema,
  }),
]);

export type StudyProfile = z.infer<typeof studyProfileSchema>;
export type VkLinkEvent = z.infer<typeof vkLinkEventSchema>;
