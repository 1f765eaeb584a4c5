import {
  messageEditObjectSchema,
  messageNewObjectSchema,
  rawPlatformEventSchema,
  type CallEndSignal,
  type PlatformFact,
  type PlatformMessage,
  type RawPlatformEvent,
} from '../contracts/platform-events';
import { PEER_CHAT_OFFSET } from './port';

/**
 * THE one place where the platform's raw events (long poll or callback) become the facts the
 * product acts on (V5: a call ended in Sferum; C3: members or the chat changed by hand). Nothing
 * else reads `type`, `action` or attachments. Pure and stateless: the same event always gives the
 * same facts, so a redelivered event (same `event_id`) gives the same facts and the caller
 * de-duplicates by `eventId`.
 *
 * Rules:
 * - Only chats (`peer_id > 2000000000`) matter; other peers give nothing.
 * - The community's own changes are no facts: VK echoes what we do (`message_new` for what we send,
 *   chat_invite_user for whom we add) with `from_id = -group_id`; sync already knows them, and
 *   acting on them would run a sync for nothing after every sync.
 * - Members: a `message_new` whose `action` is chat_invite_user, chat_kick_user,
 *   chat_invite_user_by_link or chat_invite_user_by_message_request → `membersChanged`.
 * - Chat: chat_title_update, chat_photo_update, chat_photo_remove, chat_pin_message,
 *   chat_unpin_message → `chatChanged`. Everything else (chat_create, chat_screenshot, plain
 *   messages, unknown types) → nothing.
 * - A call's end (both signals are UNCONFIRMED, `reference/vk-api.md` §3.3; `callEndSignal`
 *   chooses which to trust, default `either`):
 *   (a) `callMessage`: a `message_new` whose attachments include a `call` (`calls_call`, which
 *       appears after a call ends), from anyone: the platform posts it as the call's initiator.
 *   (b) `inProgressGone`: a `message_edit` of the chat's call message that no longer carries
 *       `group_call_in_progress`. Made stateless instead of remembering which messages carried the
 *       attachment: the call message is the community's own message with a call join link (the
 *       link we post), and we never edit our messages, so an edit of it comes from the platform;
 *       an edit that still carries the attachment (participants came or went) is no fact, one
 *       without it is the end. A `message_new` of a call message without the attachment is not
 *       read as an end: it is what our own post of a link looks like when the platform does not
 *       mark it, and reading it so would end every call as it is announced.
 *   The join link in the message's text (or the attachment's `call_id`/`join_link`, when the
 *   message still carries one) is passed on so the caller can match the journal's running call;
 *   a `call` attachment names no call, so the caller takes the chat's running call.
 */

export interface InterpretOptions {
  readonly callEndSignal?: CallEndSignal;
}

const MEMBER_ACTIONS = new Set([
  'chat_invite_user',
  'chat_kick_user',
  'chat_invite_user_by_link',
  'chat_invite_user_by_message_request',
]);

const CHAT_ACTIONS = new Set([
  'chat_title_update',
  'chat_photo_update',
  'chat_photo_remove',
  'chat_pin_message',
  'chat_unpin_message',
]);

/** A VK call join link as we post it (`vk-client.ts` makes a bare token into this form). */
const JOIN_LINK = /https?:\/\/(?:m\.)?vk\.(?:com|ru)\/call\/join\/[A-Za-z0-9_%-]+/;

/** Reads one event; anything it does not recognise (or cannot parse) gives no facts, never throws. */
export function interpretPlatformEvent(
  event: unknown,
  options: InterpretOptions = {},
): PlatformFact[] {
  const parsed = rawPlatformEventSchema.safeParse(event);
  if (!parsed.success) return [];
  const raw = parsed.data;
  const signal = options.callEndSignal ?? 'either';
  switch (raw.type) {
    case 'message_new': {
      const object = messageNewObjectSchema.safeParse(raw.object);
      return object.success ? fromNewMessage(raw, object.data.message, signal) : [];
    }
    case 'message_edit': {
      const object = messageEditObjectSchema.safeParse(raw.object);
      return object.success ? fromEditedMessage(raw, object.data.message, signal) : [];
    }
    default:
      return [];
  }
}

function isChat(message: PlatformMessage): boolean {
  return message.peer_id > PEER_CHAT_OFFSET;
}

function isOurs(raw: RawPlatformEvent, message: PlatformMessage): boolean {
  return message.from_id === -raw.group_id;
}

function fromNewMessage(
  raw: RawPlatformEvent,
  message: PlatformMessage,
  signal: CallEndSignal,
): PlatformFact[] {
  if (!isChat(message)) return [];
  const base = { peerId: message.peer_id, eventId: raw.event_id };
  const facts: PlatformFact[] = [];
  const action = message.action;
  if (action !== undefined && !isOurs(raw, message)) {
    const who = { action: action.type, actorId: message.from_id };
    if (MEMBER_ACTIONS.has(action.type)) {
      facts.push({
        kind: 'membersChanged',
        ...base,
        ...who,
        ...(action.member_id === undefined ? {} : { memberId: action.member_id }),
      });
    } else if (CHAT_ACTIONS.has(action.type)) {
      facts.push({ kind: 'chatChanged', ...base, ...who });
    }
  }
  if (signal !== 'inProgressGone' && message.attachments.some((a) => a.type === 'call')) {
    facts.push({ kind: 'callEnded', ...base, ...callNames(message), signal: 'callMessage' });
  }
  return facts;
}

function fromEditedMessage(
  raw: RawPlatformEvent,
  message: PlatformMessage,
  signal: CallEndSignal,
): PlatformFact[] {
  if (signal === 'callMessage' || !isChat(message) || !isOurs(raw, message)) return [];
  const names = callNames(message);
  if (names.joinLink === undefined) return [];
  if (message.attachments.some((a) => a.type === 'group_call_in_progress')) return [];
  return [
    {
      kind: 'callEnded',
      peerId: message.peer_id,
      eventId: raw.event_id,
      ...names,
      signal: 'inProgressGone',
    },
  ];
}

/** The call a message names: the in-progress attachment's fields, else a join link in the text. */
function callNames(message: PlatformMessage): { callId?: string; joinLink?: string } {
  const inProgress = message.attachments.find(
    (a) => a.type === 'group_call_in_progress',
  )?.group_call_in_progress;
  const joinLink = inProgress?.join_link ?? JOIN_LINK.exec(message.text)?.[0];
  return {
    ...(inProgress?.call_id === undefined ? {} : { callId: inProgress.call_id }),
    ...(joinLink === undefined ? {} : { joinLink }),
  };
}
