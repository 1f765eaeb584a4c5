import { createHash } from 'node:crypto';
import { ErrorType, TypedError } from '../contracts/errors';

/**
 * The one place that decides what a VK error means for us. Activities never look at VK codes:
 * they see `TypedError.type`, and Temporal's retry policy acts on it. `retryable` here must agree
 * with `nonRetryableErrorTypes` for the chosen type; the unit test checks that it does.
 */
export interface VkErrorClass {
  readonly type: ErrorType;
  readonly retryable: boolean;
}

const t = (type: ErrorType, retryable: boolean): VkErrorClass => ({ type, retryable });

export const vkErrorTable: ReadonlyMap<number, VkErrorClass> = new Map<number, VkErrorClass>([
  [1, t(ErrorType.MessengerUnavailable, true)], // unknown error: VK says it is safe to retry
  [3, t(ErrorType.MessengerBadRequest, false)], // unknown method: a bug on our side
  [5, t(ErrorType.MessengerAuth, false)], // token invalid, expired or revoked
  [6, t(ErrorType.MessengerRateLimited, true)], // over the per-second cap
  [7, t(ErrorType.MessengerForbidden, false)], // the token lacks a right
  [8, t(ErrorType.MessengerBadRequest, false)], // malformed request (e.g. no `v`)
  [9, t(ErrorType.MessengerRateLimited, true)], // flood control: retry, but only much later
  [10, t(ErrorType.MessengerUnavailable, true)], // internal server error
  [12, t(ErrorType.MessengerBadRequest, false)], // execute: our generated code did not compile
  [13, t(ErrorType.MessengerBadRequest, false)], // execute: runtime error (e.g. over 25 calls)
  [14, t(ErrorType.MessengerForbidden, false)], // captcha: a human must act
  [15, t(ErrorType.MessengerForbidden, false)], // access denied
  [18, t(ErrorType.MessengerNotFound, false)], // user deleted or banned
  [27, t(ErrorType.MessengerAuth, false)], // community token refused (or method not for groups)
  [28, t(ErrorType.MessengerAuth, false)], // application token refused
  [29, t(ErrorType.MessengerRateLimited, true)], // per-method quota, usually daily
  [30, t(ErrorType.MessengerForbidden, false)], // private profile
  [100, t(ErrorType.MessengerBadRequest, false)], // missing or invalid parameter
  [103, t(ErrorType.MessengerForbidden, false)], // out of limits (e.g. chat full)
  [104, t(ErrorType.MessengerNotFound, false)], // not found
  [113, t(ErrorType.MessengerBadRequest, false)], // invalid user id
  [203, t(ErrorType.MessengerForbidden, false)], // access to the community denied
  [900, t(ErrorType.MessengerForbidden, false)],
  [901, t(ErrorType.MessengerForbidden, false)],
  [902, t(ErrorType.MessengerForbidden, false)],
  [912, t(ErrorType.MessengerForbidden, false)],
  [914, t(ErrorType.MessengerBadRequest, false)], // message too long
  [917, t(ErrorType.MessengerForbidden, false)], // no access to the chat
  [919, t(ErrorType.MessengerForbidden, false)],
  [922, t(ErrorType.MessengerForbidden, false)], // we left the chat
  [925, t(ErrorType.MessengerForbidden, false)], // not an admin of the chat
  [927, t(ErrorType.MessengerNotFound, false)], // chat does not exist
  [931, t(ErrorType.MessengerForbidden, false)],
  [932, t(ErrorType.MessengerForbidden, false)],
  [935, t(ErrorType.MessengerNotFound, false)], // user not in the chat
  [936, t(ErrorType.MessengerNotFound, false)], // contact not found
  [939, t(ErrorType.MessengerForbidden, false)],
  [940, t(ErrorType.MessengerRateLimited, true)], // too many posts
  [945, t(ErrorType.MessengerNotFound, false)], // chat disabled
  [946, t(ErrorType.MessengerNotFound, false)], // chat not supported
  [947, t(ErrorType.MessengerForbidden, false)],
  [950, t(ErrorType.MessengerUnavailable, true)], // reply timed out
  [967, t(ErrorType.MessengerForbidden, false)], // not an employee of the organization
  [981, t(ErrorType.MessengerForbidden, false)], // the user's privacy settings
  [982, t(ErrorType.MessengerUnavailable, true)], // adding users temporarily unavailable
  [983, t(ErrorType.MessengerForbidden, false)],
  [984, t(ErrorType.MessengerForbidden, false)], // spam restriction
  [995, t(ErrorType.MessengerUnavailable, true)], // messenger degradation
  [1012, t(ErrorType.MessengerForbidden, false)],
  [1017, t(ErrorType.MessengerNotFound, false)], // chat deleted
  [1019, t(ErrorType.MessengerForbidden, false)],
  [1117, t(ErrorType.MessengerAuth, false)], // token expired
]);

/** Codes we have never seen are treated as our bug, not retried: a retry storm is worse. */
const unknownCode = t(ErrorType.MessengerBadRequest, false);

export function classifyVkError(code: number): VkErrorClass {
  return vkErrorTable.get(code) ?? unknownCode;
}

/** Flood control (9) is about actions of one kind over minutes, so an immediate retry only deepens it. */
const FLOOD_BACKOFF_MS = 60_000;
/** Per-second and per-method caps clear quickly; one window and a bit. */
const RATE_BACKOFF_MS = 1_200;

/** How long to wait before retrying a failed call, for the activity to use as `nextRetryDelay`. */
export function nextRetryDelayHint(code: number): number | undefined {
  if (code === 9) return FLOOD_BACKOFF_MS;
  if (code === 6 || code === 29 || code === 940) return RATE_BACKOFF_MS;
  return undefined;
}

const REDACTED = '[REDACTED]';

/** Removes every occurrence of each secret from a text; secrets shorter than 4 chars are ignored so we do not shred ordinary words. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** A stable, non-reversible name for a token, for maps and logs. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

export interface VkRequestParam {
  readonly key: string;
  readonly value: string;
}

/** Params that must never leave the client in an error, whatever VK echoed back. */
const secretKeys = new Set(['access_token', 'client_secret', 'password']);

export function safeRequestParams(
  params: readonly VkRequestParam[],
  secrets: readonly (string | undefined)[],
): VkRequestParam[] {
  return params
    .filter((p) => !secretKeys.has(p.key))
    .map((p) => ({ key: p.key, value: redact(p.value, secrets) }));
}

/** A VK API error (`{error: {...}}` or an `execute_errors` entry), typed by the table above. */
export class VkApiError extends TypedError {
  readonly code: number;
  readonly method: string;
  readonly vkMessage: string;
  readonly retryable: boolean;
  readonly retryDelayMs: number | undefined;
  readonly requestParams: readonly VkRequestParam[];

  constructor(args: {
    code: number;
    method: string;
    message: string;
    requestParams?: readonly VkRequestParam[];
    secrets: readonly (string | undefined)[];
  }) {
    const cls = classifyVkError(args.code);
    const vkMessage = redact(args.message, args.secrets);
    const requestParams = safeRequestParams(args.requestParams ?? [], args.secrets);
    super(cls.type, `VK ${args.method} failed with error ${args.code}: ${vkMessage}`, {
      code: args.code,
      method: args.method,
      requestParams,
    });
    this.name = 'VkApiError';
    this.code = args.code;
    this.method = args.method;
    this.vkMessage = vkMessage;
    this.retryable = cls.retryable;
    this.retryDelayMs = nextRetryDelayHint(args.code);
    this.requestParams = requestParams;
  }
}

/** The call never got a VK answer: network failure, HTTP 5xx, a reply that is not the VK envelope. */
export function transportError(
  type: ErrorType,
  method: string,
  message: string,
  secrets: readonly (string | undefined)[],
  details: Readonly<Record<string, unknown>> = {},
): TypedError {
  return new TypedError(type, redact(`VK ${method}: ${message}`, secrets), { method, ...details });
}
