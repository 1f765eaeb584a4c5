import { z } from 'zod';
import type { CallEndSignalMode } from './events';

/** The bodies the emulator's control endpoints (`/__emulator/...`) accept, and the env switch. */

const rate = z.number().min(0).max(1);
export const faultsSchema = z
  .object({
    errorRate10: rate,
    http502Rate: rate,
    dropBeforeRate: rate,
    dropAfterRate: rate,
    latencyMs: z.number().int().min(0).max(60_000),
    rateLimitPerSecond: z.number().positive().max(10_000).nullable(),
    longPollDown: z.enum(['http502', 'drop']).nullable(),
  })
  .partial()
  .strict();

export const callEndSignal = z.enum(['callMessage', 'inProgressGone', 'both']);
export const longPollStrikeBody = z
  .object({
    fault: z.enum(['failed1', 'failed2', 'failed3', 'malformed', 'http502', 'drop', 'duplicate']),
    times: z.number().int().min(1).max(100).default(1),
  })
  .strict();
export const callbackStrikeBody = z.object({ fault: z.literal('duplicate') }).strict();

export const optionsSchema = z
  .object({
    rateLimitPerSecond: z.number().positive().max(10_000),
    floodActionsPerMinute: z.number().int().min(0),
    groupTokenCanAddMembers: z.boolean(),
    groupTokenCanStartCalls: z.boolean(),
    groupTokenCanSetRoles: z.boolean(),
    nonAdminReadForbidden: z.boolean(),
    createChatShape: z.enum(['auto', 'object', 'number']),
    joinLinkShape: z.enum(['url', 'token']),
    communityChatMessageIdZero: z.boolean(),
    strictUsers: z.boolean(),
    callEndSignal,
    longPollHistory: z.number().int().min(1).max(1_000_000),
    longPollKeyTtlMs: z.number().int().min(1),
    callbackAttempts: z.number().int().min(1).max(20),
    callbackRetryDelayMs: z.number().int().min(0).max(600_000),
  })
  .partial()
  .strict();

/** `VK_EMULATOR_CALL_END_SIGNAL` sets the call-end signal when the caller's options do not. */
export function envCallEndSignal(): { callEndSignal?: CallEndSignalMode } {
  const raw = process.env.VK_EMULATOR_CALL_END_SIGNAL;
  if (raw === undefined || raw === '') return {};
  const parsed = callEndSignal.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `VK_EMULATOR_CALL_END_SIGNAL must be callMessage, inProgressGone or both, got ${raw}`,
    );
  return { callEndSignal: parsed.data };
}

export const communityBody = z
  .object({ communityId: z.number().int().positive(), token: z.string().min(8) })
  .strict();
export const usersBody = z.object({ userIds: z.array(z.number().int().positive()) }).strict();
export const role = z.enum(['owner', 'admin', 'member', 'none']);
export const chatBody = z
  .object({
    communityId: z.number().int().positive(),
    title: z.string().min(1),
    ownerId: z.number().int().optional(),
    memberIds: z.array(z.number().int().positive()).default([]),
    /** How the community sits in the chat: a chat someone else made and invited the bot to is `member`. */
    communityRole: role.default('owner'),
  })
  .strict();
export const chatUpdateBody = z
  .object({
    communityId: z.number().int().positive(),
    chatId: z.number().int().positive(),
    title: z.string().min(1).optional(),
    disabled: z.boolean().optional(),
    deleted: z.boolean().optional(),
    communityRole: role.optional(),
  })
  .strict();

/** zod's `.partial()` types absent keys as `undefined`; drop them so a patch never unsets a field. */
export function definedOnly<T extends object>(patch: {
  [K in keyof T]?: T[K] | undefined;
}): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
