import type {
  Journal,
  Lesson,
  LessonStatus,
  Parent,
  PersonKind,
  SchoolClass,
  Staff,
  Student,
} from '../contracts/roster';
import { chatKinds } from '../contracts/school-sync';

/**
 * The chat planner (C1, C2, C5, S4): from the roster to the chats that must exist, who is in each,
 * and who administers it. Pure and synchronous: the school-sync workflow calls it inside the
 * Temporal sandbox, so it touches nothing but its arguments.
 */

export { chatKinds };
export type ChatKind = (typeof chatKinds)[number];

export interface DesiredChat {
  /** Stable across runs and imports: the sync stores the platform chat ID under it. */
  readonly key: string;
  readonly kind: ChatKind;
  /** Unique within one plan, so a chat created by a lost attempt can be found again by its title. */
  readonly title: string;
  readonly classId?: string;
  readonly journalId?: string;
  /** VK IDs, ascending, without duplicates. */
  readonly members: readonly number[];
  /** VK IDs, ascending; always a subset of `members`. */
  readonly admins: readonly number[];
}

/** Someone a rule puts in a chat who has not linked a VK ID yet (S4). IDs only: names stay in MongoDB. */
export interface SkippedPerson {
  readonly personKind: PersonKind;
  readonly personId: string;
  readonly chatKey: string;
  readonly reason: 'noVkId';
}

export interface ChatPlan {
  readonly chats: readonly DesiredChat[];
  readonly skipped: readonly SkippedPerson[];
}

/** The parts of a roster snapshot the planner reads. */
export interface PlannerRoster {
  readonly staff: readonly Staff[];
  readonly classes: readonly SchoolClass[];
  readonly students: readonly Student[];
  readonly parents: readonly Parent[];
  readonly journals: readonly Journal[];
  readonly lessons: readonly Lesson[];
}

export interface PlanOptions {
  /**
   * Journals whose subject chat the platform already has. C2 creates a subject chat on the first
   * published online lesson; the roster carries only recent lessons, so without this the chat would
   * vanish from the plan once that lesson ages out of the import.
   */
  readonly existingSubjectChatJournalIds?: readonly string[];
}

export const chatKeys = {
  staffRoom: (): string => 'staff-room',
  classParents: (classId: string): string => `class-parents:${classId}`,
  classStudents: (classId: string): string => `class-students:${classId}`,
  subject: (journalId: string): string => `subject:${journalId}`,
} as const;

/** C2 and V1: the statuses under which students can see an online lesson. */
const visibleStatuses: ReadonlySet<LessonStatus> = new Set<LessonStatus>([
  'published',
  'conducted',
]);

/** C5: user-access roles that make a staff member an admin of the staff room. */
const staffRoomAdminRoles: ReadonlySet<string> = new Set(['administrator', 'head']);

interface Person {
  readonly kind: PersonKind;
  readonly id: string;
  readonly vkId: number | null;
}

/** Collects one chat's people, reporting those without a VK ID instead of adding them. */
class ChatBuilder {
  private readonly members = new Set<number>();
  private readonly admins = new Set<number>();
  private readonly skippedIds = new Set<string>();

  constructor(
    private readonly key: string,
    private readonly skipped: SkippedPerson[],
  ) {}

  add(person: Person, admin = false): void {
    if (person.vkId === null) {
      const marker = `${person.kind}:${person.id}`;
      if (!this.skippedIds.has(marker)) {
        this.skippedIds.add(marker);
        this.skipped.push({
          personKind: person.kind,
          personId: person.id,
          chatKey: this.key,
          reason: 'noVkId',
        });
      }
      return;
    }
    this.members.add(person.vkId);
    if (admin) this.admins.add(person.vkId);
  }

  build(fields: Omit<DesiredChat, 'key' | 'members' | 'admins'>): DesiredChat {
    return {
      key: this.key,
      ...fields,
      members: sortedNumbers(this.members),
      admins: sortedNumbers(this.admins),
    };
  }
}

export function planChats(roster: PlannerRoster, opts: PlanOptions = {}): ChatPlan {
  const skipped: SkippedPerson[] = [];
  const chats: DesiredChat[] = [];

  const staffById = new Map<string, Staff>();
  for (const member of roster.staff) staffById.set(member.id, member);
  const activeStudentById = new Map<string, Student>();
  for (const student of roster.students)
    if (student.active) activeStudentById.set(student.id, student);

  const staffPerson = (s: Staff): Person => ({ kind: 'staff', id: s.id, vkId: s.vkId });
  const studentPerson = (s: Student): Person => ({ kind: 'student', id: s.id, vkId: s.vkId });
  const parentPerson = (p: Parent): Person => ({ kind: 'parent', id: p.id, vkId: p.vkId });
  const activeStaff = (id: string | null): Staff | undefined => {
    const found = id === null ? undefined : staffById.get(id);
    return found?.active ? found : undefined;
  };

  // C1 + C5: everyone employed is in the staff room; heads and administrators run it.
  const staffRoom = new ChatBuilder(chatKeys.staffRoom(), skipped);
  for (const member of byId(roster.staff)) {
    if (member.active) staffRoom.add(staffPerson(member), isStaffRoomAdmin(member));
  }
  chats.push(staffRoom.build({ kind: 'staffRoom', title: 'Учительская' }));

  // C1: class chats. Students belong to the class their own record names; parents follow their
  // active children, so a parent of children in two classes is in both parents' chats.
  const studentsByClass = groupBy(byId([...activeStudentById.values()]), (s) => s.classId);
  const parentsByClass = new Map<string, Parent[]>();
  for (const parent of byId(roster.parents)) {
    const classIds = new Set<string>();
    for (const childId of parent.childIds) {
      const child = activeStudentById.get(childId);
      if (child) classIds.add(child.classId);
    }
    for (const classId of classIds) pushTo(parentsByClass, classId, parent);
  }

  const classNames = new Map<string, string>();
  for (const cls of byId(roster.classes)) {
    classNames.set(cls.id, cls.name);
    // C5: only the class card's "class teacher" field counts, never a class chosen on the person's card.
    const classTeacher = activeStaff(cls.classTeacherId);

    const parentsChat = new ChatBuilder(chatKeys.classParents(cls.id), skipped);
    if (classTeacher) parentsChat.add(staffPerson(classTeacher), true);
    for (const parent of parentsByClass.get(cls.id) ?? []) parentsChat.add(parentPerson(parent));
    chats.push(
      parentsChat.build({ kind: 'classParents', title: `${cls.name} — родители`, classId: cls.id }),
    );

    const studentsChat = new ChatBuilder(chatKeys.classStudents(cls.id), skipped);
    if (classTeacher) studentsChat.add(staffPerson(classTeacher), true);
    for (const student of studentsByClass.get(cls.id) ?? [])
      studentsChat.add(studentPerson(student));
    chats.push(
      studentsChat.build({
        kind: 'classStudents',
        title: `${cls.name} — ученики`,
        classId: cls.id,
      }),
    );
  }

  // C2: a subject chat once the journal has a published (or conducted) online lesson.
  const triggered = new Set<string>(opts.existingSubjectChatJournalIds ?? []);
  for (const lesson of roster.lessons) {
    if (lesson.online && visibleStatuses.has(lesson.status)) triggered.add(lesson.journalId);
  }
  const subjectChats: { chat: ChatBuilder; journal: Journal; title: string }[] = [];
  for (const journal of byId(roster.journals)) {
    const className = classNames.get(journal.classId);
    if (
      journal.kind !== 'general' ||
      !journal.subjectChat ||
      !triggered.has(journal.id) ||
      className === undefined
    ) {
      continue;
    }
    const chat = new ChatBuilder(chatKeys.subject(journal.id), skipped);
    for (const teacherId of journal.teacherIds) {
      const teacher = activeStaff(teacherId);
      if (teacher) chat.add(staffPerson(teacher), true);
    }
    // C3: a subgroup lists students by ID; one moved to another class since is no longer in it
    // (the import warns about such IDs).
    const students =
      journal.studentIds === undefined
        ? (studentsByClass.get(journal.classId) ?? [])
        : journal.studentIds.flatMap((id) => {
            const found = activeStudentById.get(id);
            return found?.classId === journal.classId ? [found] : [];
          });
    for (const student of students) chat.add(studentPerson(student));
    subjectChats.push({ chat, journal, title: `${className} — ${journal.subject}` });
  }
  // Subgroups of one class share a subject name; number them so titles stay unique.
  const titleCounts = new Map<string, number>();
  for (const { title } of subjectChats) titleCounts.set(title, (titleCounts.get(title) ?? 0) + 1);
  const titleSeen = new Map<string, number>();
  for (const { chat, journal, title } of subjectChats) {
    const seen = (titleSeen.get(title) ?? 0) + 1;
    titleSeen.set(title, seen);
    const unique = (titleCounts.get(title) ?? 0) > 1 ? `${title} (группа ${seen})` : title;
    chats.push(
      chat.build({
        kind: 'subject',
        title: unique,
        classId: journal.classId,
        journalId: journal.id,
      }),
    );
  }

  return { chats, skipped };
}

/** C5, staff room: the director (an active head-1 position), an acting head, or an admin/head access role. */
export function isStaffRoomAdmin(member: Staff): boolean {
  if (!member.active) return false;
  if (member.actingHead) return true;
  if (member.positions.some((p) => p.active && p.level === 'head-1')) return true;
  return member.accessRoles.some((role) => staffRoomAdminRoles.has(role));
}

export interface ActualMember {
  readonly memberId: number;
  readonly isAdmin: boolean;
  readonly isOwner: boolean;
}

export interface MemberDiffInput {
  readonly desired: Pick<DesiredChat, 'members' | 'admins'>;
  readonly actual: readonly ActualMember[];
  /** VK IDs this service added to the chat earlier; only these are ours to remove or demote. */
  readonly managed: readonly number[];
  /** The school opted in to removing people added by hand in the platform. */
  readonly removeUnmanaged: boolean;
  /** The community's own ID in the chat, never touched. */
  readonly selfId?: number;
}

export interface MemberDiff {
  readonly add: readonly number[];
  readonly remove: readonly number[];
  /** Includes people in `add` who must become admins once added. */
  readonly promote: readonly number[];
  readonly demote: readonly number[];
  /** In the chat, not wanted by the roster, and not added by us. Also in `remove` when the school opted in. */
  readonly unmanaged: readonly number[];
}

/**
 * Desired against actual membership (C3, C5). The owner is never removed or demoted: the platform
 * refuses it, and it is the chat's creator, i.e. us or someone the school trusts.
 */
export function diffMembers(input: MemberDiffInput): MemberDiff {
  const { desired, actual, removeUnmanaged, selfId } = input;
  const wanted = new Set(desired.members);
  const wantedAdmins = new Set(desired.admins);
  const managed = new Set(input.managed);
  const present = new Map<number, ActualMember>();
  for (const member of actual) present.set(member.memberId, member);

  const add: number[] = [];
  const promote: number[] = [];
  for (const id of wanted) {
    const member = present.get(id);
    if (!member) add.push(id);
    if (wantedAdmins.has(id) && !(member?.isAdmin || member?.isOwner)) promote.push(id);
  }

  const remove: number[] = [];
  const demote: number[] = [];
  const unmanaged: number[] = [];
  for (const member of present.values()) {
    const id = member.memberId;
    if (member.isOwner || id === selfId) continue;
    if (!wanted.has(id)) {
      const ours = managed.has(id);
      if (!ours) unmanaged.push(id);
      if (ours || removeUnmanaged) remove.push(id);
    } else if (member.isAdmin && !wantedAdmins.has(id) && managed.has(id)) {
      demote.push(id);
    }
  }

  return {
    add: add.sort(ascending),
    remove: remove.sort(ascending),
    promote: promote.sort(ascending),
    demote: demote.sort(ascending),
    unmanaged: unmanaged.sort(ascending),
  };
}

function ascending(a: number, b: number): number {
  return a - b;
}

function sortedNumbers(values: ReadonlySet<number>): number[] {
  return [...values].sort(ascending);
}

/** Input order must not change the plan: the same roster always yields the same chats in the same order. */
function byId<T extends { readonly id: string }>(records: readonly T[]): T[] {
  return [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function groupBy<T>(records: readonly T[], keyOf: (record: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const record of records) pushTo(groups, keyOf(record), record);
  return groups;
}

function pushTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
