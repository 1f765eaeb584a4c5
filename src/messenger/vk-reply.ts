import type { z } from 'zod';
import { ErrorType } from '../contracts/errors';
import { VkApiError, transportError } from './vk-errors';
import { errorEnvelopeSchema, successEnvelopeSchema } from './vk-schemas';

/**
 * The body of a method's HTTP 200 reply, read the one way every VK client here reads it: the
 * `{error}` envelope becomes a `VkApiError` (classified by its code, secrets redacted), a
 * `{response}` envelope is returned, anything else is a transient transport failure.
 */
export function readVkReply(
  method: string,
  text: string,
  secrets: readonly (string | undefined)[],
): z.output<typeof successEnvelopeSchema> {
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
  if (!ok.success) {
    throw transportError(
      ErrorType.MessengerUnavailable,
      method,
      'reply is neither {response} nor {error}',
      secrets,
    );
  }
  return ok.data;
}
