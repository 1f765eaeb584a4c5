/**
 * The platform port: everything the activities do on VK Sferum. The VK API adapter
 * (`vk-client.ts`) implements it; tests run it against the emulator.
 *
 * Chat IDs are the community-local `chat_id`; `peer_id = 2000000000 + chat_id`.
 * Batch operations report per-item outcomes so one refused member does not fail the rest.
 */

export const PEER_CHAT_OFFSET = 2_000_000_000;

export type ChatRole = 'admin' | 'member';

export interface ChatMember {
  readonly memberId: number;
  readonly isAdmin: boolean;
  readonly isOwner: boolean;
}

export interface ChatSummary {
  readonly chatId: number;
  readonly title: string;
  readonly membersCount: number;
}

export interface MemberOp {
  readonly chatId: number;
  readonly userId: number;
}

/** One item of a batch failed: its VK code (0 when its whole request failed) and typed failure. */
export interface OpFailure {
  readonly ok: false;
  readonly code: number;
  readonly type: string;
  readonly message: string;
}

/** What happened to one item of a batch; a failure is that item's only. */
export type OpResult = { readonly ok: true } | OpFailure;

/** An item of a batch that answers with a value. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | OpFailure;

/** A chat `messages.createChat` made, and whom it added when the reply says so (`null`: it does not). */
export interface CreatedChat {
  readonly chatId: number;
  readonly added: readonly number[] | null;
}

/** Calls a `then` may return: those that depend on the outcome it was given. */
export type FollowUp = readonly BatchCall[] | undefined;

/**
 * One platform call of `run`, with what to do with its outcome. `then` runs as soon as the request
 * that carried the call answers, and returns the calls that depend on it (the admin rights in a chat
 * just created, the writes a read decided); they join the batches still to be sent.
 */
export type BatchCall =
  | {
      readonly kind: 'create';
      readonly title: string;
      readonly userIds: readonly number[];
      readonly then: (outcome: Outcome<CreatedChat>) => FollowUp;
    }
  | {
      /** Every member of the chat (paged inside `run`); `null` when the chat is gone. */
      readonly kind: 'members';
      readonly chatId: number;
      readonly then: (outcome: Outcome<readonly ChatMember[] | null>) => FollowUp;
    }
  | {
      readonly kind: 'add' | 'remove';
      readonly chatId: number;
      readonly userId: number;
      readonly then: (outcome: OpResult) => FollowUp;
    }
  | {
      readonly kind: 'role';
      readonly chatId: number;
      readonly userId: number;
      readonly role: ChatRole;
      readonly then: (outcome: OpResult) => FollowUp;
    };

export interface StartedCall {
  readonly callId: string;
  readonly joinLink: string;
}

export interface Messenger {
  createChat(args: { title: string; userIds: readonly number[] }): Promise<{ chatId: number }>;
  /** Every chat the community sees, with titles: used to adopt a chat a lost attempt created. */
  listChats(): Promise<ChatSummary[]>;
  /** Adds members directly (tools and tests; the sync uses `run`): one result per op, in order. */
  addMembers(args: { ops: readonly MemberOp[] }): Promise<OpResult[]>;
  /** Removes members directly, as `addMembers` adds them. */
  removeMembers(args: { ops: readonly MemberOp[] }): Promise<OpResult[]>;
  /**
   * Runs calls of any kind, and the calls their outcomes lead to, packed 25 to an `execute`; a
   * request goes out short only when nothing in flight could still add to it. A request that
   * fails as a whole for a transient reason fails its calls (each `then` sees it); any other
   * failure (a refused token, a proxy) rejects once the requests in flight have answered.
   */
  run(args: { calls: readonly BatchCall[] }): Promise<void>;
  /** messages.send: posts a message; `randomId` makes a retried send land once. Returns its ID. */
  messagesSend(args: {
    chatId: number;
    message: string;
    randomId: number;
  }): Promise<{ messageId: number }>;
  /** calls.start: opens a call of the community; its ID and join link. */
  callsStart(): Promise<StartedCall>;
  /** calls.forceFinish: ends a call; `alreadyEnded` when it is gone (V5: ended in Sferum). */
  callsForceFinish(args: { callId: string }): Promise<{ alreadyEnded: boolean }>;
  close(): Promise<void>;
}

export type { MessengerSettings, SchoolProxy } from '../contracts/settings';
