import { randomBytes } from 'node:crypto';
import type { EmuCall, EmuChat, EmuEventLog, EmuMessage, EmuState } from './state';

/**
 * The emulated platform's events (V5, C3): what VK sends over the Bots Long Poll API and the
 * Callback API when something happens in a chat. The emulator records each event once, in its
 * community's bounded log with a long-poll number; `long-poll.ts` serves the log and
 * `callback.ts` posts each event to the community's callback servers.
 *
 * Shapes follow dev.vk.com's Bots Long Poll / Callback API pages: `{type, event_id, v, object,
 * group_id}`; `message_new`'s object is `{message, client_info}`, `message_edit`'s is the message
 * itself. Our own changes come back too, from the community (`from_id = -group_id`); a person's
 * from their ID. Service messages (member actions, the call-ended message) take a
 * conversation_message_id in the chat but are not kept in `state.messages`, which holds what
 * the community posted.
 *
 * The call's message (UNCONFIRMED, `reference/vk-api.md` §3.3): a call started with `calls.start`
 * belongs to no chat, so the emulator takes the messages that carried an active call's join link
 * as that call's messages. While the call runs such a message carries `group_call_in_progress`
 * (fields UNCONFIRMED: `join_link`, `call_id`, `initiator_id`, `participants`); when it ends, the
 * `callEndSignal` option chooses what the chat gets: `callMessage` (a new message with a `call`
 * attachment), `inProgressGone` (an edit of each call message without the attachment), or `both`.
 */

export type CallEndSignalMode = 'callMessage' | 'inProgressGone' | 'both';

export type PlatformEvent = Record<string, unknown> & {
  readonly type: string;
  readonly event_id: string;
  readonly group_id: number;
};

export type EventListener = (communityId: number, event: PlatformEvent, ts: number) => void;

export interface EventHubOptions {
  readonly longPollHistory: number;
  readonly callEndSignal: CallEndSignalMode;
}

export interface EventHub {
  /** Records an event and hands it to the listeners (long-poll waiters, callback queues). */
  emit(communityId: number, type: string, object: unknown): PlatformEvent;
  subscribe(listener: EventListener): void;
  /** The community's log, created on first use. */
  log(communityId: number): EmuEventLog;
  /** `message_new` for a message the community posted (with the call attachment while it runs). */
  posted(chat: EmuChat, message: EmuMessage): void;
  /** A chat service message (`action`) from `fromId`: members added or removed, a new title. */
  chatAction(chat: EmuChat, fromId: number, action: Record<string, unknown>): void;
  /** What the chats of a call's messages get when the call ends, by whoever ended it. */
  callEnded(call: EmuCall): void;
  /** Someone joined a running call: each call message is edited, still carrying the attachment. */
  callJoined(call: EmuCall): void;
}

const PEER_CHAT_OFFSET = 2_000_000_000;
/** VK's event versions follow the API's; the long poll settings' version is 5.199 here. */
const EVENTS_VERSION = '5.199';

/** What `message_new` carries besides the message: the sender's client (a bot reads buttons from it). */
const CLIENT_INFO = {
  button_actions: ['text', 'vkpay', 'open_app', 'location', 'open_link', 'callback'],
  keyboard: true,
  inline_keyboard: true,
  carousel: true,
  lang_id: 0,
};

function participants(call: EmuCall): { list: number[]; count: number } {
  const list = call.participants ?? [];
  return { list: [...list], count: list.length };
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** A message as the events carry it, in the chat `chat`. */
function wire(
  chat: EmuChat,
  fields: {
    cmid: number;
    fromId: number;
    date: number;
    text: string;
    attachments: unknown[];
    action?: Record<string, unknown>;
  },
): Record<string, unknown> {
  return {
    date: seconds(fields.date),
    from_id: fields.fromId,
    // A community sees chat messages without a global message id.
    id: 0,
    out: fields.fromId === -chat.communityId ? 1 : 0,
    version: fields.cmid,
    attachments: fields.attachments,
    conversation_message_id: fields.cmid,
    fwd_messages: [],
    important: false,
    is_hidden: false,
    peer_id: PEER_CHAT_OFFSET + chat.chatId,
    random_id: 0,
    text: fields.text,
    ...(fields.action === undefined ? {} : { action: fields.action }),
  };
}

function inProgress(call: EmuCall): Record<string, unknown> {
  return {
    type: 'group_call_in_progress',
    group_call_in_progress: {
      initiator_id: -call.communityId,
      join_link: call.joinLink,
      call_id: call.callId,
      participants: participants(call),
    },
  };
}

function chatOf(state: EmuState, message: EmuMessage): EmuChat | undefined {
  return state.chats.find(
    (c) => c.communityId === message.communityId && c.chatId === message.chatId,
  );
}

function postedWire(
  chat: EmuChat,
  message: EmuMessage,
  running: EmuCall | undefined,
): Record<string, unknown> {
  return wire(chat, {
    cmid: message.conversationMessageId,
    fromId: message.fromId,
    date: message.date,
    text: message.text,
    attachments: running === undefined ? [] : [inProgress(running)],
  });
}

/** The `call` attachment of the message a chat gets when its call ended. */
function callAttachment(call: EmuCall, chat: EmuChat, endedAt: number): Record<string, unknown> {
  return {
    type: 'call',
    call: {
      initiator_id: -call.communityId,
      receiver_id: PEER_CHAT_OFFSET + chat.chatId,
      state: 'reached',
      time: seconds(call.startedAt),
      duration: Math.max(0, seconds(endedAt - call.startedAt)),
      video: true,
      participants: participants(call),
    },
  };
}

export function createEventHub(args: {
  readonly state: EmuState;
  readonly options: () => EventHubOptions;
  readonly now: () => number;
}): EventHub {
  const { state, now } = args;
  const listeners: EventListener[] = [];

  function log(communityId: number): EmuEventLog {
    let found = state.eventLogs.find((l) => l.communityId === communityId);
    if (found === undefined) {
      found = { communityId, nextTs: 1, events: [] };
      state.eventLogs.push(found);
    }
    return found;
  }

  function emit(communityId: number, type: string, object: unknown): PlatformEvent {
    const event: PlatformEvent = {
      group_id: communityId,
      type,
      event_id: randomBytes(20).toString('hex'),
      v: EVENTS_VERSION,
      object,
    };
    const target = log(communityId);
    const ts = target.nextTs++;
    target.events.push({ ts, event });
    const keep = Math.max(1, args.options().longPollHistory);
    if (target.events.length > keep) target.events.splice(0, target.events.length - keep);
    for (const listener of listeners) listener(communityId, event, ts);
    return event;
  }

  return {
    emit,
    log,
    subscribe(listener) {
      listeners.push(listener);
    },

    posted(chat, message) {
      const running = state.calls.find((c) => c.callId === message.callId && c.status === 'active');
      emit(chat.communityId, 'message_new', {
        message: postedWire(chat, message, running),
        client_info: CLIENT_INFO,
      });
    },

    chatAction(chat, fromId, action) {
      const message = wire(chat, {
        cmid: ++chat.lastConversationMessageId,
        fromId,
        date: now(),
        text: '',
        attachments: [],
        action,
      });
      emit(chat.communityId, 'message_new', { message, client_info: CLIENT_INFO });
    },

    callJoined(call) {
      for (const m of state.messages.filter((x) => x.callId === call.callId)) {
        const chat = chatOf(state, m);
        if (chat === undefined) continue;
        emit(chat.communityId, 'message_edit', {
          ...postedWire(chat, m, call),
          update_time: seconds(now()),
        });
      }
    },

    callEnded(call) {
      const mode = args.options().callEndSignal;
      const messages = state.messages.filter((m) => m.callId === call.callId);
      const chats = new Map<string, EmuChat>();
      for (const m of messages) {
        const chat = chatOf(state, m);
        if (chat !== undefined) chats.set(`${chat.communityId}:${chat.chatId}`, chat);
      }
      const endedAt = call.finishedAt ?? now();
      if (mode !== 'callMessage') {
        for (const m of messages) {
          const chat = chatOf(state, m);
          if (chat === undefined) continue;
          emit(chat.communityId, 'message_edit', {
            ...postedWire(chat, m, undefined),
            update_time: seconds(endedAt),
          });
        }
      }
      if (mode !== 'inProgressGone') {
        for (const chat of chats.values()) {
          const message = wire(chat, {
            cmid: ++chat.lastConversationMessageId,
            fromId: -call.communityId,
            date: endedAt,
            text: '',
            attachments: [callAttachment(call, chat, endedAt)],
          });
          emit(chat.communityId, 'message_new', { message, client_info: CLIENT_INFO });
        }
      }
    },
  };
}
