import { isIPv4, isIPv6 } from 'node:net';
import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import type { proxySettingsSchema } from '../contracts/settings';
import { dottedPath } from '../contracts/zod-issues';
import { CONNECT_FAILURES, errorCode, proxyBasic, proxyDispatcher, proxyUrl } from '../http/proxy';
import { redact } from '../messenger/vk-errors';
import {
  DIARY_IDEMPOTENCY_HEADER,
  DIARY_SIGNATURE_HEADER,
  DIARY_TIMESTAMP_HEADER,
  diaryEventSchema,
  signDiaryBody,
  type DiaryEvent,
} from './events';

/** The school's proxy (S2), decrypted; the same shape the settings store keeps. */
export type ProxySettings = z.infer<typeof proxySettingsSchema>;

/** The e-diary port: one adapter per school's portal. No retries here, Temporal retries the activity. */
export interface DiaryDelivery {
  deliver(event: DiaryEvent): Promise<{ status: number; duplicate: boolean }>;
  close(): Promise<void>;
}

export interface WebhookDeliveryArgs {
  readonly url: string;
  readonly secret: string;
  readonly proxy: ProxySettings | null;
  readonly timeoutMs?: number;
  /** Milliseconds; the signature's timestamp. */
  readonly now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** A portal's acknowledgement is a few bytes; more is read no further. */
const MAX_REPLY_BYTES = 64 * 1024;
/** 408 and 429 say "not now", not "never". */
const RETRYABLE_4XX = new Set([408, 429]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/** As the other adapters read it, plus a timeout undici reports by name only. */
function failureCode(err: unknown): string | undefined {
  if (err instanceof Error && err.name === 'TimeoutError' && errorCode(err) === undefined) {
    return 'ETIMEDOUT';
  }
  return errorCode(err);
}

/** What the portal said, for a refusal's message: its `error` field, short, or nothing. */
function portalReason(text: string): string {
  try {
    const reason = (JSON.parse(text) as { error?: unknown }).error;
    return typeof reason === 'string' ? `: ${reason.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

async function readReply(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    chunks.push(buf);
    size += buf.length;
    if (size >= MAX_REPLY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_REPLY_BYTES);
}

function isDuplicateAck(text: string): boolean {
  try {
    return (JSON.parse(text) as { duplicate?: unknown }).duplicate === true;
  } catch {
    return false;
  }
}

/** Creates the push adapter: POSTs each event, signed, to the portal's webhook. */
export function createWebhookDelivery(args: WebhookDeliveryArgs): DiaryDelivery {
  const timeoutMs = args.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = args.now ?? Date.now;
  let target: URL;
  try {
    target = new URL(args.url);
  } catch {
    throw new TypedError(ErrorType.NotConfigured, 'the diary webhook URL is not a valid URL');
  }
  // Messages name the portal by host only: the URL's credentials and query may be secrets.
  const portal = target.host;
  const secrets = [
    args.secret,
    args.proxy?.password,
    proxyBasic(args.proxy),
    target.username,
    target.password,
    decodeURIComponent(target.username),
    decodeURIComponent(target.password),
    target.search.slice(1),
  ];
  const proxyName = args.proxy === null ? undefined : proxyUrl(args.proxy).host;
  const dispatcher = proxyDispatcher(args.proxy, {
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  let closing: Promise<void> | undefined;

  const fail = (type: ErrorType, message: string, details: Record<string, unknown>): TypedError =>
    new TypedError(type, redact(message, secrets), { portal, ...details });

  function transportFailure(err: unknown): TypedError {
    const code = failureCode(err);
    const text = err instanceof Error ? err.message : '';
    const proxyStatus = /Proxy response \((\d+)\)/.exec(text)?.[1];
    if (proxyName !== undefined && proxyStatus !== undefined) {
      const status = Number(proxyStatus);
      if (status >= 500) {
        const msg = `proxy ${proxyName} could not reach the portal (HTTP ${status})`;
        return fail(ErrorType.DiaryUnavailable, msg, { proxy: proxyName, status });
      }
      const hint = status === 407 ? ': check the proxy user name and password' : '';
      const msg = `proxy ${proxyName} refused the tunnel with HTTP ${status}${hint}`;
      return fail(ErrorType.ProxyFailure, msg, { proxy: proxyName, status });
    }
    if (code !== undefined && TIMEOUT_CODES.has(code)) {
      const msg = `portal did not answer within ${timeoutMs} ms`;
      return fail(ErrorType.DiaryUnavailable, msg, { cause: code });
    }
    if (proxyName !== undefined && code !== undefined && CONNECT_FAILURES.has(code)) {
      const msg = `cannot connect to proxy ${proxyName} (${code})`;
      return fail(ErrorType.ProxyFailure, msg, { proxy: proxyName, cause: code });
    }
    const msg = `cannot reach the portal ${portal} (${code ?? 'network error'})`;
    return fail(ErrorType.DiaryUnavailable, msg, { cause: code ?? 'unknown' });
  }

  function statusFailure(status: number, text: string): TypedError {
    const retryable = status >= 500 || RETRYABLE_4XX.has(status);
    const type = retryable ? ErrorType.DiaryUnavailable : ErrorType.DiaryRejected;
    const reason = retryable ? '' : portalReason(text);
    const redirect = status >= 300 && status < 400 ? ': set the URL it redirects to' : '';
    return fail(type, `portal answered ${status}${redirect}${reason}`, { status });
  }

  async function post(body: string, eventId: string): Promise<Dispatcher.ResponseData> {
    const timestamp = Math.floor(now() / 1000);
    try {
      return await request(target, {
        method: 'POST',
        dispatcher,
        headers: {
          'content-type': 'application/json',
          [DIARY_SIGNATURE_HEADER]: signDiaryBody({ secret: args.secret, timestamp, body }),
          [DIARY_TIMESTAMP_HEADER]: String(timestamp),
          [DIARY_IDEMPOTENCY_HEADER]: eventId,
        },
        body,
        // The dispatcher's timeouts are per phase; this bounds the whole exchange.
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw transportFailure(err);
    }
  }

  return {
    async deliver(event) {
      const parsed = diaryEventSchema.safeParse(event);
      if (!parsed.success) {
        const where = parsed.error.issues.map((i) => dottedPath(i.path, '(event)')).join(', ');
        throw new TypedError(ErrorType.InvalidInput, `diary event is malformed at ${where}`);
      }
      const res = await post(JSON.stringify(parsed.data), parsed.data.eventId);
      let text: string;
      try {
        text = await readReply(res.body);
      } catch (err) {
        throw transportFailure(err);
      }
      if (res.statusCode < 200 || res.statusCode >= 300) throw statusFailure(res.statusCode, text);
      return { status: res.statusCode, duplicate: isDuplicateAck(text) };
    },
    // Idempotent: an activity's cleanup and its owner's may both close it.
    close() {
      closing ??= dispatcher.close();
      return closing;
    },
  };
}

function ipv4Private(address: string): boolean {
  const [a = -1, b = -1] = address.split('.').map(Number);
  return (
    a === 10 ||
    a === 127 ||
    a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254)
  );
}

/** `::ffff:a.b.c.d` as the URL parser writes it (`::ffff:7f00:1`), back to dotted IPv4. */
function mappedIpv4(address: string): string | undefined {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (m === null) return undefined;
  const hi = parseInt(m[1] ?? '0', 16);
  const lo = parseInt(m[2] ?? '0', 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

function ipv6Private(address: string): boolean {
  const mapped = mappedIpv4(address);
  if (mapped !== undefined) return ipv4Private(mapped);
  if (address === '::1' || address === '::') return true;
  const first = parseInt(address.split(':')[0] || '0', 16);
  // fc00::/7 (unique local) and fe80::/10 (link-local).
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
}

/** A host that names this machine or a private network, as written (names are not resolved). */
function internalHost(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIPv4(host)) return ipv4Private(host);
  if (isIPv6(host)) return ipv6Private(host);
  return false;
}

/**
 * The bad-input rule for a school's webhook URL; null when it is fine. Outside dev mode the
 * push must be encrypted and must not be aimed at us or our network (the worker would otherwise
 * POST wherever an admin points it). A DNS name is taken as written; one resolving to a private
 * address is not caught here.
 */
export function webhookUrlProblem(url: string, opts: { devMode: boolean }): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'the webhook URL is not a valid absolute URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return 'the webhook URL must start with https://';
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return 'the webhook URL must not carry a user name or password: the signature authenticates us';
  }
  if (opts.devMode) return null;
  if (parsed.protocol !== 'https:') return 'the webhook URL must use https outside dev mode';
  if (internalHost(parsed.hostname)) {
    return 'the webhook URL points at a loopback, private or link-local address, which is refused outside dev mode';
  }
  return null;
}
