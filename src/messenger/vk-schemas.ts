import { z } from 'zod';

/**
 * Wire shapes of the VK replies we read, per `reference/vk-api.md`. Unknown fields are dropped, not
 * rejected: VK adds fields freely. Where sources disagree the schema takes every documented variant.
 */

export const requestParamSchema = z.object({ key: z.string(), value: z.coerce.string() });

export const errorEnvelopeSchema = z.object({
  error: z.object({
    error_code: z.number().int(),
    error_msg: z.string(),
    request_params: z.array(requestParamSchema).optional(),
    error_subcode: z.number().int().optional(),
  }),
});

export const executeErrorSchema = z.object({
  method: z.string(),
  error_code: z.number().int(),
  error_msg: z.string(),
});

export const successEnvelopeSchema = z.object({
  response: z.unknown().refine((v) => v !== undefined, 'response is missing'),
  execute_errors: z.array(executeErrorSchema).optional(),
});

export const okSchema = z.literal(1);

/** addChatUser's `1` is marked deprecated from 5.201 with the new shape unknown, so batches accept any non-false value. */
export const batchOkSchema = z.union([
  z.literal(1),
  z.literal(true),
  z.record(z.string(), z.unknown()),
]);

/** 5.131 and the docs: a bare chat id; schema 5.199: `{chat_id, peer_ids}`. */
export const createChatSchema = z.union([
  z
    .number()
    .int()
    .positive()
    .transform((chatId) => ({ chatId })),
  z
    .object({
      chat_id: z.number().int().positive(),
      peer_ids: z.array(z.number().int()).optional(),
    })
    .transform((r) => ({ chatId: r.chat_id })),
]);

/** createChat's reply with whom it added: `peer_ids` when the reply lists them, else unknown. */
export const createChatReplySchema = z.union([
  z
    .number()
    .int()
    .positive()
    .transform((chatId) => ({ chatId, added: null })),
  z
    .object({
      chat_id: z.number().int().positive(),
      peer_ids: z.array(z.number().int()).optional(),
    })
    .transform((r) => ({ chatId: r.chat_id, added: r.peer_ids ?? null })),
]);

export const memberSchema = z.object({
  member_id: z.number().int(),
  is_admin: z.boolean().optional(),
  is_owner: z.boolean().optional(),
});

export const conversationMembersSchema = z.object({
  count: z.number().int().nonnegative(),
  items: z.array(memberSchema),
});

export const conversationSchema = z.object({
  peer: z.object({
    id: z.number().int(),
    type: z.enum(['user', 'chat', 'group', 'email']),
    local_id: z.number().int().optional(),
  }),
  chat_settings: z
    .object({
      title: z.string(),
      members_count: z.number().int().nonnegative().optional(),
    })
    .optional(),
});

export const conversationsSchema = z.object({
  count: z.number().int().nonnegative(),
  items: z.array(z.object({ conversation: conversationSchema })),
});

/** With `peer_ids` VK answers per peer; with `peer_id` a bare message id (0 for a community in a chat). */
export const sendSchema = z.union([
  z.number().int().nonnegative(),
  z.array(
    z.object({
      peer_id: z.number().int(),
      message_id: z.number().int().optional(),
      conversation_message_id: z.number().int().optional(),
      error: z.object({ code: z.number().int(), description: z.string() }).optional(),
    }),
  ),
]);

export const callStartSchema = z.object({
  call_id: z.string().optional(),
  join_link: z.string().min(1),
  ok_join_link: z.string().optional(),
});
