import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { createAuthStore } from '../store/auth-store';
import type { SecretBox } from '../store/secrets';
import type { SettingsStore } from '../store/settings-store';
import type { WorkflowGateway } from '../client/workflow-gateway';
import { createAuthenticate, createFailureLimiter } from './auth';
import type { RouteContext, ZodApp } from './context';
import { errorBody, handleError } from './errors';
import { registerJsonBodies } from './json-body';
import { createApiMetrics } from './metrics';
import { registerPageRoutes } from './pages/routes';
import type { PlanPort, RosterPort } from './ports';
import { createAuditPort, type AuditPort } from '../audit/port';
import { registerAuditRoutes } from './routes/audit';
import { registerDiaryRoutes } from './routes/diary';
import { registerPlatformEventRoutes } from './routes/platform-events';
import { registerHealthRoutes } from './routes/health';
import { registerJournalRoutes } from './routes/journals';
import { registerSchoolRoutes } from './routes/schools';
import { createPlanPort, createRosterPort } from './store-ports';

export interface ApiDeps {
  readonly db: Db;
  readonly gateway: WorkflowGateway;
  readonly settings: SettingsStore;
  /** Defaults to the MongoDB roster store and importer over `db`. */
  readonly roster?: RosterPort;
  /** Defaults to the plans the sync stores in `db`. */
  readonly plans?: PlanPort;
  /** Defaults to the replay audit over the history archive in `db` (no open runs from the server). */
  readonly audit?: AuditPort;
  readonly logger: Logger;
  /**
   * The routes never decrypt anything: secrets are encrypted inside `settings`. The box is part
   * of the signature so every process entry point wires the API from the same parts.
   */
  readonly secretsBox: SecretBox;
  readonly clock?: () => number;
  readonly readiness: { temporal(): Promise<boolean> };
  /**
   * Dev mode allows an e-diary webhook on plain http and on this machine (the portal emulator);
   * off by default, as in production.
   */
  readonly devMode?: boolean;
  /** Failed authentications per client address per minute before 429; 10 by default. */
  readonly authFailureLimit?: number;
}

/**
 * Every body but a roster's is a small JSON object (the settings, the largest, are under 2 KiB);
 * the roster routes set their own limit.
 */
export const BODY_LIMIT = 64 * 1024;

/** A caller-supplied request ID is kept only if it cannot smuggle anything into a log line. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request log lines carry the method and the route's pattern (`/schools/:id/status`), as the
 * metrics do: a query string may hold a page's `?token=`, and a path holds whatever a caller put
 * there, a secret included.
 */
function requestSerializer(request: FastifyRequest) {
  return {
    method: request.method,
    route: request.routeOptions.url ?? 'unmatched',
    remoteAddress: request.ip,
  };
}

/**
 * Builds the HTTP API (not listening: the CLI calls `listen`). Every route validates its input
 * and reply with zod, and the OpenAPI document at /openapi.json is generated from those schemas.
 */
export async function buildApi(deps: ApiDeps): Promise<ZodApp> {
  const clock = deps.clock ?? Date.now;
  const loggerInstance: FastifyBaseLogger = deps.logger.child(
    { component: 'api' },
    { serializers: { req: requestSerializer } },
  );
  const app = Fastify({
    loggerInstance,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    trustProxy: false,
    bodyLimit: BODY_LIMIT,
    // A URL that does not decode: answered in the one error shape, without quoting the URL.
    frameworkErrors: (error, request, reply) => {
      void handleError(error, request, reply);
    },
  }).withTypeProvider<ZodTypeProvider>();

  registerJsonBodies(app);

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((_request, reply) =>
    reply.status(404).type('application/json').send(errorBody('not_found', 'no such route')),
  );
  app.decorateRequest('principal', null);

  const metrics = createApiMetrics();
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      seconds: reply.elapsedTime / 1000,
    });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Sferum sync API',
        version: '0.1.0',
        description:
          'Journal call buttons, lessons, roster import, VK ID link events, school settings and sync. ' +
          'Errors share one shape: `{ error: { code, message, fields? } }`. Refusals by a workflow ' +
          '(a call already running, a plan that is not held) are 409 with the reason.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A school admin key (sfa.…) or a teacher token (sft.…).',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const auth = createAuthStore({ db: deps.db });
  await auth.ensureIndexes();
  const limiter = createFailureLimiter({
    limit: deps.authFailureLimit ?? 10,
    windowMs: 60_000,
    now: clock,
  });
  const ctx: RouteContext = {
    db: deps.db,
    gateway: deps.gateway,
    settings: deps.settings,
    roster: deps.roster ?? createRosterPort({ db: deps.db, gateway: deps.gateway }),
    plans: deps.plans ?? createPlanPort({ db: deps.db }),
    clock,
    devMode: deps.devMode ?? false,
    readiness: deps.readiness,
    authenticate: createAuthenticate({
      auth,
      limiter,
      onFailure: (outcome) => metrics.authFailure(outcome),
    }),
  };

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  app.get('/metrics', { schema: { hide: true } }, (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(metrics.render()),
  );
  registerHealthRoutes(app, ctx);
  registerJournalRoutes(app, ctx);
  registerSchoolRoutes(app, ctx);
  registerDiaryRoutes(app, ctx);
  registerPlatformEventRoutes(app, ctx);
  registerAuditRoutes(app, ctx, deps.audit ?? createAuditPort({ db: deps.db }));
  registerPageRoutes(app);
  return app;
}
