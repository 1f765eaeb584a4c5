import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  DIARY_IDEMPOTENCY_HEADER,
  DIARY_SIGNATURE_HEADER,
  DIARY_TIMESTAMP_HEADER,
  diaryEventSchema,
  verifyDiarySignature,
  type DiaryEvent,
} from '../../diary/events';
import {
  HttpError,
  answerErrors,
  closeServer,
  listen,
  parseJson,
  parseWith,
  readBody,
  sendJson,
} from '../kit/http';

/**
 * The city portal emulator: stands in for the e-diary in the demo and the tests. The real
 * portal's interface is not public; this is the contract we offer portals (docs/diary.md), so
 * the emulator is as strict as we ask a portal to be: signature, timestamp window, idempotency.
 * `POST /diary/webhook` is the portal's side; `/__portal/…` is for tests and the demo only.
 */

export interface PortalFaults {
  /** The next N webhook requests answer `failStatus`. */
  readonly failNext?: number;
  readonly failStatus?: number;
  /** Added before every webhook request is handled. */
  readonly delayMs?: number;
  /** The next N webhook requests get no answer at all, until the client gives up. */
  readonly hangNext?: number;
  /** Every webhook request answers 503. */
  readonly down?: boolean;
  /** The next N new events are stored, then answered 500: the retry must come back a duplicate. */
  readonly ackThenFail?: number;
}

export interface ReceivedDelivery {
  readonly event: DiaryEvent;
  readonly receivedAt: string;
  /** Requests that carried this event's idempotency key, faulted ones included. */
  readonly attempts: number;
}

export interface Rejection {
  readonly status: number;
  readonly reason: string;
  readonly at: string;
}

export interface PortalState {
  readonly schools: readonly string[];
  readonly deliveries: readonly ReceivedDelivery[];
  readonly distinct: number;
  readonly duplicates: number;
  readonly rejected: number;
  /** The latest rejections, newest last. */
  readonly rejections: readonly Rejection[];
  readonly faults: PortalFaults;
}

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

/** An event is a few hundred bytes; anything near this is not one. */
const MAX_BODY_BYTES = 64 * 1024;
const KEPT_REJECTIONS = 50;
export const WEBHOOK_PATH = '/diary/webhook';

const count = z.number().int().min(0).max(1_000_000);
const faultsSchema = z
  .object({
    failNext: count,
    failStatus: z.number().int().min(400).max(599),
    delayMs: z.number().int().min(0).max(600_000),
    hangNext: count,
    down: z.boolean(),
    ackThenFail: count,
  })
  .partial()
  .strict();
const schoolBody = z.object({ schoolId: z.string().min(1), secret: z.string().min(8) }).strict();
const schoolOf = z.object({ schoolId: z.string().min(1) });

async function readText(req: IncomingMessage): Promise<string> {
  return (await readBody(req, MAX_BODY_BYTES)).toString('utf8');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Starts the portal emulator; resolves once it listens. */
export async function createPortalEmulator(
  args: CreatePortalEmulatorArgs = {},
): Promise<PortalEmulator> {
  const now = args.now ?? Date.now;
  const secrets = new Map<string, string>();
  const stored = new Map<string, { event: DiaryEvent; receivedAt: string }>();
  const attempts = new Map<string, number>();
  const rejections: Rejection[] = [];
  let rejected = 0;
  let duplicates = 0;
  let faults: PortalFaults = {};

  function addSchool(schoolId: string, secret: string): void {
    secrets.set(schoolId, secret);
  }
  for (const s of args.schools ?? []) addSchool(s.schoolId, s.secret);

  /** Takes one from a countdown fault; true when it was armed. */
  function take(key: 'failNext' | 'hangNext' | 'ackThenFail'): boolean {
    const left = faults[key] ?? 0;
    if (left <= 0) return false;
    faults = { ...faults, [key]: left - 1 };
    return true;
  }

  function recordRejection(err: HttpError): void {
    rejected++;
    rejections.push({ status: err.status, reason: err.message, at: new Date(now()).toISOString() });
    if (rejections.length > KEPT_REJECTIONS) rejections.shift();
  }

  /** A fault in force, or nothing; faults strike before the portal looks at the request. */
  async function injected(res: ServerResponse): Promise<boolean> {
    if (faults.down === true) {
      sendJson(res, 503, { error: 'portal is down (injected)' });
      return true;
    }
    // Never answered: the socket stays open until the client times out or the emulator closes.
    if (take('hangNext')) return true;
    if ((faults.delayMs ?? 0) > 0) await sleep(faults.delayMs);
    if (take('failNext')) {
      sendJson(res, faults.failStatus ?? 503, { error: 'injected fault' });
      return true;
    }
    return false;
  }

  /** The signature is checked before the body's shape, so a forger learns nothing about it. */
  function authenticate(req: IncomingMessage, text: string): DiaryEvent {
    const json = parseJson(text);
    const { schoolId } = parseWith(schoolOf, json);
    const secret = secrets.get(schoolId);
    if (secret === undefined) throw new HttpError(401, 'unknown school');
    const signed = verifyDiarySignature({
      secret,
      timestamp: header(req, DIARY_TIMESTAMP_HEADER),
      signature: header(req, DIARY_SIGNATURE_HEADER),
      body: text,
      now: now(),
    });
    if (!signed) throw new HttpError(401, 'bad or expired signature');
    return parseWith(diaryEventSchema, json);
  }

  async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await serveWebhook(req, res);
    } catch (err) {
      if (err instanceof HttpError) recordRejection(err);
      throw err;
    }
  }

  async function serveWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readText(req);
    const key = header(req, DIARY_IDEMPOTENCY_HEADER);
    if (key !== undefined) attempts.set(key, (attempts.get(key) ?? 0) + 1);
    if (await injected(res)) return;
    const event = authenticate(req, text);
    if (key !== event.eventId) {
      throw new HttpError(400, `${DIARY_IDEMPOTENCY_HEADER} must equal eventId`);
    }
    if (stored.has(key)) {
      duplicates++;
      return sendJson(res, 200, { ok: true, duplicate: true });
    }
    stored.set(key, { event, receivedAt: new Date(now()).toISOString() });
    if (take('ackThenFail')) return sendJson(res, 500, { error: 'stored, then failed (injected)' });
    sendJson(res, 200, { ok: true, duplicate: false });
  }

  function deliveries(): ReceivedDelivery[] {
    return [...stored.values()].map((d) => ({
      event: d.event,
      receivedAt: d.receivedAt,
      attempts: attempts.get(d.event.eventId) ?? 1,
    }));
  }

  function state(): PortalState {
    return {
      schools: [...secrets.keys()],
      deliveries: deliveries(),
      distinct: stored.size,
      duplicates,
      rejected,
      rejections: [...rejections],
      faults,
    };
  }

  async function handleControl(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<void> {
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /__portal/state':
        return sendJson(res, 200, state());
      case 'POST /__portal/faults':
        faults = parseWith(faultsSchema, parseJson(await readText(req))) as PortalFaults;
        return sendJson(res, 200, faults);
      case 'POST /__portal/schools': {
        const body = parseWith(schoolBody, parseJson(await readText(req)));
        addSchool(body.schoolId, body.secret);
        return sendJson(res, 200, { ok: true, schoolId: body.schoolId });
      }
      default:
        throw new HttpError(404, `no control endpoint ${route}`);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://portal.local');
    if (pathname === WEBHOOK_PATH) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      return handleWebhook(req, res);
    }
    if (pathname.startsWith('/__portal/')) return handleControl(req, res, pathname);
    sendJson(res, 404, { error: `not found: ${pathname}` });
  }

  const server = createServer((req, res) => answerErrors(res, route(req, res)));
  const { port, url } = await listen(server, args.port ?? 0, args.host ?? '127.0.0.1');

  return {
    url,
    port,
    addSchool,
    deliveries,
    distinct: () => stored.size,
    setFaults(f) {
      faults = parseWith(faultsSchema, f) as PortalFaults;
    },
    state,
    close: () => closeServer(server),
  };
}
