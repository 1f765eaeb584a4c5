import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  ApiError,
  PEER_CHAT_OFFSET,
  defaultEmulatorOptions,
  methods,
  type CallContext,
  type EmulatorOptions,
} from './methods';
import { createCallbackSide } from './callback';
import { ControlError } from './control-error';
import {
  callbackStrikeBody,
  chatBody,
  chatUpdateBody,
  communityBody,
  envCallEndSignal,
  faultsSchema,
  longPollStrikeBody,
  optionsSchema,
  role,
  usersBody,
} from './control-schemas';
import { createEventHub } from './events';
import { groupMethods } from './groups';
import { createLongPollSide, type LongPollDown, type LongPollFault } from './long-poll';
import { PERSON_ACTIONS, createPersonControls } from './person';
import {
  StatePersister,
  emptyState,
  hashToken,
  loadStateFile,
  type EmuChat,
  type EmuCommunity,
  type EmuState,
} from './state';
import {
  VkScriptCompileError,
  VkScriptRuntimeError,
  compileVkScript,
  runVkScript,
  type VkValue,
} from './vkscript';

/** Fault injection for `/method/` requests; every rate is a probability in [0, 1]. */
export interface EmulatorFaults {
  /** Answer error 10 before doing anything. */
  readonly errorRate10: number;
  /** Answer HTTP 502 with an HTML page, as a failing front end would. */
  readonly http502Rate: number;
  /** Destroy the connection before the action is applied. */
  readonly dropBeforeRate: number;
  /** Apply the action, then destroy the connection instead of answering: the caller cannot know it worked. */
  readonly dropAfterRate: number;
  /** Added to every request before it is handled. */
  readonly latencyMs: number;
  /** Overrides the per-token rate limit while set (a lower limit for tests); null restores the option. */
  readonly rateLimitPerSecond: number | null;
  /** The long-poll server down until cleared: every a_check gets HTTP 502 or a dropped connection. */
  readonly longPollDown: LongPollDown;
}

/** A fault `strikeNext` makes happen exactly once, on a chosen request. */
export type StrikeFault = 'dropBefore' | 'http502' | 'error10' | 'dropAfter';

/** The request a scripted fault struck: its method and parameters, the token left out. */
export interface StruckRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, string>>;
}

export const noFaults: EmulatorFaults = {
  errorRate10: 0,
  http502Rate: 0,
  dropBeforeRate: 0,
  dropAfterRate: 0,
  latencyMs: 0,
  rateLimitPerSecond: null,
  longPollDown: null,
};

export interface EmulatorStats {
  /** HTTP requests to `/method/...`, including refused ones; one per `execute`. */
  requests: number;
  byMethod: Record<string, number>;
  /** Whole-request VK errors by code (inner `execute` errors are counted in `innerErrors`). */
  errors: Record<string, number>;
  innerCalls: number;
  innerErrors: Record<string, number>;
}

export interface CreateEmulatorArgs {
  /** 0 or absent: a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly stateFile?: string;
  readonly options?: Partial<EmulatorOptions>;
  /** Communities to create at start (tokens are stored hashed). */
  readonly communities?: readonly { communityId: number; token: string }[];
  /** Source of randomness for fault injection; tests may pin it. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface Emulator {
  readonly url: string;
  readonly port: number;
  /** The live state; tests may read it (and arrange unusual chats) directly. */
  readonly state: EmuState;
  readonly stats: EmulatorStats;
  readonly options: EmulatorOptions;
  readonly faults: EmulatorFaults;
  addCommunity(communityId: number, token: string): void;
  setFaults(faults: Partial<EmulatorFaults>): void;
  /**
   * Makes the next request of `method` (any method if absent) fail with `fault`, once, whatever
   * the random rates: a drill that must see each fault strike does not depend on chance.
   * Resolves with the request it struck.
   */
  strikeNext(fault: StrikeFault, method?: string): Promise<StruckRequest>;
  setOptions(options: Partial<EmulatorOptions>): void;
  /** Makes the next long-poll request (any community) fail with `fault`, once, in arming order. */
  strikeLongPoll(fault: LongPollFault): void;
  /** Posts the next event to callback servers twice. */
  strikeCallbackDuplicate(): void;
  /** Resolves once every callback request queued so far has been answered or given up on. */
  callbacksIdle(): Promise<void>;
  /** The events a community's long poll can still hand out, oldest first. */
  events(communityId: number): readonly { ts: number; event: Record<string, unknown> }[];
  /** What `GET /__emulator/state` returns. */
  snapshot(): StateDump;
  reset(): void;
  close(): Promise<void>;
}

export interface StateDump {
  communities: { communityId: number; tokens: number; nextChatId: number }[];
  users: number[];
  chats: {
    communityId: number;
    chatId: number;
    peerId: number;
    title: string;
    ownerId: number;
    disabled: boolean;
    deleted: boolean;
    members: EmuChat['members'];
    admins: number[];
  }[];
  calls: {
    callId: string;
    communityId: number;
    status: string;
    joinLink: string;
    startedAt: number;
    finishedAt?: number;
    finishedBy?: string;
  }[];
  messages: EmuState['messages'];
  platformEvents: {
    logs: { communityId: number; nextTs: number; kept: number }[];
    /** Callback servers, their secret keys left out. */
    callbackServers: Omit<EmuState['callbackServers'][number], 'secretKey'>[];
    callbackDeliveries: EmuState['callbackDeliveries'];
    longPollStrikes: readonly LongPollFault[];
    /** The control endpoints that act as a person in the Sferum app. */
    personActions: readonly string[];
  };
  stats: EmulatorStats;
  faults: EmulatorFaults;
  options: EmulatorOptions;
}

const MAX_EXECUTE_CALLS = 25;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const FLOOD_WINDOW_MS = 60_000;

/** zod's `.partial()` types absent keys as `undefined`; drop them so a patch never unsets a field. */
function definedOnly<T extends object>(patch: { [K in keyof T]?: T[K] | undefined }): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function emptyStats(): EmulatorStats {
  return { requests: 0, byMethod: {}, errors: {}, innerCalls: 0, innerErrors: {} };
}

function bump(counter: Record<string, number>, key: string | number): void {
  counter[key] = (counter[key] ?? 0) + 1;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

interface MethodRequest {
  /** Query string, then body: a later value of a name replaces an earlier one. */
  readonly params: Record<string, string>;
  /** Every `access_token` value sent, query and body, in order: the token check sees them all. */
  readonly tokens: readonly string[];
}

/**
 * VK reads parameters from the query string and from form bodies (urlencoded or multipart). Any
 * other body, JSON included, is not read at all, so its fields simply are not there.
 */
async function readParams(req: IncomingMessage, url: URL): Promise<MethodRequest> {
  const params: Record<string, string> = {};
  const tokens: string[] = [];
  const add = (k: string, v: string): void => {
    params[k] = v;
    if (k === 'access_token') tokens.push(v);
  };
  for (const [k, v] of url.searchParams) add(k, v);
  if (req.method !== 'POST') return { params, tokens };
  const body = await readBody(req);
  const contentType = req.headers['content-type'] ?? '';
  const lower = contentType.toLowerCase();
  if (lower.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) add(k, v);
  } else if (lower.startsWith('multipart/form-data')) {
    for (const [k, v] of Object.entries(multipartFields(body, contentType))) add(k, v);
  }
  return { params, tokens };
}

/**
 * The one token a request acts with. Each place it may come from (`access_token` in the query or
 * the body, `Authorization: Bearer`) is checked, and two different values are refused: VK does
 * not document which would win (UNCONFIRMED), and a check that read one while the method acted
 * with another could be bypassed.
 */
function callerToken(
  tokens: readonly string[],
  authorization: string | undefined,
): string | ApiError {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  const presented = bearer === undefined ? tokens : [...tokens, bearer];
  const [first] = presented;
  if (first === undefined || first === '') return new ApiError(5, 'no access_token passed.');
  if (presented.some((t) => t !== first)) {
    return new ApiError(5, 'access_token passed more than once with different values.');
  }
  return first;
}

/** The text fields of a multipart/form-data body (RFC 7578); file parts are skipped, no method here takes files. */
export function multipartFields(body: Buffer, contentType: string): Record<string, string> {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  const fields: Record<string, string> = {};
  if (boundary === undefined) return fields;
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // Each part sits between "\r\n" after the delimiter line and "\r\n" before the next delimiter.
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const disposition =
        /content-disposition:\s*form-data\s*;([^\r\n]*)/i.exec(headers)?.[1] ?? '';
      const name = /(?:^|;)\s*name="([^"]*)"/i.exec(disposition)?.[1];
      if (name !== undefined && !/filename\*?=/i.test(disposition)) {
        fields[name] = part.subarray(headerEnd + 4).toString('utf8');
      }
    }
    at = next;
  }
  return fields;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** `request_params` as VK echoes them: method and oauth first, then what was sent, never the token. */
function requestParams(
  method: string,
  params: Readonly<Record<string, string>>,
): { key: string; value: string }[] {
  const out = [
    { key: 'method', value: method },
    { key: 'oauth', value: '1' },
  ];
  for (const [key, value] of Object.entries(params))
    if (key !== 'access_token') out.push({ key, value });
  return out;
}

/** Starts the emulator; resolves once it listens. */
export async function createEmulator(args: CreateEmulatorArgs = {}): Promise<Emulator> {
  const random = args.random ?? Math.random;
  const now = args.now ?? Date.now;
  const initialOptions: EmulatorOptions = {
    ...defaultEmulatorOptions,
    ...envCallEndSignal(),
    ...definedOnly<EmulatorOptions>(optionsSchema.parse(args.options ?? {})),
  };
  let options = initialOptions;
  let faults = noFaults;
  let stats = emptyStats();
  const state: EmuState =
    args.stateFile === undefined ? emptyState() : await loadStateFile(args.stateFile);
  const sent = new Map<string, number[]>();
  const flood = new Map<number, number[]>();
  const strikes: {
    fault: StrikeFault;
    method: string | undefined;
    resolve: (req: StruckRequest) => void;
  }[] = [];
  const persister =
    args.stateFile === undefined ? undefined : new StatePersister(args.stateFile, () => state);
  const changed = (): void => persister?.changed();
  let baseUrl = '';
  const hub = createEventHub({ state, options: () => options, now });
  const longPoll = createLongPollSide({
    hub,
    baseUrl: () => baseUrl,
    keyTtlMs: () => options.longPollKeyTtlMs,
    down: () => faults.longPollDown,
    now,
  });
  const callbacks = createCallbackSide({ state, hub, options: () => options, now, changed });
  const person = createPersonControls({ state, hub, now, changed });
  const groups = {
    longPollServer: (communityId: number) => longPoll.issue(communityId),
    confirmCallbackServer: (server: EmuState['callbackServers'][number]) =>
      callbacks.confirm(server),
  };

  function addCommunity(communityId: number, token: string): void {
    const hash = hashToken(token);
    for (const c of state.communities) c.tokenHashes = c.tokenHashes.filter((h) => h !== hash);
    const existing = state.communities.find((c) => c.communityId === communityId);
    if (existing === undefined)
      state.communities.push({ communityId, tokenHashes: [hash], nextChatId: 1 });
    else existing.tokenHashes.push(hash);
    changed();
  }
  for (const c of args.communities ?? []) addCommunity(c.communityId, c.token);

  function communityByToken(token: string): { community: EmuCommunity; hash: string } | undefined {
    const hash = hashToken(token);
    const community = state.communities.find((c) => c.tokenHashes.includes(hash));
    return community === undefined ? undefined : { community, hash };
  }

  /** Sliding one-second window per token, counting the requests it let through. */
  function overRateLimit(hash: string, at: number): boolean {
    const limit = faults.rateLimitPerSecond ?? options.rateLimitPerSecond;
    const window = sent.get(hash) ?? [];
    while (window.length > 0 && (window[0] ?? 0) <= at - 1000) window.shift();
    if (window.length >= limit) return true;
    window.push(at);
    sent.set(hash, window);
    return false;
  }

  function floodAction(communityId: number, at: number): void {
    if (options.floodActionsPerMinute <= 0) return;
    const window = flood.get(communityId) ?? [];
    while (window.length > 0 && (window[0] ?? 0) <= at - FLOOD_WINDOW_MS) window.shift();
    if (window.length >= options.floodActionsPerMinute) throw new ApiError(9);
    window.push(at);
    flood.set(communityId, window);
  }

  function runMethod(
    name: string,
    params: Record<string, string>,
    ctx: CallContext,
  ): Record<string, unknown> {
    if (name === 'execute') {
      const code = params.code;
      if (code === undefined || code.trim() === '') throw new ApiError(100, 'code is undefined');
      let program;
      try {
        program = compileVkScript(code);
      } catch (err) {
        if (err instanceof VkScriptCompileError) throw new ApiError(12, err.message);
        throw err;
      }
      const executeErrors: { method: string; error_code: number; error_msg: string }[] = [];
      const invoke = (method: string, inner: Record<string, string>): VkValue => {
        stats.innerCalls++;
        try {
          const handler = methods[method] ?? groupMethods[method];
          if (handler === undefined) throw new ApiError(3);
          return handler(ctx, inner);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          bump(stats.innerErrors, err.code);
          executeErrors.push({ method, error_code: err.code, error_msg: err.message });
          return false;
        }
      };
      let response: VkValue;
      try {
        response = runVkScript(program, invoke, MAX_EXECUTE_CALLS);
      } catch (err) {
        if (err instanceof VkScriptRuntimeError) throw new ApiError(13, err.message);
        throw err;
      }
      return executeErrors.length === 0
        ? { response }
        : { response, execute_errors: executeErrors };
    }
    const handler = methods[name] ?? groupMethods[name];
    if (handler === undefined) throw new ApiError(3);
    return { response: handler(ctx, params) };
  }

  async function handleMethod(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    name: string,
  ): Promise<void> {
    stats.requests++;
    bump(stats.byMethod, name);
    // The earliest armed strike for this method is this request's; if the request fails before
    // the strike's point (auth, rate limit), the strike waits for the next one.
    const strikeAt = strikes.findIndex((s) => s.method === undefined || s.method === name);
    const strike = strikeAt < 0 ? undefined : strikes.splice(strikeAt, 1)[0];
    let fired = false;
    try {
      await serveMethod(req, res, url, name, strike, () => (fired = true));
    } finally {
      if (strike && !fired) strikes.unshift(strike);
    }
  }

  async function serveMethod(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    name: string,
    strike: (typeof strikes)[number] | undefined,
    onFired: () => void,
  ): Promise<void> {
    // A scripted fault reports what it struck, so it reads the parameters before striking.
    const early = strike ? await readParams(req, url) : undefined;
    const struck = (fault: StrikeFault): boolean => {
      if (strike?.fault !== fault) return false;
      onFired();
      strike.resolve({
        method: name,
        params: Object.fromEntries(
          Object.entries(early?.params ?? {}).filter(([key]) => key !== 'access_token'),
        ),
      });
      return true;
    };
    if (struck('dropBefore') || random() < faults.dropBeforeRate) {
      req.socket.destroy();
      return;
    }
    if (struck('http502') || random() < faults.http502Rate) {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(
        '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>',
      );
      return;
    }
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);

    const { params, tokens } = early ?? (await readParams(req, url));
    const fail = (err: ApiError): void => {
      bump(stats.errors, err.code);
      sendJson(res, 200, {
        error: {
          error_code: err.code,
          error_msg: err.message,
          request_params: requestParams(name, params),
        },
      });
    };

    const token = callerToken(tokens, req.headers.authorization);
    if (token instanceof ApiError) return fail(token);
    const caller = communityByToken(token);
    if (caller === undefined) return fail(new ApiError(5, 'invalid access_token (4).'));
    const version = params.v;
    if (version === undefined || version === '')
      return fail(new ApiError(8, 'v (version) is required'));
    if (!/^5\.\d+$/.test(version)) return fail(new ApiError(8, 'invalid v (version) param'));
    const at = now();
    if (overRateLimit(caller.hash, at)) return fail(new ApiError(6));
    if (struck('error10') || random() < faults.errorRate10) return fail(new ApiError(10));

    let dirty = false;
    const ctx: CallContext = {
      state,
      options,
      community: caller.community,
      version,
      now: at,
      action: () => {
        floodAction(caller.community.communityId, at);
        dirty = true;
      },
      events: hub,
      groups,
    };
    let body: Record<string, unknown>;
    try {
      body = runMethod(name, params, ctx);
    } catch (err) {
      if (dirty) changed();
      if (err instanceof ApiError) return fail(err);
      throw err;
    }
    if (dirty) changed();
    if (struck('dropAfter') || random() < faults.dropAfterRate) {
      res.socket?.destroy();
      return;
    }
    sendJson(res, 200, body);
  }

  function findControlChat(communityId: number, chatId: number): EmuChat {
    const chat = state.chats.find((c) => c.communityId === communityId && c.chatId === chatId);
    if (chat === undefined)
      throw new ControlError(404, `no chat ${chatId} in community ${communityId}`);
    return chat;
  }

  function placeCommunity(chat: EmuChat, placement: z.infer<typeof role>): void {
    const self = -chat.communityId;
    chat.members = chat.members.filter((m) => m.memberId !== self);
    if (placement === 'none') return;
    chat.members.unshift({
      memberId: self,
      invitedBy: chat.ownerId,
      joinDate: Math.floor(now() / 1000),
      isAdmin: placement !== 'member',
      isOwner: placement === 'owner',
    });
    if (placement === 'owner') {
      chat.ownerId = self;
      for (const m of chat.members) if (m.memberId !== self) m.isOwner = false;
    }
  }

  async function handleControl(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<void> {
    const json = async (): Promise<unknown> => {
      const text = (await readBody(req)).toString('utf8');
      try {
        return text === '' ? {} : JSON.parse(text);
      } catch {
        throw new ControlError(400, 'body is not JSON');
      }
    };
    const parse = async <S extends z.ZodType>(schema: S): Promise<z.output<S>> => {
      const parsed = schema.safeParse(await json());
      if (!parsed.success) {
        throw new ControlError(
          400,
          parsed.error.issues
            .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
            .join('; '),
        );
      }
      return parsed.data;
    };
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /__emulator/state':
        return sendJson(res, 200, snapshot());
      case 'POST /__emulator/communities': {
        const body = await parse(communityBody);
        addCommunity(body.communityId, body.token);
        return sendJson(res, 200, { ok: true, communityId: body.communityId });
      }
      case 'POST /__emulator/users': {
        const body = await parse(usersBody);
        for (const id of body.userIds) if (!state.users.includes(id)) state.users.push(id);
        changed();
        return sendJson(res, 200, { ok: true, users: state.users.length });
      }
      case 'POST /__emulator/chats': {
        const body = await parse(chatBody);
        const community = state.communities.find((c) => c.communityId === body.communityId);
        if (community === undefined)
          throw new ControlError(404, `no community ${body.communityId}`);
        const joinDate = Math.floor(now() / 1000);
        const ownerId = body.ownerId ?? body.memberIds[0] ?? -body.communityId;
        const chat: EmuChat = {
          communityId: body.communityId,
          chatId: community.nextChatId++,
          title: body.title,
          ownerId,
          createdAt: now(),
          disabled: false,
          deleted: false,
          lastConversationMessageId: 0,
          members: body.memberIds.map((id) => ({
            memberId: id,
            invitedBy: ownerId,
            joinDate,
            isAdmin: id === ownerId,
            isOwner: id === ownerId,
          })),
        };
        placeCommunity(chat, body.communityRole);
        state.chats.push(chat);
        changed();
        return sendJson(res, 200, { chatId: chat.chatId, peerId: PEER_CHAT_OFFSET + chat.chatId });
      }
      case 'POST /__emulator/chats/update': {
        const body = await parse(chatUpdateBody);
        const chat = findControlChat(body.communityId, body.chatId);
        if (body.title !== undefined) chat.title = body.title;
        if (body.disabled !== undefined) chat.disabled = body.disabled;
        if (body.deleted !== undefined) chat.deleted = body.deleted;
        if (body.communityRole !== undefined) placeCommunity(chat, body.communityRole);
        changed();
        return sendJson(res, 200, { ok: true });
      }
      case 'POST /__emulator/longpoll/strike': {
        const body = await parse(longPollStrikeBody);
        for (let i = 0; i < body.times; i++) longPoll.strike(body.fault);
        return sendJson(res, 200, { ok: true, pending: longPoll.pending() });
      }
      case 'POST /__emulator/callback/strike':
        await parse(callbackStrikeBody);
        callbacks.strikeDuplicate();
        return sendJson(res, 200, { ok: true });
      case 'GET /__emulator/events': {
        const raw = new URL(req.url ?? '', 'http://e').searchParams.get('communityId') ?? '';
        if (!/^\d+$/.test(raw))
          throw new ControlError(400, 'communityId: a community ID is required');
        const log = state.eventLogs.find((l) => l.communityId === Number(raw));
        return sendJson(res, 200, { nextTs: log?.nextTs ?? 1, events: log?.events ?? [] });
      }
      case 'GET /__emulator/faults':
        return sendJson(res, 200, faults);
      case 'POST /__emulator/faults':
        setFaults(definedOnly<EmulatorFaults>(await parse(faultsSchema)));
        return sendJson(res, 200, faults);
      case 'GET /__emulator/options':
        return sendJson(res, 200, options);
      case 'POST /__emulator/options':
        setOptions(definedOnly<EmulatorOptions>(await parse(optionsSchema)));
        return sendJson(res, 200, options);
      case 'POST /__emulator/reset':
        reset();
        return sendJson(res, 200, { ok: true });
      default: {
        // A person's actions in the Sferum app (V5, C3): `person.ts`.
        const answer = await person.handle(route, json);
        if (answer === undefined) throw new ControlError(404, `no control endpoint ${route}`);
        return sendJson(res, 200, answer);
      }
    }
  }

  function strikeNext(fault: StrikeFault, method?: string): Promise<StruckRequest> {
    return new Promise((resolve) => strikes.push({ fault, method, resolve }));
  }

  function setFaults(patch: Partial<EmulatorFaults>): void {
    faults = { ...faults, ...definedOnly<EmulatorFaults>(faultsSchema.parse(patch)) };
  }

  function setOptions(patch: Partial<EmulatorOptions>): void {
    options = { ...options, ...definedOnly<EmulatorOptions>(optionsSchema.parse(patch)) };
  }

  function reset(): void {
    Object.assign(state, emptyState());
    options = initialOptions;
    faults = noFaults;
    stats = emptyStats();
    sent.clear();
    flood.clear();
    longPoll.reset();
    callbacks.reset();
    changed();
  }

  function snapshot(): StateDump {
    return {
      communities: state.communities.map((c) => ({
        communityId: c.communityId,
        tokens: c.tokenHashes.length,
        nextChatId: c.nextChatId,
      })),
      users: [...state.users],
      chats: state.chats.map((c) => ({
        communityId: c.communityId,
        chatId: c.chatId,
        peerId: PEER_CHAT_OFFSET + c.chatId,
        title: c.title,
        ownerId: c.ownerId,
        disabled: c.disabled,
        deleted: c.deleted,
        members: c.members.map((m) => ({ ...m })),
        admins: c.members.filter((m) => m.isAdmin).map((m) => m.memberId),
      })),
      calls: state.calls.map((c) => ({
        callId: c.callId,
        communityId: c.communityId,
        status: c.status,
        joinLink: c.joinLink,
        startedAt: c.startedAt,
        ...(c.finishedAt === undefined ? {} : { finishedAt: c.finishedAt }),
        ...(c.finishedBy === undefined ? {} : { finishedBy: c.finishedBy }),
      })),
      messages: state.messages.map((m) => ({ ...m })),
      platformEvents: {
        logs: state.eventLogs.map((l) => ({
          communityId: l.communityId,
          nextTs: l.nextTs,
          kept: l.events.length,
        })),
        callbackServers: state.callbackServers.map(({ secretKey: _secret, ...rest }) => rest),
        callbackDeliveries: state.callbackDeliveries.map((d) => ({ ...d })),
        longPollStrikes: longPoll.pending(),
        personActions: PERSON_ACTIONS,
      },
      stats: structuredClone(stats),
      faults,
      options,
    };
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator.local');
    const handle = async (): Promise<void> => {
      const method = /^\/method\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
      if (method !== undefined) {
        if (req.method !== 'GET' && req.method !== 'POST')
          return sendJson(res, 405, { error: 'use GET or POST' });
        return handleMethod(req, res, url, method);
      }
      if (url.pathname.startsWith('/__emulator/')) return handleControl(req, res, url.pathname);
      const lp = /^\/__lp\/(\d+)$/.exec(url.pathname)?.[1];
      if (lp !== undefined && req.method === 'GET')
        return longPoll.handle(req, res, url, Number(lp));
      return sendJson(res, 404, { error: `not found: ${url.pathname}` });
    };
    handle().catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof ControlError) sendJson(res, err.status, { error: err.message });
      else if (err instanceof BodyTooLarge) sendJson(res, 413, { error: err.message });
      else sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port ?? 0, args.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = args.host ?? '127.0.0.1';
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: baseUrl,
    port,
    state,
    get stats() {
      return stats;
    },
    get options() {
      return options;
    },
    get faults() {
      return faults;
    },
    addCommunity,
    setFaults,
    strikeNext,
    strikeLongPoll: (fault) => longPoll.strike(fault),
    strikeCallbackDuplicate: () => callbacks.strikeDuplicate(),
    callbacksIdle: () => callbacks.idle(),
    events: (communityId) => hub.log(communityId).events,
    setOptions,
    snapshot,
    reset,
    async close() {
      // Callback requests still queued are dropped, as a platform going away would drop them.
      callbacks.reset();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await persister?.flush();
    },
  };
}
