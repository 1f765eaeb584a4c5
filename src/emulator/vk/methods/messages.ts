import type { EmuChat } from '../state';
import type { Handler } from './context';
import { VkMethodError } from './errors';
import { intList, intParam, requiredInt } from './params';
import {
  chatByPeer,
  checkUser,
  findChat,
  requireAdmin,
  requireGroupMethod,
  selfId,
  versionMinor,
} from './rules';

/** The `messages.*` methods that change a chat: create it, add and remove members, set roles. */

export const createChat: Handler = (ctx, params) => {
  const groupId = intParam(params, 'group_id', { min: 0 });
  if (groupId !== undefined && groupId !== 0 && groupId !== ctx.community.communityId) {
    throw new VkMethodError(100, 'group_id is invalid');
  }
  const title = params.title?.trim();
  if (!title) throw new VkMethodError(100, 'title is undefined');
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

export const addChatUser: Handler = (ctx, params) => {
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

export const removeChatUser: Handler = (ctx, params) => {
  const chat = findChat(ctx, requiredInt(params, 'chat_id', { min: 0, max: 100_000_000 }));
  const memberId = intParam(params, 'member_id') ?? intParam(params, 'user_id');
  if (memberId === undefined) throw new VkMethodError(100, 'member_id is undefined');
  const index = chat.members.findIndex((m) => m.memberId === memberId);
  // Leaving needs no rights; removing anyone else does.
  if (memberId !== selfId(ctx)) requireAdmin(ctx, chat);
  if (index < 0) throw new VkMethodError(935);
  if (chat.members[index]?.isOwner && memberId !== selfId(ctx))
    throw new VkMethodError(925, 'the owner cannot be removed');
  ctx.action();
  chat.members.splice(index, 1);
  ctx.events.chatAction(chat, selfId(ctx), { type: 'chat_kick_user', member_id: memberId });
  return 1;
};

export const setMemberRole: Handler = (ctx, params) => {
  requireGroupMethod(ctx.options.groupTokenCanSetRoles);
  const chat = chatByPeer(ctx, requiredInt(params, 'peer_id'));
  const memberId = intParam(params, 'member_id') ?? intParam(params, 'user_id');
  if (memberId === undefined) throw new VkMethodError(100, 'member_id is undefined');
  const role = params.role;
  if (role !== 'admin' && role !== 'member')
    throw new VkMethodError(100, 'role should be admin or member');
  requireAdmin(ctx, chat);
  const target = chat.members.find((m) => m.memberId === memberId);
  if (target === undefined) throw new VkMethodError(935);
  if (target.isOwner) throw new VkMethodError(925, "the owner's role cannot be changed");
  if (target.isAdmin !== (role === 'admin')) {
    ctx.action();
    target.isAdmin = role === 'admin';
  }
  return 1;
};
