/**
 * Error types, as strings. Activities turn them into `ApplicationFailure.create({ type, nonRetryable })`
 * so the workflow (and the Web UI) sees a stable name, and Temporal's retry policy decides what retries.
 */
export const ErrorType = {
  /** The community token was refused (VK 5, 27, 28): stop until the settings change. */
  MessengerAuth: 'MessengerAuth',
  /** The platform forbids the action (VK 7, 15, 917, 925, 203): retrying will not help. */
  MessengerForbidden: 'MessengerForbidden',
  /** A parameter was rejected (VK 100, 113): a bug or bad data on our side. */
  MessengerBadRequest: 'MessengerBadRequest',
  /** The chat or its member is gone (VK 927, 935, 936, 945, 946, 1017). */
  MessengerNotFound: 'MessengerNotFound',
  /** Too many requests or flood control (VK 6, 9, 29): retry after a back-off. */
  MessengerRateLimited: 'MessengerRateLimited',
  /** A transient failure (VK 1, 10, HTTP 5xx, network): retry. */
  MessengerUnavailable: 'MessengerUnavailable',
  /** The e-diary portal is down, slow or busy (HTTP 5xx, 408, 429, timeout, network): retry. */
  DiaryUnavailable: 'DiaryUnavailable',
  /** The portal refused the delivery (another 4xx: bad signature, bad body): retrying will not help. */
  DiaryRejected: 'DiaryRejected',
  /**
   * A long-poll answer that is none of `{ts, updates}` / `{failed: 1|2|3}` (a broken proxy, a
   * captive portal, a platform change): dropped, nothing applied; the listener asks again.
   */
  LongPollMalformed: 'LongPollMalformed',
  /** The proxy refused us (HTTP 407) or could not be reached. */
  ProxyFailure: 'ProxyFailure',
  /** Input failed validation. */
  InvalidInput: 'InvalidInput',
  /** A record the caller named does not exist. */
  NotFound: 'NotFound',
  /** School settings are missing or disabled. */
  NotConfigured: 'NotConfigured',
} as const;

export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Types a Temporal retry cannot fix: the activity fails at once. */
export const nonRetryableErrorTypes: readonly ErrorType[] = [
  ErrorType.MessengerAuth,
  ErrorType.MessengerForbidden,
  ErrorType.MessengerBadRequest,
  ErrorType.MessengerNotFound,
  ErrorType.DiaryRejected,
  ErrorType.InvalidInput,
  ErrorType.NotFound,
  ErrorType.NotConfigured,
];

/** An error that knows its type; raised below the activity boundary, converted at it. */
export class TypedError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'TypedError';
  }

  get nonRetryable(): boolean {
    return nonRetryableErrorTypes.includes(this.type);
  }
}
