const baseMessages: Readonly<Record<number, string>> = {
  1: 'Unknown error occurred',
  3: 'Unknown method passed',
  5: 'User authorization failed',
  6: 'Too many requests per second',
  8: 'Invalid request',
  9: 'Flood control',
  10: 'Internal server error',
  12: 'Unable to compile code',
  13: 'Runtime error occurred during code invocation',
  15: 'Access denied',
  27: 'Group authorization failed',
  100: 'One of the parameters specified was missing or invalid',
  104: 'Not found',
  113: 'Invalid user id',
  914: 'Message is too long',
  917: "You don't have access to this chat",
  925: 'You are not admin of this chat',
  927: 'Chat does not exist',
  935: 'User not found in chat',
  936: 'Contact not found',
  945: 'Chat was disabled',
  1017: 'Chat was deleted',
};

/**
 * The error an emulated VK method answers with (`error_code`, `error_msg`): `error_msg` is the
 * schema's text, with a detail after a colon as VK writes it. Not the HTTP API's `ApiError`.
 */
export class VkMethodError extends Error {
  constructor(
    readonly code: number,
    detail?: string,
  ) {
    const base = baseMessages[code] ?? 'Unknown error occurred';
    super(detail === undefined ? base : `${base}: ${detail}`);
  }
}
