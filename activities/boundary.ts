import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { TypedError } from '../src/contracts/errors';
import { TransientOpsError } from '../src/messenger/op-failures';
import { VkApiError } from '../src/messenger/vk-errors';

/**
 * The activity boundary: typed errors become `ApplicationFailure`s with their type string and
 * retryability, so Temporal's retry policy is the only retry loop. Messages come from our own
 * typed errors, which never carry secrets (the VK client redacts the token and proxy password from
 * everything it raises); any other error keeps its class name as the type and its message, which
 * comes from MongoDB or validation and names fields, not values.
 */
export function toFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof VkApiError) {
    return ApplicationFailure.create({
      type: error.type,
      message: error.message,
      nonRetryable: !error.retryable,
      details: [{ vkErrorCode: error.code, method: error.method }],
      ...(error.retryDelayMs === undefined ? {} : { nextRetryDelay: error.retryDelayMs }),
    });
  }
  if (error instanceof TypedError) {
    const delay = error instanceof TransientOpsError ? error.retryDelayMs : undefined;
    return ApplicationFailure.create({
      type: error.type,
      message: error.message,
      nonRetryable: error.nonRetryable,
      ...(delay === undefined ? {} : { nextRetryDelay: delay }),
    });
  }
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return ApplicationFailure.create({ type: name, message, nonRetryable: false });
}

/** Wraps every function of an activity object with the boundary. */
export function withBoundary<T extends Record<string, (arg: never) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped: Record<string, (arg: never) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (arg: never) => {
      try {
        return await fn(arg);
      } catch (error) {
        // A cancellation the workflow asked for is reported as such, not as a failure to retry.
        if (error instanceof CancelledFailure) throw error;
        throw toFailure(error);
      }
    };
  }
  return wrapped as T;
}
