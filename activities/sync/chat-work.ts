import { ErrorType } from '../../src/contracts/errors';
import type { ChatApplyResult } from '../../src/contracts/sync-activities';
import type { FailedOp } from '../../src/messenger/op-failures';
import type { ChatMember } from '../../src/messenger/port';
import type { ChatRecord, PlannedChat } from '../../src/store/sync-store';

/** The chat apply engine's bookkeeping: each chat's work while its calls run, then its record. */

type Progress = NonNullable<ChatRecord['runProgress']>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One chat while its calls are under way. */
export interface ChatWork {
  readonly desired: PlannedChat;
  readonly record: ChatRecord | null;
  readonly result: Mutable<ChatApplyResult>;
  chatId: number | null;
  /** Members before this attempt's writes: as read, or as the chat was created. */
  present: readonly ChatMember[] | null;
  gone: boolean;
  readonly added: number[];
  readonly removed: number[];
  adminsChanged: number;
  failedOps: number;
  /** A failure a retry of the activity may get past: progress is saved, then the activity fails. */
  retryable: boolean;
  /** The chat failed for good this run (the platform refused to create or read it). */
  failure: string | null;
}

/** The chats with something to do, each with its result so far in this run, and the others. */
export function startWork(
  chats: readonly PlannedChat[],
  records: ReadonlyMap<string, ChatRecord>,
  runId: string,
): { untouched: ChatApplyResult[]; works: ChatWork[] } {
  const untouched: ChatApplyResult[] = [];
  const works: ChatWork[] = [];
  for (const desired of chats) {
    const record = records.get(desired.key) ?? null;
    const result = resultSoFar(desired.key, record, runId);
    // A chat to retire that never made it to the platform has nothing to undo.
    if (desired.retire && (record === null || record.chatId === null)) {
      untouched.push(result);
      continue;
    }
    works.push({
      desired,
      record,
      result,
      chatId: record?.chatId ?? null,
      present: null,
      gone: false,
      added: [],
      removed: [],
      adminsChanged: 0,
      failedOps: 0,
      retryable: false,
      failure: null,
    });
  }
  return { untouched, works };
}

/**
 * What the run's outcomes leave: the records to save, each chat's result, the chats refused for
 * good, and whether a retry is needed. `ran`: the run was not aborted.
 */
export function settle(
  schoolId: string,
  runId: string,
  works: readonly ChatWork[],
  transient: FailedOp[],
  ran: boolean,
): {
  saves: ChatRecord[];
  results: ChatApplyResult[];
  failed: { chatKey: string; type: string }[];
  retryable: boolean;
} {
  const saves: ChatRecord[] = [];
  const failed: { chatKey: string; type: string }[] = [];
  const results: ChatApplyResult[] = [];
  let retryable = false;
  for (const w of works) {
    const { desired, result } = w;
    if (w.gone) {
      // Deleted on the platform by hand: forget it, so the retry creates it again.
      transient.push({
        code: 0,
        type: ErrorType.MessengerUnavailable,
        message: `chat ${desired.key} disappeared from the platform`,
      });
      saves.push(
        chatRecord(schoolId, desired, w.record, runId, result, {
          chatId: null,
          createIntentAt: null,
          managedMembers: [],
          managedAdmins: [],
        }),
      );
      retryable = true;
      continue;
    }
    if (w.present === null || w.chatId === null) {
      if (w.chatId !== null && w.chatId !== w.record?.chatId) {
        saves.push(chatRecord(schoolId, desired, w.record, runId, result, { chatId: w.chatId }));
      }
      if (w.failure) failed.push({ chatKey: desired.key, type: w.failure });
      retryable ||= w.retryable || (w.failure === null && ran);
      continue;
    }
    const next = appliedRecord(schoolId, runId, w);
    // A chat this attempt left as it was keeps its record: a run with nothing to do writes nothing.
    const idle = w.added.length + w.removed.length + w.adminsChanged === 0;
    if (!idle || w.record === null || !sameState(w.record, next)) saves.push(next);
    retryable ||= w.retryable;
    results.push(result);
  }
  return { saves, results, failed, retryable };
}

/** The record of a chat whose members were read or created: who we manage in it now. */
function appliedRecord(schoolId: string, runId: string, w: ChatWork): ChatRecord {
  const { desired, result } = w;
  const managedBefore = w.record?.managedMembers ?? [];
  const wanted = new Set(desired.members);
  const removedSet = new Set(w.removed);
  const nowPresent = new Set(
    [...(w.present ?? []).map((m) => m.memberId), ...w.added].filter((id) => !removedSet.has(id)),
  );
  const managedAfter = [...new Set([...managedBefore, ...desired.members])]
    .filter((id) => nowPresent.has(id) && (wanted.has(id) || !removedSet.has(id)))
    .sort((a, b) => a - b);
  result.added += w.added.length;
  result.removed += w.removed.length;
  result.adminsChanged += w.adminsChanged;
  result.failedOps = w.failedOps;
  return chatRecord(schoolId, desired, w.record, runId, result, {
    chatId: w.chatId,
    managedMembers: managedAfter,
    managedAdmins: desired.admins.filter((id) => nowPresent.has(id)),
    retired: desired.retire,
  });
}

/** The record of a chat as it stands, with `patch` applied and this run's progress. */
export function chatRecord(
  schoolId: string,
  desired: PlannedChat,
  record: ChatRecord | null,
  runId: string,
  result: ChatApplyResult,
  patch: Partial<ChatRecord>,
): ChatRecord {
  const progress: Progress = {
    runId,
    created: result.created,
    adopted: result.adopted,
    added: result.added,
    removed: result.removed,
    adminsChanged: result.adminsChanged,
  };
  return {
    schoolId,
    key: desired.key,
    kind: record?.kind ?? desired.kind,
    title: desired.title,
    chatId: record?.chatId ?? null,
    createIntentAt: record?.createIntentAt ?? null,
    managedMembers: record?.managedMembers ?? [],
    managedAdmins: record?.managedAdmins ?? [],
    retired: record?.retired ?? false,
    ...patch,
    lastRunId: runId,
    runProgress: progress,
  };
}

/** Whether two records of a chat say the same about it, whatever run wrote them. */
function sameState(a: ChatRecord, b: ChatRecord): boolean {
  const same = (x: readonly number[], y: readonly number[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.chatId === b.chatId &&
    a.title === b.title &&
    a.kind === b.kind &&
    a.retired === b.retired &&
    (a.createIntentAt?.getTime() ?? null) === (b.createIntentAt?.getTime() ?? null) &&
    same(a.managedMembers, b.managedMembers) &&
    same(a.managedAdmins, b.managedAdmins)
  );
}

/** A chat's result so far in this run: what earlier attempts of the run recorded. */
function resultSoFar(
  chatKey: string,
  record: ChatRecord | null,
  runId: string,
): Mutable<ChatApplyResult> {
  const earlier = record?.runProgress?.runId === runId ? record.runProgress : null;
  return {
    chatKey,
    created: earlier?.created ?? false,
    adopted: earlier?.adopted ?? false,
    added: earlier?.added ?? 0,
    removed: earlier?.removed ?? 0,
    adminsChanged: earlier?.adminsChanged ?? 0,
    unmanaged: 0,
    failedOps: 0,
  };
}
