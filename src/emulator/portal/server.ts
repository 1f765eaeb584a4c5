import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  HttpError,
  answerErrors,
  closeServer,
  listen,
  parseJson,
  parseWith,
  sendJson,
} from '../kit/http';
import {
  DiaryInbox,
  readText,
  type PortalFaults,
  type PortalState,
  type ReceivedDelivery,
} from './inbox';

/**
 * The city portal emulator: stands in for the e-diary in the demo and the tests. The real
 * portal's interface is not public; this is the contract we offer portals (docs/diary.md), so
 * the emulator is as strict as we ask a portal to be: signature, timestamp window, idempotency.
 * `POST /diary/webhook` is the portal's side (`inbox.ts`); `/__portal/…` is for tests and the
 * demo only.
 */

export type { PortalFaults, PortalState, ReceivedDelivery, Rejection } from './inbox';

export interface PortalEmulator {
  readonly url: string;
  readonly port: number;
  addSchool(schoolId: string, secret: string): void;
  deliveries(): readonly ReceivedDelivery[];
  /** Events stored, each once however often it was delivered. */
  distinct(): number;
  /** Replaces the faults in force (`{}` clears them). */
  setFaults(faults: PortalFaults): void;
  state(): PortalState;
  close(): Promise<void>;
}

export interface CreatePortalEmulatorArgs {
  /** 0 or absent: a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly schools?: readonly { schoolId: string; secret: string }[];
  readonly now?: () => number;
}

export const WEBHOOK_PATH = '/diary/webhook';

const schoolBody = z.object({ schoolId: z.string().min(1), secret: z.string().min(8) }).strict();

/** Starts the portal emulator; resolves once it listens. */
export async function createPortalEmulator(
  args: CreatePortalEmulatorArgs = {},
): Promise<PortalEmulator> {
  const inbox = new DiaryInbox(args.now ?? Date.now);
  for (const s of args.schools ?? []) inbox.addSchool(s.schoolId, s.secret);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://portal.local');
    if (pathname === WEBHOOK_PATH) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      return inbox.receive(req, res);
    }
    if (pathname.startsWith('/__portal/')) return control(inbox, req, res, pathname);
    sendJson(res, 404, { error: `not found: ${pathname}` });
  }

  const server = createServer((req, res) => answerErrors(res, route(req, res)));
  const { port, url } = await listen(server, args.port ?? 0, args.host ?? '127.0.0.1');

  return {
    url,
    port,
    addSchool: (schoolId, secret) => inbox.addSchool(schoolId, secret),
    deliveries: () => inbox.deliveries(),
    distinct: () => inbox.distinct(),
    setFaults: (faults) => void inbox.setFaults(faults),
    state: () => inbox.state(),
    close: () => closeServer(server),
  };
}

/** `/__portal/…`: the state, the faults, and schools added. */
async function control(
  inbox: DiaryInbox,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const route = `${req.method ?? 'GET'} ${path}`;
  switch (route) {
    case 'GET /__portal/state':
      return sendJson(res, 200, inbox.state());
    case 'POST /__portal/faults':
      return sendJson(res, 200, inbox.setFaults(parseJson(await readText(req))));
    case 'POST /__portal/schools': {
      const body = parseWith(schoolBody, parseJson(await readText(req)));
      inbox.addSchool(body.schoolId, body.secret);
      return sendJson(res, 200, { ok: true, schoolId: body.schoolId });
    }
    default:
      throw new HttpError(404, `no control endpoint ${route}`);
  }
}
