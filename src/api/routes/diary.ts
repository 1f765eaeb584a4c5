import { z } from 'zod';
import { diaryEventSchema } from '../../diary/events';
import { webhookUrlProblem } from '../../diary/webhook';
import { createDiaryOutbox } from '../../store/diary-outbox';
import { diaryFeedGuard, schoolAdminGuard } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { ApiError, errorReplies, notFound } from '../errors';
import { noBody, schoolParams } from '../schemas';

/**
 * The e-diary integration (V4, docs/diary.md): the school's webhook, where its call links are
 * pushed, and the feed of the same events the portal may poll instead.
 */

const ADMIN_ERRORS = [400, 401, 403, 404, 429] as const;
const FEED_MAX = 500;

const diarySettingsBody = z.strictObject({
  webhookUrl: z.string().max(2048),
  /** The HMAC-SHA256 key the portal verifies each body with: long enough not to be guessed. */
  secret: z.string().min(32).max(256),
});

const diarySettingsReply = z
  .object({
    schoolId: z.string(),
    webhook: z
      .object({ url: z.string(), secretSet: z.literal(true), updatedAt: z.string() })
      .nullable(),
  })
  .meta({ id: 'DiarySettings' });

/** Shown on the school page: a delivery that keeps failing is visible where the operator looks. */
const diaryStatusReply = z
  .object({
    schoolId: z.string(),
    webhook: z.boolean(),
    /** Events not yet delivered (at most STATUS_MAX are counted). */
    undelivered: z.number().int(),
    failing: z.array(
      z.object({
        eventId: z.string(),
        lessonId: z.string(),
        kind: z.enum(['linkPublished', 'linkChanged', 'linkWithdrawn']),
        lastError: z.string().nullable(),
        failingSince: z.number().nullable(),
        attempts: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'DiaryStatus' });

const STATUS_MAX = 500;

const feedQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(FEED_MAX).default(100),
});

const feedReply = z
  .object({
    events: z.array(diaryEventSchema),
    /** Pass as `after` to read on; the same as `after` when nothing new has come. */
    next: z.number().int(),
  })
  .meta({ id: 'DiaryFeed' });

export function registerDiaryRoutes(app: ZodApp, ctx: RouteContext): void {
  const outbox = createDiaryOutbox(ctx.db);
  const diary = ctx.settings.diary;
  const admin = { onRequest: ctx.authenticate, preValidation: schoolAdminGuard };
  const reply = async (schoolId: string) => {
    const saved = await diary.getPublic(schoolId);
    return {
      schoolId,
      webhook: saved
        ? { url: saved.webhookUrl, secretSet: saved.secretSet, updatedAt: saved.updatedAt }
        : null,
    };
  };

  app.put(
    '/schools/:id/diary',
    {
      ...admin,
      schema: {
        tags: ['diary'],
        summary: "Set the portal's webhook the school's call links are pushed to (V4)",
        security: [{ bearer: [] }],
        params: schoolParams,
        body: diarySettingsBody,
        response: { 200: diarySettingsReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const { webhookUrl, secret } = request.body;
      const problem = webhookUrlProblem(webhookUrl, { devMode: ctx.devMode });
      if (problem !== null) {
        throw new ApiError('invalid_input', 'invalid webhook', [
          { path: 'webhookUrl', message: problem },
        ]);
      }
      await diary.save({ schoolId: request.params.id, webhookUrl, secret });
      // Events recorded before the webhook existed are pushed now, in order.
      await ctx.gateway.diaryEventsAdded({ schoolId: request.params.id });
      return reply(request.params.id);
    },
  );

  app.get(
    '/schools/:id/diary',
    {
      ...admin,
      schema: {
        tags: ['diary'],
        summary: "The school's e-diary webhook (never its secret)",
        security: [{ bearer: [] }],
        params: schoolParams,
        response: { 200: diarySettingsReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    (request) => reply(request.params.id),
  );

  app.get(
    '/schools/:id/diary/status',
    {
      ...admin,
      schema: {
        tags: ['diary'],
        summary: 'What the e-diary has not got yet, and what the portal answered since when',
        security: [{ bearer: [] }],
        params: schoolParams,
        response: { 200: diaryStatusReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const schoolId = request.params.id;
      const [saved, pending] = await Promise.all([
        diary.getPublic(schoolId),
        outbox.undelivered({ schoolId, limit: STATUS_MAX }),
      ]);
      return {
        schoolId,
        webhook: saved !== null,
        undelivered: pending.length,
        failing: pending
          .filter((e) => e.delivery.state === 'failing')
          .map(({ event, delivery }) => ({
            eventId: event.eventId,
            lessonId: event.lessonId,
            kind: event.kind,
            lastError: delivery.lastError,
            failingSince: delivery.failingSince?.getTime() ?? null,
            attempts: delivery.attempts,
          })),
      };
    },
  );

  app.delete(
    '/schools/:id/diary',
    {
      ...admin,
      schema: {
        tags: ['diary'],
        summary: 'Stop pushing: the portal reads the feed instead',
        security: [{ bearer: [] }],
        params: schoolParams,
        body: noBody,
        response: { 200: diarySettingsReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      if (!(await diary.remove(request.params.id))) throw notFound('diary webhook');
      return reply(request.params.id);
    },
  );

  app.get(
    '/schools/:id/diary/events',
    {
      onRequest: ctx.authenticate,
      preValidation: diaryFeedGuard,
      schema: {
        tags: ['diary'],
        summary:
          "The school's e-diary events after a cursor, oldest first: link published, changed, withdrawn (V4)",
        security: [{ bearer: [] }],
        params: schoolParams,
        querystring: feedQuery,
        response: { 200: feedReply, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const { after, limit } = request.query;
      const entries = await outbox.list({ schoolId: request.params.id, after, limit });
      const events = entries.map((e) => e.event);
      return { events, next: events.at(-1)?.cursor ?? after };
    },
  );
}
