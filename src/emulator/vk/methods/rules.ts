import type { EmuChat, EmuMember } from '../state';
import type { VkValue } from '../vkscript';
import { PEER_CHAT_OFFSET, type CallContext } from './context';
import { VkMethodError } from './errors';

/** The platform's rules the methods share: who may do what in which chat, and how a chat reads. */

export function selfId(ctx: CallContext): number {
  return -ctx.community.communityId;
}

export function requireGroupMethod(allowed: boolean): void {
  if (!allowed) throw new VkMethodError(27, 'method is unavailable with group auth.');
}

export function checkUser(ctx: CallContext, userId: number): void {
  if (userId <= 0) throw new VkMethodError(113);
  if (ctx.options.strictUsers && !ctx.state.users.includes(userId)) throw new VkMethodError(936);
}

export function findChat(ctx: CallContext, chatId: number): EmuChat {
  const chat = ctx.state.chats.find(
    (c) => c.communityId === ctx.community.communityId && c.chatId === chatId,
  );
  if (chat === undefined) throw new VkMethodError(927);
  if (chat.deleted) throw new VkMethodError(1017);
  if (chat.disabled) throw new VkMethodError(945);
  return chat;
}

export function chatByPeer(ctx: CallContext, peerId: number): EmuChat {
  if (peerId <= PEER_CHAT_OFFSET) throw new VkMethodError(100, 'peer_id is not a chat');
  return findChat(ctx, peerId - PEER_CHAT_OFFSET);
}

export function self(ctx: CallContext, chat: EmuChat): EmuMember | undefined {
  return chat.members.find((m) => m.memberId === selfId(ctx));
}

/** Changes need admin rights: 917 when we are not in the chat at all, 925 when we are but not admin. */
export function requireAdmin(ctx: CallContext, chat: EmuChat): void {
  const me = self(ctx, chat);
  if (me === undefined) throw new VkMethodError(917);
  if (!me.isAdmin) throw new VkMethodError(925);
}

export function requireRead(ctx: CallContext, chat: EmuChat): void {
  const me = self(ctx, chat);
  if (me === undefined || (ctx.options.nonAdminReadForbidden && !me.isAdmin))
    throw new VkMethodError(917);
}

export function versionMinor(version: string): number {
  return Number(/^5\.(\d+)/.exec(version)?.[1] ?? 0);
}

export function conversation(ctx: CallContext, chat: EmuChat): VkValue {
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

export function lastActivity(ctx: CallContext, chat: EmuChat): number {
  let last = chat.createdAt;
  for (const m of ctx.state.messages) {
    if (m.communityId === chat.communityId && m.chatId === chat.chatId && m.date > last)
      last = m.date;
  }
  return last;
}
