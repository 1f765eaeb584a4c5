import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Db } from 'mongodb';
import type { SettingsStore } from '../store/settings-store';
import type { WorkflowGateway } from '../client/workflow-gateway';
import type { PlanPort, RosterPort } from './ports';

/** The Fastify instance with zod schemas as its type provider. */
export type ZodApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What every route module receives. */
export interface RouteContext {
  readonly db: Db;
  readonly gateway: WorkflowGateway;
  readonly settings: SettingsStore;
  readonly roster: RosterPort;
  readonly plans: PlanPort;
  readonly clock: () => number;
  /** Allows an e-diary webhook on plain http or this machine (the portal emulator). */
  readonly devMode: boolean;
  /** The `onRequest` hook of every route that needs a credential. */
  readonly authenticate: (request: FastifyRequest) => Promise<void>;
  readonly readiness: { temporal(): Promise<boolean> };
}
