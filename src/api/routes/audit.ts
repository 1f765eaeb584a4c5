import { z } from 'zod';
import type { AuditPort } from '../../audit/port';
import { formatCsv, formatText, toJson } from '../../audit/report';
import { idSchema } from '../../contracts/roster';
import { schoolAdminGuard } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { ApiError, errorReplies } from '../errors';
import { schoolParams } from '../schemas';

const isoDate = z.iso.date();

export const auditQuery = z
  .object({
    from: isoDate,
    to: isoDate.optional(),
    journal: idSchema.optional(),
    format: z.enum(['json', 'csv', 'text']).default('json'),
  })
  .refine((q) => q.to === undefined || q.to >= q.from, {
    path: ['to'],
    error: 'must not be before from',
  });

/**
 * The report as sent: already serialized, so Fastify passes it through. JSON (the default) has
 * `rows`, `histories` and `failures`; CSV and text carry the same rows.
 */
const auditBody = z
  .string()
  .meta({ description: 'The audit report: JSON, CSV or plain text per `format`' });

/** Longest range one request may audit: a school year, so one request cannot replay forever. */
const MAX_DAYS = 366;

export function registerAuditRoutes(app: ZodApp, ctx: RouteContext, audit: AuditPort): void {
  app.get(
    '/schools/:id/audit',
    {
      onRequest: ctx.authenticate,
      preValidation: schoolAdminGuard,
      schema: {
        tags: ['audit'],
        summary:
          'Audit of missed calls by replay: every online lesson, its call, or why it had none',
        description:
          'Replays the archived journal workflow histories (and the open runs) with the decision sink on. ' +
          '`format=json` (default), `csv` or `text`. A history that no longer replays is listed under ' +
          '`failures`, and the reply is then 500 so monitoring notices the code no longer matches.',
        security: [{ bearer: [] }],
        params: schoolParams,
        querystring: auditQuery,
        response: { 200: auditBody, 500: auditBody, ...errorReplies(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      const { from, journal, format } = request.query;
      const to = request.query.to ?? from;
      if ((Date.parse(to) - Date.parse(from)) / 86_400_000 >= MAX_DAYS) {
        throw new ApiError('invalid_input', 'invalid query', [
          { path: 'to', message: `at most ${MAX_DAYS} days from "from"` },
        ]);
      }
      const report = await audit.run({
        schoolId: request.params.id,
        ...(journal === undefined ? {} : { journalId: journal }),
        from,
        to,
      });
      reply.status(report.failures.length > 0 ? 500 : 200);
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(formatCsv(report));
      if (format === 'text')
        return reply.type('text/plain; charset=utf-8').send(formatText(report));
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(toJson(report)));
    },
  );
}
