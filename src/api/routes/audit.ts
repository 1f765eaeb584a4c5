import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import { z } from 'zod';
import { runAudit, type AuditReport, type ReplayWorkflowSource } from '../../audit/replay-audit';
import { formatCsv, formatText, toJson } from '../../audit/report';
import { idSchema } from '../../contracts/roster';
import { workflowSourceFromEnv } from '../../process/worker';
import { schoolAdminGuard } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { ApiError, errorReplies } from '../errors';
import { schoolParams } from '../schemas';
import { bundleWorkflows } from '../../process/workflow-bundling';

/** What the audit route needs: the replay audit over one school's archive (and server). */
export interface AuditPort {
  run(args: {
    schoolId: string;
    journalId?: string;
    from: string;
    to: string;
  }): Promise<AuditReport>;
}

/**
 * The audit over `db`, and over the server's open runs when a client is given. The workflow code
 * is bundled once per process (seconds of webpack), then every audit replays against it.
 */
export function createAuditPort(deps: { db: Db; client?: Client }): AuditPort {
  let workflows: Promise<ReplayWorkflowSource> | undefined;
  const source = (): Promise<ReplayWorkflowSource> => {
    workflows ??= (async () => {
      const configured = workflowSourceFromEnv();
      if ('workflowBundle' in configured && configured.workflowBundle) return configured;
      const path = 'workflowsPath' in configured ? configured.workflowsPath : undefined;
      if (!path) throw new Error('no workflow code to replay');
      return { workflowBundle: await bundleWorkflows({ workflowsPath: path }) };
    })();
    return workflows;
  };
  return {
    async run(args) {
      return runAudit({
        db: deps.db,
        ...(deps.client ? { client: deps.client } : {}),
        ...args,
        ...(args.journalId === undefined ? {} : { journalId: args.journalId }),
        workflows: await source(),
      });
    },
  };
}

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
