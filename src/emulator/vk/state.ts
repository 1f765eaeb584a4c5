import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The emulated platform's data. Tokens are kept only as SHA-256 hashes, so neither the state file
 * nor `GET /__emulator/state` can leak one. Chat IDs are local to their community, as on VK.
 */

const member = z.object({
  memberId: z.number().int(),
  invitedBy: z.number().int(),
  joinDate: z.number().int(),
  isAdmin: z.boolean(),
  isOwner: z.boolean(),
});

const chat = z.object({
  communityId: z.number().int().positive(),
  chatId: z.number().int().positive(),
  title: z.string(),
  ownerId: z.number().int(),
  createdAt: z.number().int(),
  disabled: z.boolean(),
  deleted: z.boolean(),
  lastConversationMessageId: z.number().int().nonnegative(),
  members: z.array(member),
});

const call = z.object({
  callId: z.string().length(36),
  communityId: z.number().int().positive(),
  joinToken: z.string(),
  joinLink: z.string(),
  okJoinLink: z.string(),
  status: z.enum(['active', 'finished']),
  startedAt: z.number().int(),
  finishedAt: z.number().int().optional(),
  finishedBy: z.enum(['api', 'platform']).optional(),
  /** Who joined the call in the app (`person/calls/join`); absent in files from before. */
  participants: z.array(z.number().int()).optional(),
});

const message = z.object({
  id: z.number().int().positive(),
  communityId: z.number().int().positive(),
  peerId: z.number().int(),
  chatId: z.number().int().positive(),
  conversationMessageId: z.number().int().positive(),
  fromId: z.number().int(),
  randomId: z.string(),
  text: z.string(),
  date: z.number().int(),
  /** The call whose join link the message carries, while it ran when posted (its "call message"). */
  callId: z.string().optional(),
});

/** One platform event as delivered, with its long-poll number (`ts`) within its community. */
const loggedEvent = z.object({
  ts: z.number().int().positive(),
  event: z.record(z.string(), z.unknown()),
});

/** A community's event history: what long poll can still hand out, bounded by `longPollHistory`. */
const eventLog = z.object({
  communityId: z.number().int().positive(),
  nextTs: z.number().int().positive(),
  events: z.array(loggedEvent),
});

/**
 * A Callback API server of a community. `secretKey` is kept as given: the platform sends it in
 * every request; the state dump leaves it out.
 */
const callbackServer = z.object({
  communityId: z.number().int().positive(),
  serverId: z.number().int().positive(),
  url: z.string(),
  title: z.string(),
  secretKey: z.string().optional(),
  status: z.enum(['unconfigured', 'wait', 'ok', 'failed']),
  apiVersion: z.string(),
  /** Event types switched on by `groups.setCallbackSettings`; absent: message_new and message_edit. */
  eventTypes: z.record(z.string(), z.boolean()).optional(),
});

/** One request to a callback server and its answer, for tests and the state page. */
const callbackDelivery = z.object({
  communityId: z.number().int().positive(),
  serverId: z.number().int().positive(),
  type: z.string(),
  eventId: z.string().optional(),
  attempt: z.number().int().positive(),
  httpStatus: z.number().int().optional(),
  answer: z.string(),
  ok: z.boolean(),
  at: z.number().int(),
});

const callbackConfig = z.object({
  communityId: z.number().int().positive(),
  confirmationCode: z.string(),
});

const community = z.object({
  communityId: z.number().int().positive(),
  tokenHashes: z.array(z.string()),
  nextChatId: z.number().int().positive(),
});

export const emuStateSchema = z.object({
  communities: z.array(community),
  users: z.array(z.number().int().positive()),
  chats: z.array(chat),
  calls: z.array(call),
  messages: z.array(message),
  nextMessageId: z.number().int().positive(),
  // Added with the platform's events; a state file from before loads with none.
  eventLogs: z.array(eventLog).default([]),
  callbackServers: z.array(callbackServer).default([]),
  callbackConfigs: z.array(callbackConfig).default([]),
  callbackDeliveries: z.array(callbackDelivery).default([]),
  nextCallbackServerId: z.number().int().positive().default(1),
});

export type EmuMember = z.infer<typeof member>;
export type EmuChat = z.infer<typeof chat>;
export type EmuCall = z.infer<typeof call>;
export type EmuMessage = z.infer<typeof message>;
export type EmuCommunity = z.infer<typeof community>;
export type EmuEventLog = z.infer<typeof eventLog>;
export type EmuCallbackServer = z.infer<typeof callbackServer>;
export type EmuCallbackDelivery = z.infer<typeof callbackDelivery>;
export type EmuState = z.infer<typeof emuStateSchema>;

export function emptyState(): EmuState {
  return {
    communities: [],
    users: [],
    chats: [],
    calls: [],
    messages: [],
    nextMessageId: 1,
    eventLogs: [],
    callbackServers: [],
    callbackConfigs: [],
    callbackDeliveries: [],
    nextCallbackServerId: 1,
  };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
