import { ErrorType, TypedError } from '../contracts/errors';
import { nextRetryDelayHint } from './vk-errors';

/** One failed platform call of a batch: its VK code (0 when its whole request failed) and typed failure. */
export interface FailedOp {
  readonly code: number;
  readonly type: string;
  readonly message: string;
}

/** Distinct failures named in the message; the rest are counted. */
const NAMED_FAILURES = 3;

/**
 * Raised when some of an activity's platform calls failed for a reason a retry may get past, after
 * the progress is saved. Temporal keeps only the last failure of a retried activity, and that is
 * all the audit can show of an outage, so the message names what failed (VK error 9, HTTP 502, a
 * dropped connection) with counts, not just that something did.
 */
export class TransientOpsError extends TypedError {
  /** Flood control asks for minutes, the per-second limit for a second: Temporal waits this long. */
  readonly retryDelayMs: number | undefined;

  constructor(what: string, failures: readonly FailedOp[]) {
    const counts = new Map<string, number>();
    for (const f of failures) {
      const first = f.message.split('\n', 1)[0] ?? '';
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    const named = [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, NAMED_FAILURES)
      .map(([message, n]) => (n > 1 ? `${message} ×${n}` : message));
    const others = counts.size - named.length;
    const causes = others > 0 ? [...named, `${others} other failures`] : named;
    super(
      failures.some((f) => f.type === ErrorType.MessengerRateLimited)
        ? ErrorType.MessengerRateLimited
        : ErrorType.MessengerUnavailable,
      `${what}: ${failures.length} operation${failures.length === 1 ? '' : 's'} failed transiently (${causes.join('; ')}); retrying the rest`,
    );
    this.name = 'TransientOpsError';
    const delays = failures.flatMap((f) => {
      const hint = f.code > 0 ? nextRetryDelayHint(f.code) : undefined;
      return hint === undefined ? [] : [hint];
    });
    this.retryDelayMs = delays.length > 0 ? Math.max(...delays) : undefined;
  }
}
