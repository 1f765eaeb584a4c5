import { ErrorType, TypedError } from '../contracts/errors';
import {
  PEER_CHAT_OFFSET,
  type BatchCall,
  type ChatSummary,
  type MemberOp,
  type Messenger,
  type MessengerSettings,
  type OpResult,
  type StartedCall,
} from './port';
import { runBatch, type BatchOptions } from './vk-batch';
import { VkApiError, transportError } from './vk-errors';
import {
  callStartSchema,
  conversationsSchema,
  createChatSchema,
  okSchema,
  sendSchema,
} from './vk-schemas';
import { createVkTransport, type VkTransport, type VkTransportOptions } from './vk-transport';

/**
 * The VK API adapter of the `Messenger` port: its methods over the transport (`vk-transport.ts`:
 * undici, the proxy, the rate limit) and the batching of `run` (`vk-batch.ts`: `execute`).
 */
export interface VkMessengerOptions extends VkTransportOptions, BatchOptions {}

/** VK's page size for the community's conversations. */
const CONVERSATIONS_PAGE = 200;
/** No documented code exists for "no such call"; the emulator uses 104 (not found). */
const CALL_GONE_CODES = new Set([104]);
const CALL_ID_LENGTH = 36;

/** Creates the VK adapter of the `Messenger` port for one school's settings. */
export function createVkMessenger(
  settings: MessengerSettings,
  opts: VkMessengerOptions = {},
): Messenger {
  const transport = createVkTransport(settings, opts);
  const { call, parse, secrets } = transport;
  const run = (calls: readonly BatchCall[]): Promise<void> =>
    runBatch(transport, settings.communityId, opts, calls);

  /** One kind of member change for each op, through `run`: one result per op, in order. */
  async function memberOps(kind: 'add' | 'remove', ops: readonly MemberOp[]): Promise<OpResult[]> {
    const results = new Array<OpResult>(ops.length);
    await run(
      ops.map((op, i): BatchCall => ({
        kind,
        chatId: op.chatId,
        userId: op.userId,
        then: (outcome) => {
          results[i] = outcome;
          return undefined;
        },
      })),
    );
    return results;
  }

  return {
    async createChat({ title, userIds }) {
      const reply = await call('messages.createChat', {
        title,
        user_ids: userIds,
        group_id: settings.communityId,
      });
      return parse('messages.createChat', createChatSchema, reply.response);
    },

    listChats: () => listChats(transport),

    addMembers: ({ ops }) => memberOps('add', ops),
    removeMembers: ({ ops }) => memberOps('remove', ops),
    run: ({ calls }) => run(calls),

    async messagesSend({ chatId, message, randomId }) {
      const peerId = PEER_CHAT_OFFSET + chatId;
      // `peer_ids` because with `peer_id` a community posting in a chat gets message id 0 back;
      // the per-peer form carries the chat-local conversation_message_id.
      const reply = await call('messages.send', {
        peer_ids: [peerId],
        random_id: randomId,
        message,
      });
      const result = parse('messages.send', sendSchema, reply.response);
      if (typeof result === 'number') return { messageId: result };
      const entry = result.find((r) => r.peer_id === peerId) ?? result[0];
      if (entry?.error !== undefined) {
        throw new VkApiError({
          code: entry.error.code,
          method: 'messages.send',
          message: entry.error.description,
          secrets,
        });
      }
      const messageId = entry?.conversation_message_id ?? entry?.message_id;
      if (messageId === undefined)
        throw transportError(
          ErrorType.MessengerUnavailable,
          'messages.send',
          'no message id in reply',
          secrets,
        );
      return { messageId };
    },

    async callsStart(): Promise<StartedCall> {
      const reply = await call('calls.start', { group_id: settings.communityId });
      const started = parse('calls.start', callStartSchema, reply.response);
      if (started.call_id === undefined) {
        // Without an id the call can never be ended through the API; better to fail loudly now.
        throw transportError(
          ErrorType.MessengerBadRequest,
          'calls.start',
          'reply has no call_id',
          secrets,
        );
      }
      const joinLink = /^https?:\/\//.test(started.join_link)
        ? started.join_link
        : `https://vk.com/call/join/${encodeURIComponent(started.join_link)}`;
      return { callId: started.call_id, joinLink };
    },

    async callsForceFinish({ callId }) {
      if (callId.length !== CALL_ID_LENGTH) {
        throw new TypedError(
          ErrorType.InvalidInput,
          `call id must be ${CALL_ID_LENGTH} characters, got ${callId.length}`,
        );
      }
      try {
        const reply = await call('calls.forceFinish', { call_id: callId });
        parse('calls.forceFinish', okSchema, reply.response);
        return { alreadyEnded: false };
      } catch (err) {
        if (err instanceof VkApiError && CALL_GONE_CODES.has(err.code))
          return { alreadyEnded: true };
        throw err;
      }
    },

    close: () => transport.close(),
  };
}

/** Every chat the community sees, page by page. */
async function listChats({ call, parse }: VkTransport): Promise<ChatSummary[]> {
  const chats: ChatSummary[] = [];
  for (let offset = 0; ; offset += CONVERSATIONS_PAGE) {
    const reply = await call('messages.getConversations', {
      offset,
      count: CONVERSATIONS_PAGE,
      filter: 'all',
    });
    const page = parse('messages.getConversations', conversationsSchema, reply.response);
    for (const { conversation } of page.items) {
      if (conversation.peer.type !== 'chat' || conversation.chat_settings === undefined) continue;
      chats.push({
        chatId: conversation.peer.local_id ?? conversation.peer.id - PEER_CHAT_OFFSET,
        title: conversation.chat_settings.title,
        membersCount: conversation.chat_settings.members_count ?? 0,
      });
    }
    if (page.items.length === 0 || offset + page.items.length >= page.count) return chats;
  }
}
