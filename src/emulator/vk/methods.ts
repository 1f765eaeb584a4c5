import { randomBytes, randomUUID } from 'node:crypto';
import type { CallEndSignalMode, EventHub } from './events';
import type { GroupServices } from './groups';
import type { EmuCall, EmuChat, EmuCommunity, EmuMember, EmuState } from './state';
import type { VkValue } from './vkscript';

/**
 * The VK methods the emulator serves, as pure functions of (state, caller, params). The HTTP layer
 * (`server.ts`) and `execute` both call them, so an inner call behaves exactly like a direct one.
 */

export const PEER_CHAT_OFFSET = 2_000_000_000;

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

/** A VK API error: `error_msg` is the schema's text, with a detail after a colon as VK writes it. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    detail?: string,
  ) {
    const base = baseMessages[code] ?? 'Unknown error occurred';
    super(detail === undefined ? base : `${base}: ${detail}`);
  }
}

export interface CallContext {
  readonly state: EmuState;
  readonly options: EmulatorOptions;
  readonly community: EmuCommunity;
  /** The request's `v`, e.g. `5.199`. */
  readonly version: string;
  readonly now: number;
  /** Records a write action for flood control (throws 9) and schedules persistence. */
  readonly action: () => void;
  /** The platform's events: what a change sends over long poll and to callback servers. */
  readonly events: EventHub;
  readonly groups: GroupServices;
}

export type Params = Readonly<Record<string, string>>;
export type Handler = (ctx: CallContext, params: Params) => VkValue;

// ---- parameter readers: VK answers 100 with the parameter's name ---------------------------------

export function intParam(
  params: Params,
  name: string,
  opts: { min?: number; max?: number } = {},
): number | undefined {
  const raw = params[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new ApiError(100, `${name} not integer`);
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value)) throw new ApiError(100, `${name} is out of range`);
  if (opts.min !== undefined && value < opts.min)
    throw new ApiError(100, `${name} should be greater or equal to ${opts.min}`);
  if (opts.max !== undefined && value > opts.max)
    throw new ApiError(100, `${name} should be less or equal to ${opts.max}`);
  return value;
}

export function requiredInt(
  params: Params,
  name: string,
  opts: { min?: number; max?: number } = {},
): number {
  const value = intParam(params, name, opts);
  if (value === undefined) throw new ApiError(100, `${name} is undefined`);
  return value;
}

function intList(params: Params, name: string): number[] | undefined {
  const raw = params[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((part) => {
    if (!/^-?\d+$/.test(part.trim()))
      throw new ApiError(100, `${name} should be a list of integers`);
    return Number(part.trim());
  });
}

export function boolParam(params: Params, name: string): boolean {
  const raw = params[name];
  return raw === '1' || raw === 'true';
}

// ---- platform rules -------------------------------------------------------------------------------

function selfId(ctx: CallContext): number {
  return -ctx.community.communityId;
}

function requireGroupMethod(allowed: boolean): void {
  if (!allowed) throw new ApiError(27, 'method is unavailable with group auth.');
}

function checkUser(ctx: CallContext, userId: number): void {
  if (userId <= 0) throw new ApiError(113);
  if (ctx.options.strictUsers && !ctx.state.users.includes(userId)) throw new ApiError(936);
}

function findChat(ctx: CallContext, chatId: number): EmuChat {
  const chat = ctx.state.chats.find(
    (c) => c.communityId === ctx.community.communityId && c.chatId === chatId,
  );
  if (chat === undefined) throw new ApiError(927);
  if (chat.deleted) throw new ApiError(1017);
  if (chat.disabled) throw new ApiError(945);
  return chat;
}

function chatByPeer(ctx: CallContext, peerId: number): EmuChat {
  if (peerId <= PEER_CHAT_OFFSET) throw new ApiError(100, 'peer_id is not a chat');
  return findChat(ctx, peerId - PEER_CHAT_OFFSET);
}

function self(ctx: CallContext, chat: EmuChat): EmuMember | undefined {
  return chat.members.find((m) => m.memberId === selfId(ctx));
}

/** Changes need admin rights: 917 when we are not in the chat at all, 925 when we are but not admin. */
function requireAdmin(ctx: CallContext, chat: EmuChat): void {
  const me = self(ctx, chat);
  if (me === undefined) throw new ApiError(917);
  if (!me.isAdmin) throw new ApiError(925);
}

function requireRead(ctx: CallContext, chat: EmuChat): void {
  const me = self(ctx, chat);
  if (me === undefined || (ctx.options.nonAdminReadForbidden && !me.isAdmin))
    throw new ApiError(917);
}

function versionMinor(version: string): number {
  return Number(/^5\.(\d+)/.exec(version)?.[1] ?? 0);
}

function conversation(ctx: CallContext, chat: EmuChat): VkValue {
  const me = self(ctx, chat);
  const isAdmin = me?.isAdmin ?? false;
  return {
    peer: { id: PEER_CHAT_OFFSET + chat.chatId, type: 'chat', local_id: chat.chatId },
    last_message_id: 0,
    last_conversation_message_id: chat.lastConversationMessageId,
    in_read: chat.lastConversationMessageId,
    out_read: chat.lastConversationMessageId,
    unread_count: 0,
    important: false,
    unanswered: false,
    version: chat.lastConversationMessageId + chat.members.length,
    can_write: { allowed: me !== undefined },
    chat_settings: {
      owner_id: chat.ownerId,
      title: chat.title,
      state: me === undefined ? 'out' : 'in',
      members_count: chat.members.length,
      admin_ids: chat.members.filter((m) => m.isAdmin).map((m) => m.memberId),
      active_ids: [],
      is_group_channel: false,
      acl: {
        can_change_info: isAdmin,
        can_change_invite_link: isAdmin,
        can_change_pin: isAdmin,
        can_invite: isAdmin,
        can_promote_users: isAdmin,
        can_see_invite_link: isAdmin,
        can_moderate: isAdmin,
        can_copy_chat: false,
        can_call: me !== undefined,
        can_use_mass_mentions: isAdmin,
      },
      permissions: {
        invite: 'owner_and_admins',
        change_info: 'owner_and_admins',
        change_pin: 'owner_and_admins',
        use_mass_mentions: 'owner_and_admins',
        see_invite_link: 'owner_and_admins',
        call: 'all',
        change_admins: 'owner_and_admins',
      },
    },
  };
}

function lastActivity(ctx: CallContext, chat: EmuChat): number {
  let last = chat.createdAt;
  for (const m of ctx.state.messages) {
    if (m.communityId === chat.communityId && m.chatId === chat.chatId && m.date > last)
      last = m.date;
  }
  return last;
}

// ---- methods ----------------------------------------------------------------------------------------

const createChat: Handler = (ctx, params) => {
  const groupId = intParam(params, 'group_id', { min: 0 });
  if (groupId !== undefined && groupId !== 0 && groupId !== ctx.community.communityId) {
    throw new ApiError(100, 'group_id is invalid');
  }
  const title = params.title?.trim();
  if (!title) throw new ApiError(100, 'title is undefined');
  const userIds = [...new Set(intList(params, 'user_ids') ?? [])];
  for (const id of userIds) checkUser(ctx, id);
  ctx.action();
  const joinDate = Math.floor(ctx.now / 1000);
  const chat: EmuChat = {
    communityId: ctx.community.communityId,
    chatId: ctx.community.nextChatId++,
    title,
    ownerId: selfId(ctx),
    createdAt: ctx.now,
    disabled: false,
    deleted: false,
    lastConversationMessageId: 0,
    members: [
      { memberId: selfId(ctx), invitedBy: selfId(ctx), joinDate, isAdmin: true, isOwner: true },
      ...userIds.map((id) => ({
        memberId: id,
        invitedBy: selfId(ctx),
        joinDate,
        isAdmin: false,
        isOwner: false,
      })),
    ],
  };
  ctx.state.chats.push(chat);
  const shape =
    ctx.options.createChatShape === 'auto'
      ? versionMinor(ctx.version) >= 199
        ? 'object'
        : 'number'
      : ctx.options.createChatShape;
  return shape === 'number' ? chat.chatId : { chat_id: chat.chatId, peer_ids: userIds };
};

const addChatUser: Handler = (ctx, params) => {
  requireGroupMethod(ctx.options.groupTokenCanAddMembers);
  const chat = findChat(ctx, requiredInt(params, 'chat_id', { min: 0, max: 100_000_000 }));
  const userId = requiredInt(params, 'user_id');
  checkUser(ctx, userId);
  requireAdmin(ctx, chat);
  // Adding someone already in the chat changes nothing; answering 1 keeps a retried batch harmless.
  if (chat.members.some((m) => m.memberId === userId)) return 1;
  ctx.action();
  chat.members.push({
    memberId: userId,
    invitedBy: selfId(ctx),
    joinDate: Math.floor(ctx.now / 1000),
    isAdmin: false,
    isOwner: false,
  });
  ctx.events.chatAction(chat, selfId(ctx), { type: 'chat_invite_user', member_id: userId });
  return 1;
};

const removeChatUser: Handler = (ctx, params) => {
  const chat = findChat(ctx, requiredInt(params, 'chat_id', { min: 0, max: 100_000_000 }));
  const memberId = intParam(params, 'member_id') ?? intParam(params, 'user_id');
  if (memberId === undefined) throw new ApiError(100, 'member_id is undefined');
  const index = chat.members.findIndex((m) => m.memberId === memberId);
  // Leaving needs no rights; removing anyone else does.
  if (memberId !== selfId(ctx)) requireAdmin(ctx, chat);
  if (index < 0) throw new ApiError(935);
  if (chat.members[index]?.isOwner && memberId !== selfId(ctx))
    throw new ApiError(925, 'the owner cannot be removed');
  ctx.action();
  chat.members.splice(index, 1);
  ctx.events.chatAction(chat, selfId(ctx), { type: 'chat_kick_user', member_id: memberId });
  return 1;
};

const getConversationMembers: Handler = (ctx, params) => {
  const chat = chatByPeer(ctx, requiredInt(params, 'peer_id'));
  requireRead(ctx, chat);
  const offset = intParam(params, 'offset', { min: 0 }) ?? 0;
  const count = intParam(params, 'count', { min: 0, max: 1000 }) ?? 20;
  const filter = intList(params, 'member_ids');
  const all =
    filter === undefined ? chat.members : chat.members.filter((m) => filter.includes(m.memberId));
  const items = all.slice(offset, offset + count).map((m) => {
    const item: Record<string, VkValue> = {
      member_id: m.memberId,
      invited_by: m.invitedBy,
      join_date: m.joinDate,
    };
    if (m.isAdmin) item.is_admin = true;
    if (m.isOwner) item.is_owner = true;
    if (!m.isOwner && self(ctx, chat)?.isAdmin) item.can_kick = true;
    return item;
  });
  const out: Record<string, VkValue> = {
    count: all.length,
    items,
    chat_restrictions: {
      admins_promote_users: false,
      only_admins_edit_info: true,
      only_admins_edit_pin: true,
      only_admins_invite: true,
      only_admins_kick: true,
    },
  };
  if (boolParam(params, 'extended')) {
    out.profiles = all
      .filter((m) => m.memberId > 0)
      .map((m) => ({ id: m.memberId, first_name: `User${m.memberId}`, last_name: '' }));
    out.groups = all
      .filter((m) => m.memberId < 0)
      .map((m) => ({ id: -m.memberId, name: `Community ${-m.memberId}`, type: 'group' }));
  }
  return out;
};

const getConversationsById: Handler = (ctx, params) => {
  const peerIds = intList(params, 'peer_ids');
  if (peerIds === undefined) throw new ApiError(100, 'peer_ids is undefined');
  if (peerIds.length > 100) throw new ApiError(100, 'peer_ids is too long');
  const items: VkValue[] = [];
  for (const peerId of peerIds) {
    const chat = chatByPeer(ctx, peerId);
    requireRead(ctx, chat);
    items.push(conversation(ctx, chat));
  }
  return { count: items.length, items };
};

const FILTERS = new Set(['all', 'archive', 'important', 'sorted_chats', 'unanswered', 'unread']);

const getConversations: Handler = (ctx, params) => {
  const offset = intParam(params, 'offset', { min: 0 }) ?? 0;
  const count = intParam(params, 'count', { min: 0, max: 200 }) ?? 20;
  const filter = params.filter ?? 'all';
  if (!FILTERS.has(filter)) throw new ApiError(100, 'filter is invalid');
  // The bot sends only and archives nothing, so only `all` and `sorted_chats` list anything.
  const visible =
    filter === 'all' || filter === 'sorted_chats'
      ? ctx.state.chats.filter((c) => {
          if (c.communityId !== ctx.community.communityId || c.deleted) return false;
          const me = self(ctx, c);
          return me !== undefined && (me.isAdmin || !ctx.options.nonAdminReadForbidden);
        })
      : [];
  const sorted = visible
    .map((c) => ({ c, at: lastActivity(ctx, c) }))
    .sort((a, b) => b.at - a.at || b.c.chatId - a.c.chatId)
    .map(({ c }) => c);
  return {
    count: sorted.length,
    items: sorted
      .slice(offset, offset + count)
      .map((c) => ({ conversation: conversation(ctx, c) })),
  };
};

const setMemberRole: Handler = (ctx, params) => {
  requireGroupMethod(ctx.options.groupTokenCanSetRoles);
  const chat = chatByPeer(ctx, requiredInt(params, 'peer_id'));
  const memberId = intParam(params, 'member_id') ?? intParam(params, 'user_id');
  if (memberId === undefined) throw new ApiError(100, 'member_id is undefined');
  const role = params.role;
  if (role !== 'admin' && role !== 'member')
    throw new ApiError(100, 'role should be admin or member');
  requireAdmin(ctx, chat);
  const target = chat.members.find((m) => m.memberId === memberId);
  if (target === undefined) throw new ApiError(935);
  if (target.isOwner) throw new ApiError(925, "the owner's role cannot be changed");
  if (target.isAdmin !== (role === 'admin')) {
    ctx.action();
    target.isAdmin = role === 'admin';
  }
  return 1;
};

const MAX_MESSAGE = 9000;

const send: Handler = (ctx, params) => {
  const peerIds = intList(params, 'peer_ids');
  const single =
    intParam(params, 'peer_id') ??
    (intParam(params, 'chat_id') === undefined
      ? undefined
      : PEER_CHAT_OFFSET + (intParam(params, 'chat_id') ?? 0));
  if (peerIds === undefined && single === undefined) {
    throw new ApiError(
      100,
      'you should specify peer_id, user_id, domain, chat_id or user_ids param',
    );
  }
  if (peerIds !== undefined && peerIds.length > 100)
    throw new ApiError(100, 'peer_ids is too long');
  const randomId = params.random_id?.trim();
  if (randomId === undefined || randomId === '')
    throw new ApiError(100, 'random_id is a required parameter');
  if (!/^-?\d+$/.test(randomId)) throw new ApiError(100, 'random_id not integer');
  const text = params.message ?? '';
  if (text === '' && !params.attachment) throw new ApiError(100, 'message is empty or invalid');
  if (text.length > MAX_MESSAGE) throw new ApiError(914);

  const sender = ctx.community.communityId;
  // random_id de-duplicates per sender over the whole history; 0 turns it off.
  const earlier =
    randomId === '0'
      ? []
      : ctx.state.messages.filter((m) => m.communityId === sender && m.randomId === randomId);

  const post = (peerId: number): { messageId: number; cmid: number } => {
    const previous =
      earlier.find((m) => m.peerId === peerId) ?? (peerIds === undefined ? earlier[0] : undefined);
    if (previous !== undefined)
      return { messageId: previous.id, cmid: previous.conversationMessageId };
    const chat = chatByPeer(ctx, peerId);
    if (self(ctx, chat) === undefined) throw new ApiError(917);
    ctx.action();
    const message = {
      id: ctx.state.nextMessageId++,
      communityId: sender,
      peerId,
      chatId: chat.chatId,
      conversationMessageId: ++chat.lastConversationMessageId,
      fromId: selfId(ctx),
      randomId,
      text,
      date: ctx.now,
      ...callOf(ctx, text),
    };
    ctx.state.messages.push(message);
    ctx.events.posted(chat, message);
    return { messageId: message.id, cmid: message.conversationMessageId };
  };

  if (peerIds === undefined) {
    const { messageId } = post(single ?? 0);
    return ctx.options.communityChatMessageIdZero ? 0 : messageId;
  }
  return peerIds.map((peerId) => {
    try {
      const { messageId, cmid } = post(peerId);
      return { peer_id: peerId, message_id: messageId, conversation_message_id: cmid };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return { peer_id: peerId, error: { code: err.code, description: err.message } };
    }
  });
};

/** The running call whose join link (or bare token) a message carries: that message is the call's. */
function callOf(ctx: CallContext, text: string): { callId?: string } {
  const call = ctx.state.calls.find(
    (c) =>
      c.communityId === ctx.community.communityId &&
      c.status === 'active' &&
      (text.includes(c.joinLink) || text.includes(c.joinToken)),
  );
  return call === undefined ? {} : { callId: call.callId };
}

const CALL_ID_LENGTH = 36;

const callsStart: Handler = (ctx, params) => {
  requireGroupMethod(ctx.options.groupTokenCanStartCalls);
  const groupId = intParam(params, 'group_id', { min: 0 });
  if (groupId !== undefined && groupId !== 0 && groupId !== ctx.community.communityId) {
    throw new ApiError(100, 'group_id is invalid');
  }
  ctx.action();
  const joinToken = randomBytes(24).toString('base64url');
  const call: EmuCall = {
    callId: randomUUID(),
    communityId: ctx.community.communityId,
    joinToken,
    joinLink: `https://vk.com/call/join/${joinToken}`,
    okJoinLink: `https://ok.ru/videochat/join/${joinToken}`,
    status: 'active',
    startedAt: ctx.now,
  };
  ctx.state.calls.push(call);
  return {
    call_id: call.callId,
    join_link: ctx.options.joinLinkShape === 'url' ? call.joinLink : joinToken,
    ok_join_link: call.okJoinLink,
  };
};

const callsForceFinish: Handler = (ctx, params) => {
  const callId = params.call_id;
  if (callId === undefined || callId === '') throw new ApiError(100, 'call_id is undefined');
  if (callId.length !== CALL_ID_LENGTH)
    throw new ApiError(100, `call_id should be ${CALL_ID_LENGTH} characters`);
  const call = ctx.state.calls.find(
    (c) => c.communityId === ctx.community.communityId && c.callId === callId,
  );
  // The platform has no documented "call gone" code; 104 (not found) stands in for it.
  if (call === undefined || call.status !== 'active')
    throw new ApiError(104, 'call not found or already finished');
  ctx.action();
  call.status = 'finished';
  call.finishedAt = ctx.now;
  call.finishedBy = 'api';
  ctx.events.callEnded(call);
  return 1;
};

export const methods: Readonly<Record<string, Handler>> = {
  'messages.createChat': createChat,
  'messages.addChatUser': addChatUser,
  'messages.removeChatUser': removeChatUser,
  'messages.getConversationMembers': getConversationMembers,
  'messages.getConversationsById': getConversationsById,
  'messages.getConversations': getConversations,
  'messages.setMemberRole': setMemberRole,
  'messages.send': send,
  'calls.start': callsStart,
  'calls.forceFinish': callsForceFinish,
};
