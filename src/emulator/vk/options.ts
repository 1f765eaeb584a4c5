import type { CallEndSignalMode } from './events';

/** Behaviour switches, mostly for what the reference marks UNCONFIRMED. Defaults follow the manual. */
export interface EmulatorOptions {
  /** Requests per second per token (VK: 20 for a community). */
  readonly rateLimitPerSecond: number;
  /** Write actions per community per minute before error 9; 0 turns flood control off. */
  readonly floodActionsPerMinute: number;
  /** addChatUser is user-only in the schema; the manual has the school community add members. Off → 27. */
  readonly groupTokenCanAddMembers: boolean;
  /** calls.* are user-only in the schema; the manual has the community start lessons. Off → 27. */
  readonly groupTokenCanStartCalls: boolean;
  /** setMemberRole is undocumented; the manual grants admin rights automatically. Off → 27. */
  readonly groupTokenCanSetRoles: boolean;
  /** A community that is not admin of a chat gets 917 on reads and does not see it in getConversations. */
  readonly nonAdminReadForbidden: boolean;
  /** `auto`: `{chat_id, peer_ids}` from v5.199, a bare number below. */
  readonly createChatShape: 'auto' | 'object' | 'number';
  /** calls.start's join_link as a full `https://vk.com/call/join/<token>` URL or the bare token. */
  readonly joinLinkShape: 'url' | 'token';
  /** messages.send with `peer_id` returns 0 for a community posting in a chat (a maintainer's report). */
  readonly communityChatMessageIdZero: boolean;
  /** Only users registered through `/__emulator/users` exist; others get 936. */
  readonly strictUsers: boolean;
  /**
   * What a chat gets when a call ends (both UNCONFIRMED): a message with a `call` attachment, an
   * edit of the call's message without `group_call_in_progress`, or both. Env
   * `VK_EMULATOR_CALL_END_SIGNAL` sets the default.
   */
  readonly callEndSignal: CallEndSignalMode;
  /** Events per community long poll can still hand out; older ts get `failed: 1`. */
  readonly longPollHistory: number;
  /** How long a long-poll key works; then `failed: 2` (VK does not publish its lifetime). */
  readonly longPollKeyTtlMs: number;
  /** Requests per event to a callback server that does not answer "ok" (UNCONFIRMED: VK says "a few"). */
  readonly callbackAttempts: number;
  /** Pause before the n-th retry: n times this. */
  readonly callbackRetryDelayMs: number;
}

export const defaultEmulatorOptions: EmulatorOptions = {
  rateLimitPerSecond: 20,
  floodActionsPerMinute: 0,
  groupTokenCanAddMembers: true,
  groupTokenCanStartCalls: true,
  groupTokenCanSetRoles: true,
  nonAdminReadForbidden: true,
  createChatShape: 'auto',
  joinLinkShape: 'url',
  communityChatMessageIdZero: false,
  strictUsers: false,
  callEndSignal: 'both',
  longPollHistory: 1000,
  longPollKeyTtlMs: 3_600_000,
  callbackAttempts: 5,
  callbackRetryDelayMs: 1000,
};
