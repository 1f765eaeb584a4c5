import { createHash } from 'node:crypto';
import type { RosterSnapshot } from '../src/contracts/roster';
import { chatKeys, planChats } from '../src/domain/chat-plan';
import type { CallActivityDeps } from './calls';
import { applyChat } from './sync/apply';

/**
 * A started call's announcement (V4, C2): the link to the subject chat, made when its first online
 * lesson needs it, and to the e-diary at the same moment; then the link on the lesson, which says
 * the announcement is complete.
 */

type AnnounceDeps = Pick<
  CallActivityDeps,
  'logger' | 'roster' | 'calls' | 'sync' | 'messengers' | 'diary'
>;

/** A started call's link and the lesson it is for. */
export interface Announcement {
  readonly schoolId: string;
  readonly journalId: string;
  readonly lessonId: string;
  readonly callKey: string;
  readonly joinLink: string;
}

/** VK's `random_id` is a signed 32-bit value; derived from the key so a retried send lands once. */
export function stableRandomId(key: string): number {
  return createHash('sha256').update(key).digest().readInt32BE(0) & 0x7fffffff;
}

function linkMessage(subject: string, lessonNumber: number, joinLink: string): string {
  return `Видеоурок «${subject}», ${lessonNumber}-й урок. Подключиться: ${joinLink}`;
}

/** C2: the subject chat is created when its first online lesson needs it. */
async function ensureSubjectChat(
  deps: AnnounceDeps,
  schoolId: string,
  journalId: string,
  callKey: string,
): Promise<number | null> {
  const key = chatKeys.subject(journalId);
  const existing = await deps.sync.getChat(schoolId, key);
  if (existing?.chatId) return existing.chatId;
  const roster: RosterSnapshot | null = await deps.roster.loadRoster(schoolId);
  if (!roster) return null;
  const existingIds = [journalId];
  const desired = planChats(roster, { existingSubjectChatJournalIds: existingIds }).chats.find(
    (c) => c.key === key,
  );
  if (!desired) return null;
  // The sync's own engine, as a one-chat plan: the chat is made exactly as the sync makes it.
  await applyChat(deps, {
    schoolId,
    runId: `call:${callKey}`,
    chat: {
      key: desired.key,
      kind: desired.kind,
      title: desired.title,
      ...(desired.classId === undefined ? {} : { classId: desired.classId }),
      journalId,
      members: [...desired.members],
      admins: [...desired.admins],
      retire: false,
      expected: { create: true, add: desired.members.length, remove: 0 },
    },
  });
  return (await deps.sync.getChat(schoolId, key))?.chatId ?? null;
}

export async function announce(deps: AnnounceDeps, args: Announcement): Promise<boolean> {
  const [lesson, journal] = await Promise.all([
    deps.roster.getLesson({ schoolId: args.schoolId, lessonId: args.lessonId }),
    deps.roster.getJournal({ schoolId: args.schoolId, journalId: args.journalId }),
  ]);
  if (!lesson || lesson.status === 'draft') return false;
  // V4: the e-diary gets the link at the same moment as the chat, not after it.
  const toDiary = publishToDiary(deps, args);
  toDiary.catch(() => undefined);
  const chatId = await ensureSubjectChat(deps, args.schoolId, args.journalId, args.callKey);
  if (chatId !== null) {
    const { messenger } = await deps.messengers.forSchool(args.schoolId);
    await messenger.messagesSend({
      chatId,
      message: linkMessage(journal?.subject ?? '', lesson.number, args.joinLink),
      randomId: stableRandomId(`${args.callKey}:${args.lessonId}`),
    });
  }
  await toDiary;
  // Last: the link on the lesson is what says the announcement is complete.
  await deps.calls.writeLessonLink(args);
  return true;
}

/** V4: the lesson's link for the e-diary, pushed to the portal from the outbox. */
async function publishToDiary(deps: AnnounceDeps, args: Announcement): Promise<void> {
  const previous = await deps.calls.getLessonLink(args);
  await deps.diary.linkPublished({
    ...args,
    previousCallKey: previous?.endedAt === null ? previous.callKey : null,
  });
}
