import { PEER_CHAT_OFFSET, type CallContext, type Handler } from './context';
import { VkMethodError } from './errors';
import { intList, intParam } from './params';
import { chatByPeer, self, selfId } from './rules';

/** `messages.send`: one peer or many, de-duplicated by `random_id`; a join link ties it to its call. */

const MAX_MESSAGE = 9000;

export const send: Handler = (ctx, params) => {
  const peerIds = intList(params, 'peer_ids');
  const single =
    intParam(params, 'peer_id') ??
    (intParam(params, 'chat_id') === undefined
      ? undefined
      : PEER_CHAT_OFFSET + (intParam(params, 'chat_id') ?? 0));
  if (peerIds === undefined && single === undefined) {
    throw new VkMethodError(
      100,
      'you should specify peer_id, user_id, domain, chat_id or user_ids param',
    );
  }
  if (peerIds !== undefined && peerIds.length > 100)
    throw new VkMethodError(100, 'peer_ids is too long');
  const randomId = params.random_id?.trim();
  if (randomId === undefined || randomId === '')
    throw new VkMethodError(100, 'random_id is a required parameter');
  if (!/^-?\d+$/.test(randomId)) throw new VkMethodError(100, 'random_id not integer');
  const text = params.message ?? '';
  if (text === '' && !params.attachment)
    throw new VkMethodError(100, 'message is empty or invalid');
  if (text.length > MAX_MESSAGE) throw new VkMethodError(914);

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
    if (self(ctx, chat) === undefined) throw new VkMethodError(917);
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
      if (!(err instanceof VkMethodError)) throw err;
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
