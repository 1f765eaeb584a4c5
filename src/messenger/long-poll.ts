import { request } from 'undici';
import { ErrorType, TypedError } from '../contracts/errors';
import {
  longPollAnswerSchema,
  longPollServerSchema,
  rawPlatformEventSchema,
  type LongPollServer,
  type RawPlatformEvent,
} from '../contracts/platform-events';
import { CONNECT_FAILURES, errorCode, proxyBasic, proxyDispatcher, proxyUrl } from '../http/proxy';
import type { MessengerSettings } from './port';
import { limiterKey, sharedLimiter, type RateLimiter } from './rate-limiter';
import { redact, transportError } from './vk-errors';
import { readVkReply } from './vk-reply';

/**
 * The Bots Long Poll API client (V5, C3): `groups.getLongPollServer` with the community token,
 * then `GET {server}?act=a_check&key&ts&wait`, through the school's proxy (S2) like every other
 * request to the platform. One request per call, no retry loop: the caller's activity is retried
 * by Temporal, and `failed: 1/2/3` are answers the caller acts on, not errors.
 *
 * The LP `key` is a credential (anyone holding it reads the community's events): it must never be
 * returned into a workflow payload, a log line or an error. The caller keeps the server and key
 * inside the activity process and hands workflows the `ts` only; errors here are redacted of it.
 *
 * Like the VK transport it goes through src/http/proxy.ts: unreachable proxy → ProxyFailure, VK
 * or the LP server unreachable → MessengerUnavailable.
 */

export interface LongPollClientOptions {
  /** Replaces the process-wide per-token limiter used for `groups.getLongPollServer`. */
  readonly limiter?: RateLimiter;
  /** Timeout of `groups.getLongPollServer` and of connecting; a check waits `wait` + this at most. */
  readonly timeoutMs?: number;
}

export type LongPollCheck =
  | {
      readonly kind: 'updates';
      readonly ts: string;
      readonly events: readonly RawPlatformEvent[];
      /** Updates that were not events (no `type` or `event_id`): dropped, counted for the log. */
      readonly dropped: number;
    }
  /** failed 1: events between our ts and `ts` are gone; go on from `ts`, a periodic run covers the gap. */
  | { readonly kind: 'historyLost'; readonly ts: string }
  /** failed 2: the key expired; ask `getServer` for a new key and keep our ts. */
  | { readonly kind: 'keyExpired' }
  /** failed 3: the information is lost; ask `getServer` for a new key and ts. */
  | { readonly kind: 'infoLost' };

export interface LongPollCheckArgs {
  readonly server: string;
  readonly key: string;
  readonly ts: string;
  /** Seconds the server may hold the request, 1..90 (VK's cap). */
  readonly wait: number;
  readonly signal?: AbortSignal;
}

export interface LongPollClient {
  getServer(args: { groupId: number }): Promise<LongPollServer>;
  check(args: LongPollCheckArgs): Promise<LongPollCheck>;
  close(): Promise<void>;
}

const MAX_WAIT_SECONDS = 90;

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || errorCode(err) === 'ABORT_ERR');
}

/** Creates the long-poll client for one school's settings. */
export function createLongPollClient(
  settings: MessengerSettings,
  opts: LongPollClientOptions = {},
): LongPollClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const base = settings.baseUrl.replace(/\/+$/, '');
  const proxyName = settings.proxy ? proxyUrl(settings.proxy).host : undefined;
  const baseSecrets = [settings.token, settings.proxy?.password, proxyBasic(settings.proxy)];
  const limiter = opts.limiter ?? sharedLimiter(limiterKey(settings), settings.rateLimitPerSecond);
  const dispatcher = proxyDispatcher(settings.proxy, { connectTimeout: timeoutMs });

  function networkFailure(what: string, err: unknown, secrets: readonly (string | undefined)[]) {
    const message = err instanceof Error ? err.message : String(err);
    const code = errorCode(err);
    if (proxyName !== undefined) {
      const status = /Proxy response \((\d+)\)/.exec(message)?.[1];
      if (status !== undefined && Number(status) >= 500) {
        return transportError(
          ErrorType.MessengerUnavailable,
          what,
          `proxy ${proxyName} could not reach the platform (HTTP ${status})`,
          secrets,
          { proxy: proxyName, status: Number(status) },
        );
      }
      if (status !== undefined) {
        const hint = status === '407' ? ': check the proxy user name and password' : '';
        return transportError(
          ErrorType.ProxyFailure,
          what,
          `proxy ${proxyName} refused the tunnel with HTTP ${status}${hint}`,
          secrets,
          { proxy: proxyName, status: Number(status) },
        );
      }
      if (code !== undefined && CONNECT_FAILURES.has(code)) {
        return transportError(
          ErrorType.ProxyFailure,
          what,
          `cannot connect to proxy ${proxyName} (${code})`,
          secrets,
          { proxy: proxyName, cause: code },
        );
      }
    }
    return transportError(
      ErrorType.MessengerUnavailable,
      what,
      `network error: ${message}${code ? ` (${code})` : ''}`,
      secrets,
      { cause: code ?? 'unknown' },
    );
  }

  /** Sends one request; answers its status and body, or throws the typed network failure. */
  async function send(
    what: string,
    url: string,
    init: { method: 'GET' | 'POST'; body?: string; holdMs: number; signal?: AbortSignal },
    secrets: readonly (string | undefined)[],
  ): Promise<{ status: number; text: string }> {
    try {
      const res = await request(url, {
        method: init.method,
        dispatcher,
        headersTimeout: init.holdMs,
        bodyTimeout: init.holdMs,
        ...(init.body === undefined
          ? {}
          : {
              body: init.body,
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
            }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      });
      return { status: res.statusCode, text: await res.body.text() };
    } catch (err) {
      if (isAbort(err)) throw err;
      throw networkFailure(what, err, secrets);
    }
  }

  function httpFailure(what: string, status: number, secrets: readonly (string | undefined)[]) {
    if (status >= 500)
      return transportError(ErrorType.MessengerUnavailable, what, `HTTP ${status}`, secrets, {
        status,
      });
    if (status === 407)
      return transportError(ErrorType.ProxyFailure, what, 'proxy answered HTTP 407', secrets, {
        status,
      });
    if (status === 429)
      return transportError(ErrorType.MessengerRateLimited, what, 'HTTP 429', secrets, { status });
    return undefined;
  }

  return {
    async getServer({ groupId }) {
      const method = 'groups.getLongPollServer';
      const body = new URLSearchParams({
        group_id: String(groupId),
        v: settings.apiVersion,
        access_token: settings.token,
      });
      const answered = await limiter.acquire();
      let reply: { status: number; text: string };
      try {
        reply = await send(
          method,
          `${base}/method/${method}`,
          { method: 'POST', body: body.toString(), holdMs: timeoutMs },
          baseSecrets,
        );
      } finally {
        answered();
      }
      const failure = httpFailure(method, reply.status, baseSecrets);
      if (failure) throw failure;
      if (reply.status !== 200)
        throw transportError(
          ErrorType.MessengerBadRequest,
          method,
          `unexpected HTTP ${reply.status}: check the API base URL`,
          baseSecrets,
          { status: reply.status },
        );
      const ok = readVkReply(method, reply.text, baseSecrets);
      const server = longPollServerSchema.safeParse(ok.response);
      if (!server.success)
        throw transportError(
          ErrorType.MessengerUnavailable,
          method,
          'reply is not {response: {key, server, ts}}',
          baseSecrets,
        );
      return server.data;
    },

    async check({ server, key, ts, wait, signal }) {
      const what = 'long poll a_check';
      const secrets = [...baseSecrets, key];
      const seconds = Math.min(MAX_WAIT_SECONDS, Math.max(1, Math.floor(wait)));
      const url = new URL(server.includes('://') ? server : `https://${server}`);
      url.searchParams.set('act', 'a_check');
      url.searchParams.set('key', key);
      url.searchParams.set('ts', ts);
      url.searchParams.set('wait', String(seconds));
      const reply = await send(
        what,
        url.href,
        {
          method: 'GET',
          holdMs: seconds * 1000 + timeoutMs,
          ...(signal === undefined ? {} : { signal }),
        },
        secrets,
      );
      const failure = httpFailure(what, reply.status, secrets);
      if (failure) throw failure;
      const malformed = (why: string): TypedError =>
        new TypedError(ErrorType.LongPollMalformed, redact(`${what}: ${why}`, secrets), {
          status: reply.status,
        });
      if (reply.status !== 200) throw malformed(`unexpected HTTP ${reply.status}`);
      let json: unknown;
      try {
        json = JSON.parse(reply.text);
      } catch {
        throw malformed('answer is not JSON');
      }
      const answer = longPollAnswerSchema.safeParse(json);
      if (!answer.success) throw malformed('answer is none of {ts, updates} or {failed: 1|2|3}');
      const data = answer.data;
      if ('updates' in data) {
        const events: RawPlatformEvent[] = [];
        for (const update of data.updates) {
          const event = rawPlatformEventSchema.safeParse(update);
          if (event.success) events.push(event.data);
        }
        return {
          kind: 'updates',
          ts: data.ts,
          events,
          dropped: data.updates.length - events.length,
        };
      }
      switch (data.failed) {
        case 1:
          return { kind: 'historyLost', ts: data.ts };
        case 2:
          return { kind: 'keyExpired' };
        case 3:
          return { kind: 'infoLost' };
      }
    },

    async close() {
      await dispatcher.close();
    },
  };
}
