import type { VkValue } from '../vkscript';
import type { Handler } from './context';
import { VkMethodError } from './errors';
import { boolParam, intList, intParam, requiredInt } from './params';
import { chatByPeer, conversation, lastActivity, requireRead, self } from './rules';

/** The `messages.*` methods that read chats: members, conversations by ID, the conversation list. */

export const getConversationMembers: Handler = (ctx, params) => {
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

export const getConversationsById: Handler = (ctx, params) => {
  const peerIds = intList(params, 'peer_ids');
  if (peerIds === undefined) throw new VkMethodError(100, 'peer_ids is undefined');
  if (peerIds.length > 100) throw new VkMethodError(100, 'peer_ids is too long');
  const items: VkValue[] = [];
  for (const peerId of peerIds) {
    const chat = chatByPeer(ctx, peerId);
    requireRead(ctx, chat);
    items.push(conversation(ctx, chat));
  }
  return { count: items.length, items };
};

const FILTERS = new Set(['all', 'archive', 'important', 'sorted_chats', 'unanswered', 'unread']);

export const getConversations: Handler = (ctx, params) => {
  const offset = intParam(params, 'offset', { min: 0 }) ?? 0;
  const count = intParam(params, 'count', { min: 0, max: 200 }) ?? 20;
  const filter = params.filter ?? 'all';
  if (!FILTERS.has(filter)) throw new VkMethodError(100, 'filter is invalid');
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
