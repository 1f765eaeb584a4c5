import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from 'mongodb';
import type { RosterSnapshot } from '../../src/contracts/roster';
import type { SyncStatus } from '../../src/contracts/school-sync';
import { planChats, type DesiredChat } from '../../src/domain/chat-plan';
import { generateRoster } from '../../src/demo/roster-generator';
import { methods } from '../../src/emulator/vk/methods';
import type { Emulator } from '../../src/emulator/vk';
import { createRosterStore } from '../../src/store/roster-store';
import { createSyncStore } from '../../src/store/sync-store';
import type { Stack } from '../support/stack';
import { until } from '../support/until';

/** Shared by the school-sync integration tests: roster shapes, the plan/emulator comparison, polling. */

export const GENERATED_TODAY = '2026-12-01';

/**
 * A school between the generator's two sizes: the large school cut down to the given grades (three
 * classes each), with everything that refers to the dropped classes dropped too.
 */
export function mediumRoster(schoolId: string, grades: readonly number[] = [5]): RosterSnapshot {
  const large = generateRoster({
    seed: `medium-${schoolId}`,
    size: 'large',
    schoolId,
    today: GENERATED_TODAY,
  });
  const classes = large.classes.filter((c) => grades.includes(Number.parseInt(c.name, 10)));
  const classIds = new Set(classes.map((c) => c.id));
  const students = large.students.filter((s) => classIds.has(s.classId));
  const studentIds = new Set(students.map((s) => s.id));
  const parents = large.parents
    .map((p) => ({ ...p, childIds: p.childIds.filter((id) => studentIds.has(id)) }))
    .filter((p) => p.childIds.length > 0);
  const journals = large.journals.filter((j) => classIds.has(j.classId));
  const journalIds = new Set(journals.map((j) => j.id));
  return {
    ...large,
    school: { ...large.school, name: 'Средняя школа (тест)' },
    classes,
    students,
    parents,
    journals,
    lessons: large.lessons.filter((l) => journalIds.has(l.journalId)),
    templates: large.templates.map((t) => ({
      ...t,
      entries: t.entries.filter((e) => journalIds.has(e.journalId)),
    })),
  };
}

/** What the planner wants now, exactly as the plan activity computes it from MongoDB. */
export async function currentPlan(db: Db, schoolId: string): Promise<readonly DesiredChat[]> {
  const roster = await createRosterStore({ db }).loadRoster(schoolId);
  assert.ok(roster, `no roster stored for ${schoolId}`);
  const managed = await createSyncStore(db).listChats(schoolId);
  const existingSubjectChatJournalIds = managed.flatMap((c) =>
    c.kind === 'subject' && c.chatId !== null && !c.retired ? [c.key.slice('subject:'.length)] : [],
  );
  return planChats(roster, { existingSubjectChatJournalIds }).chats;
}

export interface ChatView {
  readonly chatId: number;
  readonly title: string;
  /** People in the chat, the community itself (owner) left out. */
  readonly members: number[];
  readonly admins: number[];
}

/** The community's live chats in the emulator, by title; the community (-communityId) left out. */
export function emulatorChats(emulator: Emulator, communityId: number): ChatView[] {
  const self = -communityId;
  return emulator
    .snapshot()
    .chats.filter((c) => c.communityId === communityId && !c.deleted)
    .map((c) => ({
      chatId: c.chatId,
      title: c.title,
      members: c.members
        .map((m) => m.memberId)
        .filter((id) => id !== self)
        .sort((a, b) => a - b),
      admins: c.admins.filter((id) => id !== self).sort((a, b) => a - b),
    }));
}

/** Titles that occur more than once among the community's chats: a duplicate chat. */
export function duplicateTitles(chats: readonly ChatView[]): string[] {
  const seen = new Map<string, number>();
  for (const c of chats) seen.set(c.title, (seen.get(c.title) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([t]) => t);
}

/** Differences between the plan and the emulator, as readable lines; empty when they are equal. */
export async function planVsEmulator(
  stack: Pick<Stack, 'db' | 'emulator'>,
  schoolId: string,
  communityId: number,
): Promise<string[]> {
  const plan = await currentPlan(stack.db, schoolId);
  const chats = emulatorChats(stack.emulator, communityId);
  const problems: string[] = [];
  for (const title of duplicateTitles(chats)) problems.push(`duplicate chat "${title}"`);
  const byTitle = new Map(chats.map((c) => [c.title, c]));
  const managed = new Map(
    (await createSyncStore(stack.db).listChats(schoolId)).map((c) => [c.key, c]),
  );
  for (const want of plan) {
    const have = byTitle.get(want.title);
    if (!have) {
      problems.push(`missing chat "${want.title}"`);
      continue;
    }
    const missing = want.members.filter((m) => !have.members.includes(m));
    const extra = have.members.filter((m) => !want.members.includes(m));
    if (missing.length > 0) problems.push(`"${want.title}": members missing ${missing.join(',')}`);
    if (extra.length > 0)
      problems.push(`"${want.title}": members not in the plan ${extra.join(',')}`);
    if (JSON.stringify(have.admins) !== JSON.stringify([...want.admins])) {
      problems.push(
        `"${want.title}": admins ${have.admins.join(',')} ≠ plan ${want.admins.join(',')}`,
      );
    }
    const record = managed.get(want.key);
    if (record?.chatId !== have.chatId) {
      problems.push(
        `"${want.title}": recorded chat ${record?.chatId ?? 'none'} ≠ platform chat ${have.chatId}`,
      );
    }
  }
  const planned = new Set(plan.map((c) => c.title));
  for (const c of chats)
    if (!planned.has(c.title)) problems.push(`chat "${c.title}" is not in the plan`);
  return problems;
}

/** Polls until the emulator equals the plan; returns the wall time it took. */
export async function converged(
  stack: Pick<Stack, 'db' | 'emulator'>,
  schoolId: string,
  communityId: number,
  ms = 60_000,
): Promise<number> {
  const started = Date.now();
  const deadline = started + ms;
  for (;;) {
    const problems = await planVsEmulator(stack, schoolId, communityId);
    if (problems.length === 0) return Date.now() - started;
    if (Date.now() > deadline) {
      assert.fail(
        `the emulator did not reach the plan within ${ms} ms:\n  ${problems.slice(0, 15).join('\n  ')}`,
      );
    }
    await delay(250);
  }
}

/** The emulator's write methods: anything that changes a chat, a message or a call. */
export const WRITE_METHODS = [
  'messages.createChat',
  'messages.addChatUser',
  'messages.removeChatUser',
  'messages.setMemberRole',
  'messages.send',
  'calls.start',
  'calls.forceFinish',
] as const;

export interface WriteCounter {
  readonly byMethod: Record<string, number>;
  /** Called after a write was applied, before the emulator answers: a test may kill its caller here. */
  onApplied: ((method: string, params: Readonly<Record<string, string>>) => void) | null;
  total(): number;
  reset(): void;
}

let installed: WriteCounter | undefined;

/**
 * Counts the emulator's write-method invocations, direct ones and those inside `execute` alike
 * (`stats.byMethod` sees only `execute` for a batch). Wraps the emulator's method table in this
 * process once.
 */
export function countEmulatorWrites(): WriteCounter {
  if (installed) return installed;
  const byMethod: Record<string, number> = {};
  const table = methods as Record<string, (typeof methods)[string]>;
  for (const name of WRITE_METHODS) {
    const handler = table[name];
    assert.ok(handler, `the emulator has no ${name}`);
    table[name] = (ctx, params) => {
      byMethod[name] = (byMethod[name] ?? 0) + 1;
      const result = handler(ctx, params);
      counter.onApplied?.(name, params);
      return result;
    };
  }
  const counter: WriteCounter = {
    byMethod,
    onApplied: null,
    total: () => Object.values(byMethod).reduce((n, v) => n + v, 0),
    reset: () => {
      for (const k of Object.keys(byMethod)) byMethod[k] = 0;
    },
  };
  installed = counter;
  return counter;
}

/** Waits until the school's workflow has finished a run with the given ID (or any run after `count`). */
export async function runFinished(
  stack: Pick<Stack, 'gateway'>,
  schoolId: string,
  match: { runId: string } | { runCountAtLeast: number },
  ms = 120_000,
): Promise<SyncStatus> {
  return until(
    `run ${JSON.stringify(match)} of ${schoolId}`,
    async () => {
      const s = await stack.gateway.syncStatus(schoolId);
      if (!s || s.currentRunId !== null) return false;
      if ('runId' in match) return s.lastRun?.runId === match.runId ? s : false;
      return s.runCount >= match.runCountAtLeast ? s : false;
    },
    ms,
  );
}

export { until };
