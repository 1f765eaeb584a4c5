import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { issueLines } from '../contracts/zod-issues';
import { CONNECT_FAILURES, errorCode, proxyBasic, proxyDispatcher, proxyUrl } from '../http/proxy';
import { wireValue } from './execute-code';
import type { MessengerSettings } from './port';
import { limiterKey, sharedLimiter, type RateLimiter } from './rate-limiter';
import { transportError } from './vk-errors';
import { readVkReply } from './vk-reply';

/**
 * The VK API's transport: one HTTP request per call through undici (the school's proxy, S2),
 * paced by the per-token rate limit, with every failure typed and free of secrets.
 */

export interface VkTransportOptions {
  /** Replaces the process-wide per-token limiter (tests use a private one). */
  readonly limiter?: RateLimiter;
  /** Extra time each rate-limit slot is held, to absorb network jitter; see `SlidingWindowOptions`. */
  readonly rateMarginMs?: number;
  readonly timeoutMs?: number;
}

export type Params = Readonly<Record<string, string | number | boolean | readonly number[]>>;

export interface Reply {
  readonly response: unknown;
  readonly executeErrors: readonly { method: string; error_code: number; error_msg: string }[];
}

export interface VkTransport {
  /** One HTTP request: no retries here, Temporal retries the activity. */
  readonly call: (method: string, params: Params) => Promise<Reply>;
  /** A reply's value in `schema`'s shape, or a typed failure naming where it is not. */
  readonly parse: <S extends z.ZodType>(method: string, schema: S, value: unknown) => z.output<S>;
  /** What no error may contain: the token, the proxy password and its Basic credential. */
  readonly secrets: readonly (string | undefined)[];
  readonly close: () => Promise<void>;
}

function buildDispatcher(settings: MessengerSettings, timeoutMs: number): Dispatcher {
  return proxyDispatcher(settings.proxy, {
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
}

/** What one school's requests share. */
interface Ctx {
  readonly settings: MessengerSettings;
  readonly base: string;
  readonly limiter: RateLimiter;
  readonly dispatcher: Dispatcher;
  readonly proxyName: string | undefined;
  readonly secrets: readonly (string | undefined)[];
}

export function createVkTransport(
  settings: MessengerSettings,
  opts: VkTransportOptions = {},
): VkTransport {
  const { proxy } = settings;
  // The Basic credential is as secret as the password it encodes.
  const secrets = [settings.token, proxy?.password, proxyBasic(proxy)];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const base = settings.baseUrl.replace(/\/+$/, '');
  const proxyName = settings.proxy ? proxyUrl(settings.proxy).host : undefined;
  const limiter =
    opts.limiter ??
    sharedLimiter(
      limiterKey(settings),
      settings.rateLimitPerSecond,
      opts.rateMarginMs === undefined ? {} : { marginMs: opts.rateMarginMs },
    );
  const dispatcher = buildDispatcher(settings, timeoutMs);

  const ctx: Ctx = { settings, base, limiter, dispatcher, proxyName, secrets };
  return {
    call: (method, params) => call(ctx, method, params),
    parse: (method, schema, value) => parse(secrets, method, schema, value),
    secrets,
    close: () => dispatcher.close(),
  };
}

function networkFailure(ctx: Ctx, method: string, err: unknown): TypedError {
  const { proxyName, secrets } = ctx;
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
async function call(ctx: Ctx, method: string, params: Params): Promise<Reply> {
  const { settings, limiter, dispatcher, base, proxyName, secrets } = ctx;
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
    throw networkFailure(ctx, method, err);
  } finally {
    answered();
  }

  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw networkFailure(ctx, method, err);
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

  const ok = readVkReply(method, text, secrets);
  return { response: ok.response, executeErrors: ok.execute_errors ?? [] };
}

function parse<S extends z.ZodType>(
  secrets: Ctx['secrets'],
  method: string,
  schema: S,
  value: unknown,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const where = issueLines(parsed.error).join('; ');
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
