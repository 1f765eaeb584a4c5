import { ErrorType, TypedError } from '../../src/contracts/errors';
import type { ChatApplyResult, PlanApplyResult } from '../../src/contracts/sync-activities';
import type { Logger } from 'pino';
import { TransientOpsError, type FailedOp } from '../../src/messenger/op-failures';
import type { MessengerProvider } from '../../src/messenger/provider';
import type { ChatRecord, PlannedChat, SyncStore } from '../../src/store/sync-store';
import { ChatCalls } from './chat-calls';
import { chatRecord, settle, startWork, type ChatWork } from './chat-work';

/**
 * The chat apply engine: brings chats to what a plan wants (creation, adoption of a chat a lost
 * attempt created, member changes, admin rights) with every chat's platform calls sharing the
 * `execute` requests, and keeps our records of them. The sync applies a school's plan through it,
 * a call's start the one subject chat it needs.
 */

export interface ChatApplyDeps {
  readonly logger: Logger;
  readonly sync: Pick<SyncStore, 'listChats' | 'insertChats' | 'upsertChats'>;
  readonly messengers: MessengerProvider;
}

export interface ChatsToApply {
  readonly schoolId: string;
  /** Names the records' `lastRunId` and `runProgress`: a retry of the same run resumes. */
  readonly runId: string;
  /** What a transient failure's message says was applied (a plan ID, a chat). */
  readonly label: string;
  readonly chats: readonly PlannedChat[];
}

/**
 * Applies `chats` and records them. A chat the platform refuses for good is reported in `failed`;
 * retryable per-item failures fail the call (TransientOpsError) after the progress is saved, so a
 * retry finishes the rest; a refused token or proxy rejects after the same.
 */
export async function applyChats(
  deps: ChatApplyDeps,
  args: ChatsToApply,
): Promise<PlanApplyResult> {
  const { schoolId, runId } = args;
  const [{ messenger, communityId, removeUnmanaged }, stored] = await Promise.all([
    deps.messengers.forSchool(schoolId),
    deps.sync.listChats(schoolId),
  ]);
  const records = new Map(stored.map((r) => [r.key, r]));
  const { untouched, works } = startWork(args.chats, records, runId);

  // Intent-then-adopt: a chat whose creation was sent but whose answer was lost is found by
  // its title among the community's chats before anything is created again.
  const lost = works.filter((w) => w.chatId === null && w.record?.createIntentAt);
  if (lost.length > 0) {
    const owned = new Set(
      [...records.values()].flatMap((c) => (c.chatId === null ? [] : [c.chatId])),
    );
    const listed = await messenger.listChats();
    for (const w of lost) {
      const match = listed.find((c) => c.title === w.desired.title && !owned.has(c.chatId));
      if (!match) continue;
      owned.add(match.chatId);
      w.chatId = match.chatId;
      w.result.adopted = true;
      deps.logger.info(
        { schoolId, chatKey: w.desired.key, chatId: match.chatId },
        'adopted a chat created by a lost attempt',
      );
    }
  }
  const toCreate = works.filter((w) => w.chatId === null);
  const now = new Date();
  const intent = (w: ChatWork): ChatRecord =>
    chatRecord(schoolId, w.desired, w.record, runId, w.result, { createIntentAt: now });
  await deps.sync.insertChats(toCreate.filter((w) => w.record === null).map(intent));
  await deps.sync.upsertChats([
    ...lost
      .filter((w) => w.chatId !== null)
      .map((w) => chatRecord(schoolId, w.desired, w.record, runId, w.result, { chatId: w.chatId })),
    ...toCreate.filter((w) => w.record !== null).map(intent),
  ]);

  // What failed transiently, for the error the retried activity leaves in the history.
  const transient: FailedOp[] = [];
  const calls = new ChatCalls({
    logger: deps.logger,
    schoolId,
    selfId: -communityId,
    removeUnmanaged,
    transient,
  }).initial(works, toCreate);

  let aborted: Error | null = null;
  try {
    await messenger.run({ calls });
  } catch (error) {
    // A refused token or proxy: what was done so far is still recorded before failing.
    aborted = error instanceof Error ? error : new Error(String(error));
  }

  const settled = settle(schoolId, runId, works, transient, aborted === null);
  await deps.sync.upsertChats(settled.saves);

  if (aborted !== null) throw aborted;
  if (settled.retryable) {
    throw new TransientOpsError(
      args.label,
      transient.length > 0
        ? transient
        : [
            {
              code: 0,
              type: ErrorType.MessengerUnavailable,
              message: 'a chat was neither read nor created',
            },
          ],
    );
  }
  return { results: [...untouched, ...settled.results], failed: settled.failed };
}

/**
 * Applies one chat as `applyChats` does, for a caller that needs that chat or a failure: a chat
 * the platform refuses for good fails with the refusal's type.
 */
export async function applyChat(
  deps: ChatApplyDeps,
  args: Omit<ChatsToApply, 'chats' | 'label'> & { readonly chat: PlannedChat },
): Promise<ChatApplyResult> {
  const { chat } = args;
  const label = `chat ${chat.key}`;
  const { results, failed } = await applyChats(deps, { ...args, label, chats: [chat] });
  const refused = failed[0];
  if (refused) {
    throw new TypedError(errorTypeOf(refused.type), `${label}: the platform refused it`);
  }
  const result = results[0];
  if (!result) throw new TypedError(ErrorType.MessengerUnavailable, `${label} was not applied`);
  return result;
}

function errorTypeOf(type: string): ErrorType {
  return (Object.values(ErrorType) as string[]).includes(type)
    ? (type as ErrorType)
    : ErrorType.MessengerUnavailable;
}
