import { z } from 'zod';

/**
 * The platform's events as VK delivers them (Bots Long Poll API and Callback API), and the facts
 * the product acts on. Sources: dev.vk.com "Bots Long Poll API" / "Callback API" pages (there is
 * no `groups` or events section in `reference/vk-api-schema`), the schema's `messages_message`,
 * `messages_message_action` and `calls_call`, and `reference/vk-api.md` §3.3.
 *
 * Every object is loose: VK adds fields and event types freely, so an unknown type or field parses
 * and is kept; only the fields we read are typed. Raw events are read inside activities only;
 * workflows see `PlatformFact`s (IDs, no text).
 */

/** Unix seconds, peer IDs and member IDs are integers on the wire. */
const int = z.number().int();

/** A chat member action, `messages_message_action`. */
export const messageActionSchema = z.looseObject({
  /** chat_invite_user, chat_kick_user, chat_invite_user_by_link, chat_title_update, ... */
  type: z.string(),
  /** Who was added or removed (negative for a community). */
  member_id: int.optional(),
  /** The new title for chat_title_update and chat_create. */
  text: z.string().optional(),
});

/**
 * `calls_call`: a finished call's summary; [S] says it appears after the call ends. [S] requires
 * initiator, receiver, state and time, but a group call has no receiver and the group form is
 * UNCONFIRMED, so none is required: a missing field must not hide the end of a call.
 */
export const callAttachmentSchema = z.looseObject({
  initiator_id: int.optional(),
  receiver_id: int.optional(),
  state: z.string().optional(),
  time: int.optional(),
  duration: int.optional(),
  video: z.boolean().optional(),
  participants: z.looseObject({ list: z.array(int).optional(), count: int.optional() }).optional(),
});

/**
 * The undocumented `group_call_in_progress` attachment (vk-api-schema issue #225). Every field is
 * UNCONFIRMED: community code reads `participants`; the emulator also sends `join_link` and
 * `call_id`, so both are optional and nothing may depend on them being there.
 */
export const groupCallInProgressSchema = z.looseObject({
  initiator_id: int.optional(),
  join_link: z.string().optional(),
  call_id: z.string().optional(),
  participants: z.looseObject({ list: z.array(int).optional(), count: int.optional() }).optional(),
});

export const messageAttachmentSchema = z.looseObject({
  type: z.string(),
  call: callAttachmentSchema.optional(),
  group_call_in_progress: groupCallInProgressSchema.optional(),
});

/** The message fields we read from `messages_message`. */
export const platformMessageSchema = z.looseObject({
  id: int.optional(),
  peer_id: int,
  conversation_message_id: int.optional(),
  from_id: int,
  date: int,
  text: z.string().default(''),
  action: messageActionSchema.optional(),
  attachments: z.array(messageAttachmentSchema).default([]),
});

/**
 * One event, as a long-poll `updates[]` item or a Callback API body (which adds `secret`).
 * `event_id` is VK's de-duplication key: the same event may be delivered twice.
 */
export const rawPlatformEventSchema = z.looseObject({
  type: z.string(),
  event_id: z.string().min(1),
  v: z.string(),
  object: z.unknown(),
  group_id: int.positive(),
});

export const callbackEventSchema = rawPlatformEventSchema.extend({
  secret: z.string().optional(),
});

/**
 * The Callback API's first request to a new server: `{type: 'confirmation', group_id, secret?}`,
 * with no `event_id` or `object` (dev.vk.com); the answer is the community's confirmation code
 * (`groups.getCallbackConfirmationCode`) as the plain body. Read it before `callbackEventSchema`.
 */
export const callbackConfirmationSchema = z.looseObject({
  type: z.literal('confirmation'),
  group_id: int.positive(),
  secret: z.string().optional(),
});
export type CallbackConfirmation = z.infer<typeof callbackConfirmationSchema>;

/** `message_new` (API 5.103+): the message with the sender's client capabilities. */
export const messageNewObjectSchema = z.looseObject({
  message: platformMessageSchema,
  client_info: z.unknown().optional(),
});

/**
 * `message_edit` (and `message_reply`): the docs and the client libraries give the message itself
 * as the object, not `{message}` as `message_new` does; both shapes are accepted.
 */
export const messageEditObjectSchema = z.union([
  messageNewObjectSchema,
  platformMessageSchema.transform((message) => ({ message })),
]);

export type MessageAction = z.infer<typeof messageActionSchema>;
export type CallAttachment = z.infer<typeof callAttachmentSchema>;
export type GroupCallInProgress = z.infer<typeof groupCallInProgressSchema>;
export type MessageAttachment = z.infer<typeof messageAttachmentSchema>;
export type PlatformMessage = z.infer<typeof platformMessageSchema>;
export type RawPlatformEvent = z.infer<typeof rawPlatformEventSchema>;
export type CallbackEvent = z.infer<typeof callbackEventSchema>;

/** `groups.getLongPollServer`'s response. `key` is a credential: it stays inside the activity. */
export const longPollServerSchema = z.looseObject({
  key: z.string().min(1),
  server: z.string().min(1),
  ts: z.union([z.string(), int]).transform(String),
});
export type LongPollServer = z.infer<typeof longPollServerSchema>;

/**
 * A `a_check` answer. `ts` is a string in the docs' samples and a number in some clients'; it is
 * kept as a string. `failed: 1` carries the ts to go on from; 2 (key expired) and 3 (information
 * lost) need a new `groups.getLongPollServer`. Extra fields are ignored (plain objects strip them).
 */
export const longPollAnswerSchema = z.union([
  z.object({
    ts: z.union([z.string(), int]).transform(String),
    updates: z.array(z.unknown()),
  }),
  z.object({ failed: z.literal(1), ts: z.union([z.string(), int]).transform(String) }),
  z.object({ failed: z.literal(2) }),
  z.object({ failed: z.literal(3) }),
]);
export type LongPollAnswer = z.infer<typeof longPollAnswerSchema>;

/** Which platform signal says a call ended (both are UNCONFIRMED, `reference/vk-api.md` §3.3). */
export const callEndSignalSchema = z.enum(['callMessage', 'inProgressGone', 'either']);
export type CallEndSignal = z.infer<typeof callEndSignalSchema>;

/**
 * What the product acts on. `eventId` is the platform event's ID, for de-duplication and the
 * audit. Facts carry IDs only: no message text, no link secret, no LP key.
 */
export const platformFactSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('callEnded'),
    peerId: int,
    eventId: z.string(),
    /** The platform's call ID when the event names it (the emulator's in-progress attachment does). */
    callId: z.string().optional(),
    /** The call's join link when the event carries it; a lesson's link identifies its call. */
    joinLink: z.string().optional(),
    signal: z.enum(['callMessage', 'inProgressGone']).optional(),
  }),
  z.object({
    kind: z.literal('membersChanged'),
    peerId: int,
    eventId: z.string(),
    memberId: int.optional(),
    /** The action VK reported: chat_invite_user, chat_kick_user, ... */
    action: z.string().optional(),
    /** Who did it (a person's ID; never the community itself: our own echoes are no facts). */
    actorId: int.optional(),
  }),
  z.object({
    kind: z.literal('chatChanged'),
    peerId: int,
    eventId: z.string(),
    action: z.string().optional(),
    actorId: int.optional(),
  }),
]);
export type PlatformFact = z.infer<typeof platformFactSchema>;
