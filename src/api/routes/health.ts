import type { RouteContext, ZodApp } from '../context';
import { healthSchema, readySchema } from '../schemas';

/** A readiness probe must answer quickly even when a dependency hangs. */
const CHECK_TIMEOUT_MS = 2_000;

async function within(check: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealthRoutes(app: ZodApp, ctx: RouteContext): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        response: { 200: healthSchema },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Temporal and MongoDB are reachable (503 otherwise)',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      const [mongodb, temporal] = await Promise.all([
        within(async () => {
          await ctx.db.command({ ping: 1 });
          return true;
        }),
        within(() => ctx.readiness.temporal()),
      ]);
      const ready = mongodb && temporal;
      return reply.status(ready ? 200 : 503).send({
        status: ready ? ('ready' as const) : ('not ready' as const),
        checks: { mongodb, temporal },
      });
    },
  );
}
