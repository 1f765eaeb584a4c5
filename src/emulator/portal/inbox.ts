import type { IncomingMessage, ServerResponse } from 'node:http';
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
import { HttpError, parseJson, parseWith, readBody, sendJson } from '../kit/http';

/**
 * The portal's webhook side: what it received, from which schools, and the faults it injects.
 * As strict as we ask a portal to be (docs/diary.md): signature, timestamp window, idempotency.
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

/** An event is a few hundred bytes; anything near this is not one. */
const MAX_BODY_BYTES = 64 * 1024;
const KEPT_REJECTIONS = 50;

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
const schoolOf = z.object({ schoolId: z.string().min(1) });

export async function readText(req: IncomingMessage): Promise<string> {
  return (await readBody(req, MAX_BODY_BYTES)).toString('utf8');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class DiaryInbox {
  readonly #secrets = new Map<string, string>();
  readonly #stored = new Map<string, { event: DiaryEvent; receivedAt: string }>();
  /** Requests per idempotency key, faulted ones included. */
  readonly #attempts = new Map<string, number>();
  readonly #rejections: Rejection[] = [];
  #rejected = 0;
  #duplicates = 0;
  #faults: PortalFaults = {};

  constructor(private readonly now: () => number) {}

  addSchool(schoolId: string, secret: string): void {
    this.#secrets.set(schoolId, secret);
  }

  /** Replaces the faults in force, checked against their schema (`{}` clears them). */
  setFaults(faults: unknown): PortalFaults {
    this.#faults = parseWith(faultsSchema, faults) as PortalFaults;
    return this.#faults;
  }

  /** Stores a webhook delivery once per event, answering as a portal would; a refusal is recorded. */
  async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.#serve(req, res);
    } catch (err) {
      if (err instanceof HttpError) this.#recordRejection(err);
      throw err;
    }
  }

  distinct(): number {
    return this.#stored.size;
  }

  deliveries(): ReceivedDelivery[] {
    return [...this.#stored.values()].map((d) => ({
      event: d.event,
      receivedAt: d.receivedAt,
      attempts: this.#attempts.get(d.event.eventId) ?? 1,
    }));
  }

  state(): PortalState {
    return {
      schools: [...this.#secrets.keys()],
      deliveries: this.deliveries(),
      distinct: this.#stored.size,
      duplicates: this.#duplicates,
      rejected: this.#rejected,
      rejections: [...this.#rejections],
      faults: this.#faults,
    };
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readText(req);
    const key = header(req, DIARY_IDEMPOTENCY_HEADER);
    if (key !== undefined) this.#attempts.set(key, (this.#attempts.get(key) ?? 0) + 1);
    if (await this.#injected(res)) return;
    const event = this.#authenticate(req, text);
    if (key !== event.eventId) {
      throw new HttpError(400, `${DIARY_IDEMPOTENCY_HEADER} must equal eventId`);
    }
    if (this.#stored.has(key)) {
      this.#duplicates++;
      return sendJson(res, 200, { ok: true, duplicate: true });
    }
    this.#stored.set(key, { event, receivedAt: new Date(this.now()).toISOString() });
    if (this.#take('ackThenFail'))
      return sendJson(res, 500, { error: 'stored, then failed (injected)' });
    sendJson(res, 200, { ok: true, duplicate: false });
  }

  /** Takes one from a countdown fault; true when it was armed. */
  #take(key: 'failNext' | 'hangNext' | 'ackThenFail'): boolean {
    const left = this.#faults[key] ?? 0;
    if (left <= 0) return false;
    this.#faults = { ...this.#faults, [key]: left - 1 };
    return true;
  }

  #recordRejection(err: HttpError): void {
    this.#rejected++;
    const at = new Date(this.now()).toISOString();
    this.#rejections.push({ status: err.status, reason: err.message, at });
    if (this.#rejections.length > KEPT_REJECTIONS) this.#rejections.shift();
  }

  /** A fault in force, or nothing; faults strike before the portal looks at the request. */
  async #injected(res: ServerResponse): Promise<boolean> {
    if (this.#faults.down === true) {
      sendJson(res, 503, { error: 'portal is down (injected)' });
      return true;
    }
    // Never answered: the socket stays open until the client times out or the emulator closes.
    if (this.#take('hangNext')) return true;
    const { delayMs } = this.#faults;
    if ((delayMs ?? 0) > 0) await sleep(delayMs);
    if (this.#take('failNext')) {
      sendJson(res, this.#faults.failStatus ?? 503, { error: 'injected fault' });
      return true;
    }
    return false;
  }

  /** The signature is checked before the body's shape, so a forger learns nothing about it. */
  #authenticate(req: IncomingMessage, text: string): DiaryEvent {
    const json = parseJson(text);
    const { schoolId } = parseWith(schoolOf, json);
    const secret = this.#secrets.get(schoolId);
    if (secret === undefined) throw new HttpError(401, 'unknown school');
    const signed = verifyDiarySignature({
      secret,
      timestamp: header(req, DIARY_TIMESTAMP_HEADER),
      signature: header(req, DIARY_SIGNATURE_HEADER),
      body: text,
      now: this.now(),
    });
    if (!signed) throw new HttpError(401, 'bad or expired signature');
    return parseWith(diaryEventSchema, json);
  }
}
