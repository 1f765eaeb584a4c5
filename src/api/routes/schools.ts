import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import {
  changeSetSchema,
  personKinds,
  rosterSnapshotSchema,
  vkLinkEventSchema,
} from '../../contracts/roster';
import { schoolSettingsInputSchema } from '../../contracts/settings';
import { chatKinds, planChats } from '../../domain/chat-plan';
import { actorOf, schoolAdminGuard } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { ApiError, errorReplies, notFound } from '../errors';
import {
  approveResultSchema,
  importOutcomeSchema,
  noBody,
  planParams,
  planSchema,
  publicSettingsSchema,
  runIdSchema,
  schoolParams,
  syncStatusSchema,
} from '../schemas';

const ADMIN_ERRORS = [400, 401, 403, 404, 429] as const;

/**
 * Roster bodies are validated by the importer, not by Fastify: the importer checks references
 * between records too and reports every error at once, which a schema alone cannot. The schema
 * stays on the route for the OpenAPI document.
 */
const passThrough: FastifySchemaCompiler<unknown> = () => (data: unknown) => ({ value: data });

/**
 * A large school with a whole year of lessons is about 5 MiB of JSON and validates in well under
 * a second; the limit leaves room to grow while bounding how long one import can hold the event
 * loop.
 */
const ROSTER_BODY_LIMIT = 16 * 1024 * 1024;

export const noVkIdSchema = z
  .object({
    schoolId: z.string(),
    chats: z.array(
      z.object({
        chatKey: z.string(),
        kind: z.enum(chatKinds),
        title: z.string(),
        members: z.number(),
        people: z.array(
          z.object({ personKind: z.enum(personKinds), personId: z.string(), name: z.string() }),
        ),
      }),
    ),
  })
  .meta({ id: 'PeopleWithoutVkId' });

function assertSameSchool(pathSchoolId: string, bodySchoolId: unknown, field: string): void {
  if (typeof bodySchoolId === 'string' && bodySchoolId !== pathSchoolId) {
    throw new ApiError('invalid_input', 'invalid body', [
      { path: field, message: 'must equal the school ID in the URL' },
    ]);
  }
}

function fullName(p: {
  lastName: string;
  firstName: string;
  middleName?: string | undefined;
}): string {
  return [p.lastName, p.firstName, p.middleName]
    .filter((s) => s !== undefined && s !== '')
    .join(' ');
}

/** Every school-scoped route, each group behind the school admin guard. */
export function registerSchoolRoutes(app: ZodApp, ctx: RouteContext): void {
  registerSettingsRoutes(app, ctx);
  registerRosterRoutes(app, ctx);
  registerSyncRoutes(app, ctx);
  registerStatusRoutes(app, ctx);
}

/** The guard and the OpenAPI security every school route declares. */
function schoolRouteAuth(ctx: RouteContext) {
  return {
    auth: { onRequest: ctx.authenticate, preValidation: schoolAdminGuard },
    security: [{ bearer: [] }],
  };
}

/** S1–S3: the community, its token, the proxy and the period. */
function registerSettingsRoutes(app: ZodApp, ctx: RouteContext): void {
  const { gateway, settings } = ctx;
  const { auth, security } = schoolRouteAuth(ctx);
  app.put(
    '/schools/:id/settings',
    {
      ...auth,
      schema: {
        tags: ['schools'],
        summary: 'Save the school settings: community ID and token (S1), proxy (S2), period (S3)',
        description:
          'The reply never contains the token or the proxy password, only whether they are set.',
        security,
        params: schoolParams,
        body: schoolSettingsInputSchema,
        response: { 200: publicSettingsSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const saved = await settings.save({ schoolId: request.params.id, input: request.body });
      await gateway.settingsChanged({ schoolId: request.params.id, period: saved.period });
      return saved;
    },
  );

  app.get(
    '/schools/:id/settings',
    {
      ...auth,
      schema: {
        tags: ['schools'],
        summary: 'The school settings without secrets',
        security,
        params: schoolParams,
        response: { 200: publicSettingsSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const found = await settings.getPublic(request.params.id);
      if (found === null) throw notFound('settings');
      return found;
    },
  );
}

/** The roster imports: a whole school, a change set, VK ID links (S4). */
function registerRosterRoutes(app: ZodApp, ctx: RouteContext): void {
  const { roster } = ctx;
  const { auth, security } = schoolRouteAuth(ctx);
  app.post(
    '/schools/:id/roster',
    {
      ...auth,
      bodyLimit: ROSTER_BODY_LIMIT,
      validatorCompiler: passThrough,
      schema: {
        tags: ['roster'],
        summary:
          'Import a full roster snapshot; every error is listed with its path and nothing is written on error',
        security,
        params: schoolParams,
        body: rosterSnapshotSchema,
        response: { 200: importOutcomeSchema, ...errorReplies(...ADMIN_ERRORS, 413) },
      },
    },
    async (request) => {
      const params = schoolParams.parse(request.params);
      const body: unknown = request.body;
      const school =
        typeof body === 'object' && body !== null
          ? (body as { school?: unknown }).school
          : undefined;
      assertSameSchool(
        params.id,
        typeof school === 'object' && school !== null ? (school as { id?: unknown }).id : undefined,
        'school.id',
      );
      return roster.importSnapshot({ input: body });
    },
  );

  app.post(
    '/schools/:id/roster/changes',
    {
      ...auth,
      bodyLimit: ROSTER_BODY_LIMIT,
      validatorCompiler: passThrough,
      schema: {
        tags: ['roster'],
        summary: 'Apply a change set (records to upsert, IDs to remove); all or nothing',
        security,
        params: schoolParams,
        body: changeSetSchema,
        response: { 200: importOutcomeSchema, ...errorReplies(...ADMIN_ERRORS, 413) },
      },
    },
    async (request) => {
      const params = schoolParams.parse(request.params);
      const body: unknown = request.body;
      assertSameSchool(
        params.id,
        typeof body === 'object' && body !== null
          ? (body as { schoolId?: unknown }).schoolId
          : undefined,
        'schoolId',
      );
      return roster.importChangeSet({ input: body });
    },
  );

  app.post(
    '/schools/:id/vk-links',
    {
      ...auth,
      schema: {
        tags: ['roster'],
        summary: 'A VK ID link or unlink event from the city portal (P1, P2); the chats follow it',
        security,
        params: schoolParams,
        body: vkLinkEventSchema,
        response: { 200: importOutcomeSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) =>
      roster.applyVkLinkEvent({ schoolId: request.params.id, input: request.body }),
  );
}

/** The sync run now, and the plans it holds for approval (C3). */
function registerSyncRoutes(app: ZodApp, ctx: RouteContext): void {
  const { gateway, plans } = ctx;
  const { auth, security } = schoolRouteAuth(ctx);
  app.post(
    '/schools/:id/sync',
    {
      ...auth,
      schema: {
        tags: ['sync'],
        summary: 'Run the chat sync now',
        security,
        params: schoolParams,
        body: noBody,
        response: { 200: runIdSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) =>
      gateway.syncNow({
        schoolId: request.params.id,
        requestedBy: actorOf(request.principal ?? raise()),
      }),
  );

  app.get(
    '/schools/:id/plans/:planId',
    {
      ...auth,
      schema: {
        tags: ['sync'],
        summary:
          'A stored sync plan (chats to create, members to add and remove, admin changes, skipped people)',
        security,
        params: planParams,
        response: { 200: planSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const plan = await plans.getPlan({
        schoolId: request.params.id,
        planId: request.params.planId,
      });
      if (plan === null) throw notFound('plan');
      return plan;
    },
  );

  app.post(
    '/schools/:id/plans/:planId/approve',
    {
      ...auth,
      schema: {
        tags: ['sync'],
        summary: 'Approve a plan held by the mass-removal guard',
        description:
          '200 with accepted:true and the run that applies it; 404 for an unknown plan; 409 with the reason when refused.',
        security,
        params: planParams,
        body: noBody,
        response: {
          200: approveResultSchema,
          409: approveResultSchema,
          ...errorReplies(...ADMIN_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const { id: schoolId, planId } = request.params;
      const approvedBy = actorOf(request.principal ?? raise());
      // The store first: the workflow plans its next run as soon as it accepts, and the planning
      // activity applies the stored plan only if the store already says it is approved (otherwise
      // it would re-plan, and the guard would hold the same removals again).
      const marked = await plans.approve({ schoolId, planId, approvedBy });
      if (marked === 'missing') throw notFound('plan');
      if (marked === 'notHeld') {
        return reply.status(409).send({ accepted: false, reason: `plan ${planId} is not held` });
      }
      const result = await gateway.approvePlan({ schoolId, planId, approvedBy });
      return reply.status(result.accepted ? 200 : 409).send(result);
    },
  );
}

/** The school's sync status and the people the sync cannot add (no VK ID). */
function registerStatusRoutes(app: ZodApp, ctx: RouteContext): void {
  const { roster, gateway, settings } = ctx;
  const { auth, security } = schoolRouteAuth(ctx);
  app.get(
    '/schools/:id/status',
    {
      ...auth,
      schema: {
        tags: ['sync'],
        summary: 'Last sync run, next run, held plan and errors',
        description:
          '404 for a school with neither a roster nor settings; a known school whose workflow has not started yet has workflowStarted:false.',
        security,
        params: schoolParams,
        response: { 200: syncStatusSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const status = await gateway.syncStatus(request.params.id);
      if (status === null) {
        // A school we have neither a roster nor settings for is a mistyped ID, not a new school.
        const [school, saved] = await Promise.all([
          roster.getSchool(request.params.id),
          settings.getPublic(request.params.id),
        ]);
        if (school === null && saved === null) throw notFound('school');
        return {
          schoolId: request.params.id,
          workflowStarted: false,
          period: null,
          state: null,
          currentRunId: null,
          lastRun: null,
          nextRunAt: null,
          heldPlan: null,
          lastError: null,
          blocked: null,
          pendingChanges: 0,
        };
      }
      return { ...status, workflowStarted: true };
    },
  );

  app.get(
    '/schools/:id/no-vk-id',
    {
      ...auth,
      schema: {
        tags: ['roster'],
        summary: 'People each chat should have but cannot, for want of a linked VK ID (S4)',
        description: "For the school's own admin page: it names people, so it is never logged.",
        security,
        params: schoolParams,
        response: { 200: noVkIdSchema, ...errorReplies(...ADMIN_ERRORS) },
      },
    },
    async (request) => {
      const loaded = await roster.loadRoster(request.params.id);
      if (loaded === null) throw notFound('roster');
      const plan = planChats(loaded);
      const names = new Map<string, string>();
      for (const s of loaded.staff) names.set(`staff:${s.id}`, fullName(s));
      for (const s of loaded.students) names.set(`student:${s.id}`, fullName(s));
      for (const p of loaded.parents) names.set(`parent:${p.id}`, fullName(p));
      const chats = plan.chats.map((chat) => ({
        chatKey: chat.key,
        kind: chat.kind,
        title: chat.title,
        members: chat.members.length,
        people: plan.skipped
          .filter((s) => s.chatKey === chat.key)
          .map((s) => ({
            personKind: s.personKind,
            personId: s.personId,
            name: names.get(`${s.personKind}:${s.personId}`) ?? '',
          })),
      }));
      return { schoolId: request.params.id, chats: chats.filter((c) => c.people.length > 0) };
    },
  );
}

function raise(): never {
  throw new ApiError('unauthorized', 'authentication required');
}
