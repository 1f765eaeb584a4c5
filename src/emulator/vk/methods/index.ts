import { callsForceFinish, callsStart } from './calls';
import type { Handler } from './context';
import { getConversationMembers, getConversations, getConversationsById } from './conversations';
import { groupMethods } from './groups';
import { addChatUser, createChat, removeChatUser, setMemberRole } from './messages';
import { send } from './send';

/**
 * The VK methods the emulator serves, as functions of (state, caller, params), by name. Requests
 * look a method up here when they run, so a test may wrap one (to count or to interrupt it).
 */
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
  ...groupMethods,
};

export { PEER_CHAT_OFFSET, type CallContext, type Handler, type Params } from './context';
export { VkMethodError } from './errors';
