import type { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { MAX_EXECUTE_CALLS, buildExecuteCode, type InnerCall } from './execute-code';
import {
  PEER_CHAT_OFFSET,
  type BatchCall,
  type ChatMember,
  type FollowUp,
  type OpFailure,
} from './port';
import { VkApiError, transportError } from './vk-errors';
import { batchOkSchema, conversationMembersSchema, createChatReplySchema } from './vk-schemas';
import type { VkTransport } from './vk-transport';

/**
 * Batching: the calls of `run` (and the calls their outcomes lead to) packed up to 25 to a VK
 * `execute`, a few requests in flight, each inner call's outcome handed to its own `then`.
 */

export interface BatchOptions {
  /** Inner calls per `execute`, 1..25. */
  readonly callsPerExecute?: number;
  /** `execute` requests in flight at once; the limiter still caps the rate. */
  readonly maxInFlight?: number;
}

/** VK's page size for a chat's members. */
const MEMBERS_PAGE = 1000;
/** A chat that does not exist (927) or was deleted (1017) is reported as missing, not as a failure. */
const CHAT_GONE_CODES = new Set([927, 1017]);

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: VkApiError };

/** An inner call's reply, or why it has none. */
type Raw = { readonly ok: true; readonly value: unknown } | OpFailure;

/** One inner call of `run` and what to do with its outcome; returns the jobs that follow from it. */
interface Job {
  readonly call: InnerCall;
  readonly settle: (outcome: Raw) => Job[];
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function opFailure(error: VkApiError): Omit<OpFailure, 'ok'> {
  return { code: error.code, type: error.type, message: error.message };
}

/** A whole request that failed for a reason a later attempt may not meet: the calls it carried fail, the run goes on. */
const TRANSIENT_TYPES = new Set<string>([
  ErrorType.MessengerUnavailable,
  ErrorType.MessengerRateLimited,
]);

interface Batch {
  readonly transport: VkTransport;
  readonly communityId: number;
  readonly callsPerExecute: number;
  readonly maxInFlight: number;
}

/** Runs `calls` as `Messenger.run` says: see the port. */
export function runBatch(
  transport: VkTransport,
  communityId: number,
  opts: BatchOptions,
  calls: readonly BatchCall[],
): Promise<void> {
  const batch: Batch = {
    transport,
    communityId,
    callsPerExecute: Math.min(
      MAX_EXECUTE_CALLS,
      Math.max(1, opts.callsPerExecute ?? MAX_EXECUTE_CALLS),
    ),
    maxInFlight: Math.max(1, opts.maxInFlight ?? 4),
  };
  return runJobs(
    batch,
    calls.flatMap((c) => jobsOf(batch, c)),
  );
}

/** Runs one `execute` and maps each result (or `false` + its `execute_errors` entry) to its call. */
async function executeChunk(batch: Batch, calls: readonly InnerCall[]): Promise<Outcome[]> {
  const { secrets } = batch.transport;
  const reply = await batch.transport.call('execute', { code: buildExecuteCode(calls) });
  const results = reply.response;
  if (!Array.isArray(results) || results.length !== calls.length) {
    throw transportError(
      ErrorType.MessengerUnavailable,
      'execute',
      `expected ${calls.length} results`,
      secrets,
    );
  }
  let nextError = 0;
  return results.map((value: unknown, i): Outcome => {
    const inner = calls[i]?.method ?? 'execute';
    if (value !== false) return { ok: true, value };
    const e = reply.executeErrors[nextError++];
    const error =
      e === undefined
        ? new VkApiError({
            code: 1,
            method: inner,
            message: 'call failed without an execute_errors entry',
            secrets,
          })
        : new VkApiError({ code: e.error_code, method: e.method, message: e.error_msg, secrets });
    return { ok: false, error };
  });
}

/** Parses a successful inner reply; a reply of the wrong shape fails that call only. */
function parsed<S extends z.ZodType>(
  method: string,
  schema: S,
  outcome: Raw,
): { readonly ok: true; readonly value: z.output<S> } | OpFailure {
  if (!outcome.ok) return outcome;
  const result = schema.safeParse(outcome.value);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    code: 0,
    type: ErrorType.MessengerUnavailable,
    message: `VK ${method}: unexpected response shape`,
  };
}

function writeCall(call: Extract<BatchCall, { kind: 'add' | 'remove' | 'role' }>): InnerCall {
  if (call.kind === 'role') {
    return {
      method: 'messages.setMemberRole',
      params: {
        peer_id: PEER_CHAT_OFFSET + call.chatId,
        member_id: call.userId,
        role: call.role,
      },
    };
  }
  return call.kind === 'add'
    ? { method: 'messages.addChatUser', params: { chat_id: call.chatId, user_id: call.userId } }
    : {
        method: 'messages.removeChatUser',
        params: { chat_id: call.chatId, member_id: call.userId },
      };
}

/** The jobs of one `BatchCall`; a members read becomes one job per page, each asking for the next. */
function jobsOf(batch: Batch, call: BatchCall): Job[] {
  const follow = (more: FollowUp): Job[] => (more ?? []).flatMap((c) => jobsOf(batch, c));
  switch (call.kind) {
    case 'create':
      return [
        {
          call: {
            method: 'messages.createChat',
            params: { title: call.title, user_ids: call.userIds, group_id: batch.communityId },
          },
          settle: (outcome) =>
            follow(call.then(parsed('messages.createChat', createChatReplySchema, outcome))),
        },
      ];
    case 'members': {
      const list: ChatMember[] = [];
      const page = (offset: number): Job => ({
        call: {
          method: 'messages.getConversationMembers',
          params: { peer_id: PEER_CHAT_OFFSET + call.chatId, offset, count: MEMBERS_PAGE },
        },
        settle: (outcome) => {
          if (!outcome.ok && CHAT_GONE_CODES.has(outcome.code))
            return follow(call.then({ ok: true, value: null }));
          const reply = parsed(
            'messages.getConversationMembers',
            conversationMembersSchema,
            outcome,
          );
          if (!reply.ok) return follow(call.then(reply));
          for (const m of reply.value.items) {
            list.push({
              memberId: m.member_id,
              isAdmin: m.is_admin ?? false,
              isOwner: m.is_owner ?? false,
            });
          }
          const fetched = offset + reply.value.items.length;
          if (reply.value.items.length > 0 && fetched < reply.value.count) return [page(fetched)];
          return follow(call.then({ ok: true, value: list }));
        },
      });
      return [page(0)];
    }
    case 'add':
    case 'remove':
    case 'role': {
      const inner = writeCall(call);
      return [
        {
          call: inner,
          settle: (outcome) => {
            const reply = parsed(inner.method, batchOkSchema, outcome);
            return follow(call.then(reply.ok ? { ok: true } : reply));
          },
        },
      ];
    }
  }
}

/**
 * Sends the queue 25 calls to an `execute`, up to `maxInFlight` at once. A short request leaves
 * only when none is in flight: until then the outcomes still to come may add calls that fill it.
 */
function runJobs(batch: Batch, initial: readonly Job[]): Promise<void> {
  const { callsPerExecute, maxInFlight } = batch;
  const queue: Job[] = [...initial];
  let inFlight = 0;
  let aborted: { error: Error } | null = null;
  return new Promise<void>((resolve, reject) => {
    const settleAll = (jobs: readonly Job[], outcomes: readonly Raw[]): void => {
      jobs.forEach((job, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined || aborted) return;
        try {
          queue.push(...job.settle(outcome));
        } catch (error) {
          aborted = { error: asError(error) };
        }
      });
    };
    const pump = (): void => {
      while (
        !aborted &&
        inFlight < maxInFlight &&
        (queue.length >= callsPerExecute || (queue.length > 0 && inFlight === 0))
      ) {
        const jobs = queue.splice(0, callsPerExecute);
        inFlight += 1;
        executeChunk(
          batch,
          jobs.map((j) => j.call),
        )
          .then(
            (outcomes) =>
              settleAll(
                jobs,
                outcomes.map((o): Raw => (o.ok ? o : { ok: false, ...opFailure(o.error) })),
              ),
            (error: unknown) => {
              if (error instanceof TypedError && TRANSIENT_TYPES.has(error.type)) {
                const code = error instanceof VkApiError ? error.code : 0;
                const failed: OpFailure = {
                  ok: false,
                  code,
                  type: error.type,
                  message: error.message,
                };
                settleAll(
                  jobs,
                  jobs.map(() => failed),
                );
              } else {
                aborted ??= { error: asError(error) };
              }
            },
          )
          .finally(() => {
            inFlight -= 1;
            pump();
          });
      }
      if (inFlight > 0) return;
      if (aborted) reject(aborted.error);
      else if (queue.length === 0) resolve();
    };
    pump();
  });
}
