import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { callbackEventSchema } from '../../contracts/platform-events';
import { toListenerFact } from '../../contracts/platform-listener';
import { interpretPlatformEvent } from '../../messenger/platform-events';
import { createCallbackEventLog } from '../../store/callback-events';
import { schoolAdminGuard } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { ApiError, errorReplies } from '../errors';
import { schoolParams } from '../schemas';

/**
 * The platform's events (V5, C3, docs/platform-events.md): how a school receives them (Bots Long
 * Poll by default, or the Callback API), the listener's state, and the Callback API endpoint VK
 * posts to. The callback secret and the confirmation string are never answered back, but for the
 * confirmation VK itself asks for.
 */

const ADMIN_ERRORS = [400, 401, 403, 404, 429] as const;
/** VK's event bodies are a few kilobytes; a message with attachments stays far below this. */
const CALLBACK_BODY_LIMIT = 256 * 1024;

const eventsSettingsBody = z.strictObject({
  mode: z.enum(['longPoll', 'callback']),
  /** VK's "secret key" of the Callback API server: sent in every body, checked on each. */
  callbackSecret: z.string().min(16).max(50).optional(),
  /** The string VK's confirmation request must be answered with. */
  confirmation: z.string().min(1).max(64).optional(),
});

const eventsReply = z
  .object({
    schoolId: z.string(),
    mode: z.enum(['longPoll', 'callback']),
    callbackSecretSet: z.boolean(),
    confirmationSet: z.boolean(),
    updatedAt: z.string().nullable(),
    /** Where VK posts in callback mode (relative to this API's base URL). */
    callbackPath: z.string(),
    listener: z
      .object({
        mode: z.enum(['longPoll', 'callback']).nullable(),
        ts: z.string().nullable(),
        applied: z.number().int(),
        duplicates: z.number().int(),
        catchUps: z.number().int(),
        lastEventAt: z.number().nullable(),
      })
      .nullable(),
  })
  .meta({ id: 'EventsSettings' });

/** What is read before the secret is checked: nothing of it is trusted yet. */
const callbackEnvelope = z.looseObject({
  type: z.string().max(64),
  group_id: z.number().int().positive(),
  secret: z.string().max(256).optional(),
  event_id: z.string().max(128).optional(),
});

const callbackParams = z.object({ schoolId: schoolParams.shape.id });

/** Compares digests, so neither the length nor the content of the secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function registerPlatformEventRoutes(app: ZodApp, ctx: RouteContext): void {
  const events = ctx.settings.events;
  const accepted = createCallbackEventLog(ctx.db);
  const admin = { onRequest: ctx.authenticate, preValidation: schoolAdminGuard };
  const reply = async (schoolId: string) => ({
    ...(await events.getPublic(schoolId)),
    callbackPath: `/vk/callback/${schoolId}`,
    listener: await ctx.gateway.platformEventsStatus(schoolId),
  });

  app.put(
    '/schools/:id/events',
    {
      ...admin,
      schema: {
        tags: ['platform events'],
        summary:
          "How the school receives the platform's events: long poll or Callback API (V5, C3)",
        description:
          "Callback mode needs the secret key and the confirmation string set in the community's " +
          'Callback API settings; one not sent again is kept. The reply says whether they are set, never what they are.',
        security: [{ bearer: [] }],
        params: schoolParams,
        body: eventsSettingsBody,
        response: { 200: eventsReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const schoolId = request.params.id;
      const { mode, callbackSecret, confirmation } = request.body;
      if (mode === 'callback') {
        const saved = await events.getPublic(schoolId);
        const missing = [
          ...(callbackSecret === undefined && !saved.callbackSecretSet ? ['callbackSecret'] : []),
          ...(confirmation === undefined && !saved.confirmationSet ? ['confirmation'] : []),
        ];
        if (missing.length > 0) {
          throw new ApiError(
            'invalid_input',
            'callback mode needs the secret key and the confirmation string',
            missing.map((path) => ({ path, message: 'required in callback mode' })),
          );
        }
      }
      await events.save({
        schoolId,
        mode,
        ...(callbackSecret === undefined ? {} : { callbackSecret }),
        ...(confirmation === undefined ? {} : { confirmation }),
      });
      await ctx.gateway.eventsSettingsChanged({ schoolId });
      return reply(schoolId);
    },
  );

  app.get(
    '/schools/:id/events',
    {
      ...admin,
      schema: {
        tags: ['platform events'],
        summary: "The school's events mode and its listener's state (never the secrets)",
        security: [{ bearer: [] }],
        params: schoolParams,
        response: { 200: eventsReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    (request) => reply(request.params.id),
  );

  app.post(
    '/vk/callback/:schoolId',
    {
      bodyLimit: CALLBACK_BODY_LIMIT,
      schema: {
        tags: ['platform events'],
        summary: "The Callback API endpoint VK posts the community's events to (callback mode)",
        description:
          'Answers the confirmation string to `confirmation`, and `ok` to an event it accepted or ' +
          'has accepted before. A wrong secret (403), a malformed body (400) or a school not in ' +
          'callback mode (404) is dropped and logged, and changes nothing.',
        params: callbackParams,
      },
    },
    async (request, response) => {
      const { schoolId } = request.params;
      const text = (status: number, body: string) =>
        response.status(status).type('text/plain; charset=utf-8').send(body);
      const drop = (status: number, why: string, extra: Record<string, unknown> = {}) => {
        request.log.warn({ schoolId, ...extra }, `platform callback dropped: ${why}`);
        return text(status, why);
      };
      const envelope = callbackEnvelope.safeParse(request.body);
      if (!envelope.success) return drop(400, 'malformed body');
      const { type, group_id: groupId, secret, event_id: eventId } = envelope.data;
      const [credentials, school] = await Promise.all([
        events.callback(schoolId),
        ctx.settings.getPublic(schoolId),
      ]);
      if (!credentials || !school) return drop(404, 'not in callback mode');
      if (groupId !== school.communityId) return drop(403, 'another community', { type });
      // VK's confirmation request may come before a secret is set on its side.
      if (type === 'confirmation' && secret === undefined)
        return text(200, credentials.confirmation);
      if (secret === undefined || !sameSecret(secret, credentials.secret)) {
        return drop(403, 'wrong secret', { type, eventId });
      }
      if (type === 'confirmation') return text(200, credentials.confirmation);
      const event = callbackEventSchema.safeParse(request.body);
      if (!event.success) return drop(400, 'malformed event', { type });
      const id = event.data.event_id;
      if (!(await accepted.accept({ schoolId, eventId: id }))) {
        request.log.info({ schoolId, eventId: id, type }, 'platform callback: replay dropped');
        return text(200, 'ok');
      }
      const facts = interpretPlatformEvent(event.data).map(toListenerFact);
      try {
        if (facts.length > 0) await ctx.gateway.platformFactsReceived({ schoolId, facts });
      } catch (error) {
        // Not handed on: VK sends it again after our error, and it must not read as a replay then.
        await accepted.release({ schoolId, eventId: id });
        throw error;
      }
      return text(200, 'ok');
    },
  );
}
