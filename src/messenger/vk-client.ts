import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { MAX_EXECUTE_CALLS, buildExecuteCode, wireValue, type InnerCall } from './execute-code';
import {
  PEER_CHAT_OFFSET,
  type BatchCall,
  type ChatMember,
  type ChatSummary,
  type FollowUp,
  type MemberOp,
  type Messenger,
  type MessengerSettings,
  type OpFailure,
  type OpResult,
  type RoleOp,
  type StartedCall,
} from './port';
import { sharedLimiter, type RateLimiter } from './rate-limiter';
import { VkApiError, tokenFingerprint, transportError } from './vk-errors';
import {
  callStartSchema,
  conversationMembersSchema,
  conversationsSchema,
  createChatReplySchema,
  createChatSchema,
  errorEnvelopeSchema,
  batchOkSchema,
  okSchema,
  sendSchema,
  successEnvelopeSchema,
} from './vk-schemas';

export interface VkMessengerOptions {
  /** Replaces the process-wide per-token limiter (tests use a private one). */
  readonly limiter?: RateLimiter;
  /** Extra time each rate-limit slot is held, to absorb network jitter; see `SlidingWindowOptions`. */
  readonly rateMarginMs?: number;
  /** Inner calls per `execute`, 1..25. */
  readonly callsPerExecute?: number;
  /** `execute` requests in flight at once; the limiter still caps the rate. */
  readonly maxInFlight?: number;
  readonly timeoutMs?: number;
}

/** VK's page size limits for the two list methods. */
const MEMBERS_PAGE = 1000;
const CONVERSATIONS_PAGE = 200;
/** No documented code exists for "no such call"; the emulator uses 104 (not found). */
const CALL_GONE_CODES = new Set([104]);
const CALL_ID_LENGTH = 36;
/** A chat that does not exist (927) or was deleted (1017) is reported as missing, not as a failure. */
const CHAT_GONE_CODES = new Set([927, 1017]);

type Params = Readonly<Record<string, string | number | boolean | readonly number[]>>;

interface Reply {
  readonly response: unknown;
  readonly executeErrors: readonly { method: string; error_code: number; error_msg: string }[];
}

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

function proxyUrl(proxy: NonNullable<MessengerSettings['proxy']>): URL {
  const url = new URL(proxy.server.includes('://') ? proxy.server : `http://${proxy.server}`);
  url.port = String(proxy.port);
  url.username = '';
  url.password = '';
  return url;
}

function buildDispatcher(settings: MessengerSettings, timeoutMs: number): Dispatcher {
  const timeouts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs };
  const { proxy } = settings;
  if (proxy === undefined) return new Agent(timeouts);
  // undici 8 forwards plain-HTTP requests to the proxy instead of tunnelling them; the school's
  // proxy is a CONNECT tunnel for every request, as it was under undici 7.
  const opts: ProxyAgent.Options = { uri: proxyUrl(proxy).href, proxyTunnel: true, ...timeouts };
  if (proxy.auth) {
    if (!proxy.username || proxy.password === undefined) {
      throw new TypedError(
        ErrorType.NotConfigured,
        'Proxy authentication is on but the proxy user name or password is empty',
      );
    }
    const basic = Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64');
    return new ProxyAgent({ ...opts, token: `Basic ${basic}` });
  }
  return new ProxyAgent(opts);
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  return errorCode((err as { cause?: unknown }).cause);
}

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Creates the VK adapter of the `Messenger` port for one school's settings. */
export function createVkMessenger(
  settings: MessengerSettings,
  opts: VkMessengerOptions = {},
): Messenger {
  const { proxy } = settings;
  // The Basic credential is as secret as the password it encodes.
  const proxyBasic =
    proxy?.auth && proxy.username && proxy.password !== undefined
      ? Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64')
      : undefined;
  const secrets = [settings.token, proxy?.password, proxyBasic];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const callsPerExecute = Math.min(
    MAX_EXECUTE_CALLS,
    Math.max(1, opts.callsPerExecute ?? MAX_EXECUTE_CALLS),
  );
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 4);
  const base = settings.baseUrl.replace(/\/+$/, '');
  const proxyName = settings.proxy ? proxyUrl(settings.proxy).host : undefined;
  const limiter =
    opts.limiter ??
    sharedLimiter(
      `${base}|${tokenFingerprint(settings.token)}`,
      settings.rateLimitPerSecond,
      opts.rateMarginMs === undefined ? {} : { marginMs: opts.rateMarginMs },
    );
  const dispatcher = buildDispatcher(settings, timeoutMs);

  function networkFailure(method: string, err: unknown): TypedError {
    const message = err instanceof Error ? err.message : String(err);
    const code = errorCode(err);
    if (proxyName !== undefined) {
      const status =
        /Proxy response \((\d+)\)/.exec(message)?.[1] ??
        (/\(407\)/.test(message) ? '407' : undefined);
      if (status === '407') {
        return transportError(
          ErrorType.ProxyFailure,
          method,
          `proxy ${proxyName} refused the request with HTTP 407 (Proxy Authentication Required): check the proxy user name and password, and whether proxy authentication should be on`,
          secrets,
          { proxy: proxyName, status: 407 },
        );
      }
      if (status !== undefined && Number(status) >= 500) {
        return transportError(
          ErrorType.MessengerUnavailable,
          method,
          `proxy ${proxyName} could not reach VK (HTTP ${status})`,
          secrets,
          {
            proxy: proxyName,
            status: Number(status),
          },
        );
      }
      if (status !== undefined) {
        return transportError(
          ErrorType.ProxyFailure,
          method,
          `proxy ${proxyName} refused the tunnel with HTTP ${status}`,
          secrets,
          {
            proxy: proxyName,
            status: Number(status),
          },
        );
      }
      if (code !== undefined && CONNECT_FAILURES.has(code)) {
        return transportError(
          ErrorType.ProxyFailure,
          method,
          `cannot connect to proxy ${proxyName} (${code})`,
          secrets,
          {
            proxy: proxyName,
            cause: code,
          },
        );
      }
    }
    return transportError(
      ErrorType.MessengerUnavailable,
      method,
      `network error: ${message}${code ? ` (${code})` : ''}`,
      secrets,
      {
        cause: code ?? 'unknown',
      },
    );
  }

  /** One HTTP request: no retries here, Temporal retries the activity. */
  async function call(method: string, params: Params): Promise<Reply> {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) body.set(key, String(wireValue(value)));
    body.set('v', settings.apiVersion);
    body.set('access_token', settings.token);

    const answered = await limiter.acquire();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${base}/method/${method}`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      });
    } catch (err) {
      throw networkFailure(method, err);
    } finally {
      answered();
    }

    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw networkFailure(method, err);
    }
    const status = res.statusCode;
    if (status >= 500)
      throw transportError(
        ErrorType.MessengerUnavailable,
        method,
        `HTTP ${status} from VK`,
        secrets,
        { status },
      );
    if (status === 407) {
      throw transportError(
        ErrorType.ProxyFailure,
        method,
        `proxy ${proxyName ?? ''} answered HTTP 407: check the proxy credentials`,
        secrets,
        { status },
      );
    }
    if (status === 429)
      throw transportError(ErrorType.MessengerRateLimited, method, 'HTTP 429 from VK', secrets, {
        status,
      });
    if (status !== 200) {
      throw transportError(
        ErrorType.MessengerBadRequest,
        method,
        `unexpected HTTP ${status}: check the API base URL`,
        secrets,
        { status },
      );
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // A captive portal or a misbehaving proxy answers 200 with HTML; that is transient, not our bug.
      throw transportError(ErrorType.MessengerUnavailable, method, 'reply is not JSON', secrets);
    }
    const failed = errorEnvelopeSchema.safeParse(json);
    if (failed.success) {
      const e = failed.data.error;
      throw new VkApiError({
        code: e.error_code,
        method,
        message: e.error_msg,
        requestParams: e.request_params ?? [],
        secrets,
      });
    }
    const ok = successEnvelopeSchema.safeParse(json);
    if (!ok.success)
      throw transportError(
        ErrorType.MessengerUnavailable,
        method,
        'reply is neither {response} nor {error}',
        secrets,
      );
    return { response: ok.data.response, executeErrors: ok.data.execute_errors ?? [] };
  }

  function parse<S extends z.ZodType>(method: string, schema: S, value: unknown): z.output<S> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const where = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      throw transportError(
        ErrorType.MessengerUnavailable,
        method,
        `unexpected response shape: ${where}`,
        secrets,
      );
    }
    return parsed.data;
  }

  /** Runs one `execute` and maps each result (or `false` + its `execute_errors` entry) to its call. */
  async function executeChunk(calls: readonly InnerCall[]): Promise<Outcome[]> {
    const reply = await call('execute', { code: buildExecuteCode(calls) });
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

  /** All calls, 25 to an `execute`, a few requests in flight; results in input order. */
  async function executeAll(calls: readonly InnerCall[]): Promise<Outcome[]> {
    const chunks: InnerCall[][] = [];
    for (let i = 0; i < calls.length; i += callsPerExecute)
      chunks.push(calls.slice(i, i + callsPerExecute));
    const results: Outcome[][] = new Array<Outcome[]>(chunks.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < chunks.length; i = next++)
        results[i] = await executeChunk(chunks[i] ?? []);
    };
    await Promise.all(Array.from({ length: Math.min(maxInFlight, chunks.length) }, worker));
    return results.flat();
  }

  function opResult(outcome: Outcome): OpResult {
    return outcome.ok ? { ok: true } : { ok: false, ...opFailure(outcome.error) };
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
  function jobsOf(call: BatchCall): Job[] {
    const follow = (more: FollowUp): Job[] => (more ?? []).flatMap(jobsOf);
    switch (call.kind) {
      case 'create':
        return [
          {
            call: {
              method: 'messages.createChat',
              params: { title: call.title, user_ids: call.userIds, group_id: settings.communityId },
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
  function runJobs(initial: readonly Job[]): Promise<void> {
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
          executeChunk(jobs.map((j) => j.call))
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

  async function batch(calls: readonly InnerCall[], method: string): Promise<OpResult[]> {
    const outcomes = await executeAll(calls);
    return outcomes.map((o) => {
      if (o.ok) parse(method, batchOkSchema, o.value);
      return opResult(o);
    });
  }

  return {
    async createChat({ title, userIds }) {
      const reply = await call('messages.createChat', {
        title,
        user_ids: userIds,
        group_id: settings.communityId,
      });
      return parse('messages.createChat', createChatSchema, reply.response);
    },

    async listChats() {
      const chats: ChatSummary[] = [];
      for (let offset = 0; ; offset += CONVERSATIONS_PAGE) {
        const reply = await call('messages.getConversations', {
          offset,
          count: CONVERSATIONS_PAGE,
          filter: 'all',
        });
        const page = parse('messages.getConversations', conversationsSchema, reply.response);
        for (const { conversation } of page.items) {
          if (conversation.peer.type !== 'chat' || conversation.chat_settings === undefined)
            continue;
          chats.push({
            chatId: conversation.peer.local_id ?? conversation.peer.id - PEER_CHAT_OFFSET,
            title: conversation.chat_settings.title,
            membersCount: conversation.chat_settings.members_count ?? 0,
          });
        }
        if (page.items.length === 0 || offset + page.items.length >= page.count) return chats;
      }
    },

    async getMembers({ chatIds }) {
      const members = new Map<number, ChatMember[] | null>();
      let pending = [...new Set(chatIds)].map((chatId) => ({ chatId, offset: 0 }));
      // Round one asks every chat for its first page; chats with more members come back for more.
      while (pending.length > 0) {
        const calls = pending.map(({ chatId, offset }) => ({
          method: 'messages.getConversationMembers',
          params: { peer_id: PEER_CHAT_OFFSET + chatId, offset, count: MEMBERS_PAGE },
        }));
        const outcomes = await executeAll(calls);
        const more: typeof pending = [];
        outcomes.forEach((outcome, i) => {
          const req = pending[i];
          if (req === undefined) return;
          if (!outcome.ok) {
            if (CHAT_GONE_CODES.has(outcome.error.code)) {
              members.set(req.chatId, null);
              return;
            }
            throw outcome.error;
          }
          const page = parse(
            'messages.getConversationMembers',
            conversationMembersSchema,
            outcome.value,
          );
          const list = members.get(req.chatId) ?? [];
          for (const m of page.items) {
            list.push({
              memberId: m.member_id,
              isAdmin: m.is_admin ?? false,
              isOwner: m.is_owner ?? false,
            });
          }
          members.set(req.chatId, list);
          const fetched = req.offset + page.items.length;
          if (page.items.length > 0 && fetched < page.count)
            more.push({ chatId: req.chatId, offset: fetched });
        });
        pending = more;
      }
      return members;
    },

    addMembers({ ops }: { ops: readonly MemberOp[] }) {
      return batch(
        ops.map((op) => ({
          method: 'messages.addChatUser',
          params: { chat_id: op.chatId, user_id: op.userId },
        })),
        'messages.addChatUser',
      );
    },

    removeMembers({ ops }: { ops: readonly MemberOp[] }) {
      return batch(
        ops.map((op) => ({
          method: 'messages.removeChatUser',
          params: { chat_id: op.chatId, member_id: op.userId },
        })),
        'messages.removeChatUser',
      );
    },

    run({ calls }) {
      return runJobs(calls.flatMap(jobsOf));
    },

    setRoles({ ops }: { ops: readonly RoleOp[] }) {
      return batch(
        ops.map((op) => ({
          method: 'messages.setMemberRole',
          params: { peer_id: PEER_CHAT_OFFSET + op.chatId, member_id: op.userId, role: op.role },
        })),
        'messages.setMemberRole',
      );
    },

    async send({ chatId, message, randomId }) {
      const peerId = PEER_CHAT_OFFSET + chatId;
      // `peer_ids` because with `peer_id` a community posting in a chat gets message id 0 back;
      // the per-peer form carries the chat-local conversation_message_id.
      const reply = await call('messages.send', {
        peer_ids: [peerId],
        random_id: randomId,
        message,
      });
      const result = parse('messages.send', sendSchema, reply.response);
      if (typeof result === 'number') return { messageId: result };
      const entry = result.find((r) => r.peer_id === peerId) ?? result[0];
      if (entry?.error !== undefined) {
        throw new VkApiError({
          code: entry.error.code,
          method: 'messages.send',
          message: entry.error.description,
          secrets,
        });
      }
      const messageId = entry?.conversation_message_id ?? entry?.message_id;
      if (messageId === undefined)
        throw transportError(
          ErrorType.MessengerUnavailable,
          'messages.send',
          'no message id in reply',
          secrets,
        );
      return { messageId };
    },

    async startCall(): Promise<StartedCall> {
      const reply = await call('calls.start', { group_id: settings.communityId });
      const started = parse('calls.start', callStartSchema, reply.response);
      if (started.call_id === undefined) {
        // Without an id the call can never be ended through the API; better to fail loudly now.
        throw transportError(
          ErrorType.MessengerBadRequest,
          'calls.start',
          'reply has no call_id',
          secrets,
        );
      }
      const joinLink = /^https?:\/\//.test(started.join_link)
        ? started.join_link
        : `https://vk.com/call/join/${encodeURIComponent(started.join_link)}`;
      return { callId: started.call_id, joinLink };
    },

    async finishCall({ callId }) {
      if (callId.length !== CALL_ID_LENGTH) {
        throw new TypedError(
          ErrorType.InvalidInput,
          `call id must be ${CALL_ID_LENGTH} characters, got ${callId.length}`,
        );
      }
      try {
        const reply = await call('calls.forceFinish', { call_id: callId });
        parse('calls.forceFinish', okSchema, reply.response);
        return { alreadyEnded: false };
      } catch (err) {
        if (err instanceof VkApiError && CALL_GONE_CODES.has(err.code))
          return { alreadyEnded: true };
        throw err;
      }
    },

    async close() {
      await dispatcher.close();
    },
  };
}
