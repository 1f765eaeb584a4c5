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

export interface RoleOp extends MemberOp {
  readonly role: ChatRole;
}

/** What happened to one item of a batch; `error` carries the typed failure of that item only. */
export type OpResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: number; readonly type: string; readonly message: string };

export interface StartedCall {
  readonly callId: string;
  readonly joinLink: string;
}

export interface Messenger {
  createChat(args: { title: string; userIds: readonly number[] }): Promise<{ chatId: number }>;
  /** Every chat the community sees, with titles: used to adopt a chat a lost attempt created. */
  listChats(): Promise<ChatSummary[]>;
  /** Members of many chats, batched with `execute`. A missing chat maps to `null`. */
  getMembers(args: { chatIds: readonly number[] }): Promise<Map<number, ChatMember[] | null>>;
  addMembers(args: { ops: readonly MemberOp[] }): Promise<OpResult[]>;
  removeMembers(args: { ops: readonly MemberOp[] }): Promise<OpResult[]>;
  setRoles(args: { ops: readonly RoleOp[] }): Promise<OpResult[]>;
  /** Posts a message; `randomId` makes a retried send land once. Returns the message ID. */
  send(args: { chatId: number; message: string; randomId: number }): Promise<{ messageId: number }>;
  startCall(): Promise<StartedCall>;
  /** Ends a call; `alreadyEnded` when the platform says it is gone (V5: ended in Sferum). */
  finishCall(args: { callId: string }): Promise<{ alreadyEnded: boolean }>;
  close(): Promise<void>;
}

/** How to reach one school's community; secrets arrive decrypted, only inside activities. */
export interface MessengerSettings {
  readonly communityId: number;
  readonly token: string;
  readonly baseUrl: string;
  readonly apiVersion: string;
  readonly rateLimitPerSecond: number;
  readonly proxy?: {
    readonly server: string;
    readonly port: number;
    readonly username?: string;
    readonly password?: string;
    readonly auth: boolean;
  };
}
