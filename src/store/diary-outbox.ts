import { MongoServerError, type Db } from 'mongodb';
import { z } from 'zod';
import { diaryEventSchema, type DiaryEvent } from '../diary/events';

/**
 * The e-diary outbox: every change of a lesson's call link (published, changed, withdrawn) is
 * written here once, in the activity that changed the link, and delivered from here: pushed to the
 * school's webhook by the delivery workflow, and listed by the feed the portal may poll. An
 * event's `_id` is its idempotency key, one per (lesson, event, call), so a retried activity
 * writes it once; its `cursor` orders a school's events for the feed and for delivery.
 */

const deliveryStates = ['pending', 'delivered', 'failing', 'rejected', 'feedOnly'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

const deliverySchema = z.object({
  state: z.enum(deliveryStates),
  attempts: z.number().int(),
  /** What the portal (or the network) last answered, e.g. "portal answered 503". */
  lastError: z.string().nullable(),
  failingSince: z.date().nullable(),
  deliveredAt: z.date().nullable(),
});
export type Delivery = z.infer<typeof deliverySchema>;

const outboxDocSchema = z.object({
  _id: z.string(),
  event: diaryEventSchema,
  delivery: deliverySchema,
});
type OutboxDoc = z.infer<typeof outboxDocSchema>;

export interface OutboxEntry {
  readonly event: DiaryEvent;
  readonly delivery: Delivery;
}

export interface NewDiaryEvent {
  readonly schoolId: string;
  readonly journalId: string;
  readonly lessonId: string;
  readonly kind: DiaryEvent['kind'];
  readonly joinLink: string | null;
  /** The call the event is about: with the lesson and the kind it makes the idempotency key. */
  readonly callKey: string;
}

export interface DiaryOutbox {
  ensureIndexes(): Promise<void>;
  /** Writes the event unless it is there already; true when this call wrote it. */
  record(event: NewDiaryEvent): Promise<boolean>;
  get(eventId: string): Promise<OutboxEntry | null>;
  /** The school's events after `after` in cursor order: the feed, and what delivery works through. */
  list(args: { schoolId: string; after: number; limit: number }): Promise<OutboxEntry[]>;
  /** The school's events not yet delivered or given up, in cursor order. */
  undelivered(args: { schoolId: string; limit: number }): Promise<OutboxEntry[]>;
  /** Every event of these lessons, oldest first: the audit reads what the diary got. */
  linkEventsOf(args: { schoolId: string; lessonIds: readonly string[] }): Promise<OutboxEntry[]>;
  /** The newest event of each of these lessons, for the journal page and the call view. */
  latestForLessons(args: {
    schoolId: string;
    lessonIds: readonly string[];
  }): Promise<OutboxEntry[]>;
  markDelivered(eventId: string): Promise<void>;
  markFailing(eventId: string, error: string): Promise<void>;
  markSettled(eventId: string, state: 'rejected' | 'feedOnly', error: string | null): Promise<void>;
}

export const diaryEventId = (
  e: Pick<NewDiaryEvent, 'schoolId' | 'lessonId' | 'kind' | 'callKey'>,
) => `${e.schoolId}/${e.lessonId}/${e.kind}/${e.callKey}`;

const DUPLICATE_KEY = 11000;

/** False when the write lost a race on its key; any other failure is thrown. */
async function claimed(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
    throw error;
  }
}
/** A bell's worth of journals of one school taking cursors at once. */
const CURSOR_ATTEMPTS = 200;

export function createDiaryOutbox(db: Db): DiaryOutbox {
  const outbox = db.collection<OutboxDoc>('diary_outbox');
  const cursors = db.collection<{ _id: string; seq: number }>('diary_cursors');
  const claims = db.collection<{ _id: string }>('diary_cursor_claims');

  const entry = (doc: unknown): OutboxEntry => {
    const parsed = outboxDocSchema.parse(doc);
    return { event: parsed.event, delivery: parsed.delivery };
  };

  /**
   * The school's next cursor. FerretDB's findAndModify and filtered updates are not atomic
   * (concurrent increments return the same value), but an insert under a taken `_id` always
   * fails: a cursor is claimed by inserting `<school>/<cursor>`, trying the next on a clash. The
   * counter only says where to begin. Several journals of a school start at one bell.
   */
  async function nextCursor(schoolId: string): Promise<number> {
    let seq = ((await cursors.findOne({ _id: schoolId }))?.seq ?? 0) + 1;
    for (let attempt = 0; attempt < CURSOR_ATTEMPTS; attempt++, seq++) {
      if (!(await claimed(claims.insertOne({ _id: `${schoolId}/${seq}` })))) continue;
      await claimed(
        cursors.updateOne(
          { _id: schoolId, seq: { $lt: seq } },
          { $set: { seq } },
          { upsert: true },
        ),
      );
      return seq;
    }
    throw new Error(`the diary cursor of school ${schoolId} stayed contended`);
  }

  async function setDelivery(eventId: string, patch: Partial<Delivery>): Promise<void> {
    const set = Object.fromEntries(Object.entries(patch).map(([k, v]) => [`delivery.${k}`, v]));
    await outbox.updateOne({ _id: eventId }, { $set: set });
  }

  async function linkEventsOf(args: {
    schoolId: string;
    lessonIds: readonly string[];
  }): Promise<OutboxEntry[]> {
    if (args.lessonIds.length === 0) return [];
    const docs = await outbox
      .find({ 'event.schoolId': args.schoolId, 'event.lessonId': { $in: [...args.lessonIds] } })
      .sort({ 'event.cursor': 1 })
      .toArray();
    return docs.map(entry);
  }

  return {
    async ensureIndexes() {
      await outbox.createIndex({ 'event.schoolId': 1, 'event.cursor': 1 });
      await outbox.createIndex({ 'event.schoolId': 1, 'event.lessonId': 1 });
    },
    async record(input) {
      const eventId = diaryEventId(input);
      if (await outbox.findOne({ _id: eventId }, { projection: { _id: 1 } })) return false;
      const event: DiaryEvent = {
        eventId,
        cursor: await nextCursor(input.schoolId),
        schoolId: input.schoolId,
        journalId: input.journalId,
        lessonId: input.lessonId,
        kind: input.kind,
        joinLink: input.joinLink,
        occurredAt: new Date().toISOString(),
      };
      const delivery: Delivery = {
        state: 'pending',
        attempts: 0,
        lastError: null,
        failingSince: null,
        deliveredAt: null,
      };
      try {
        await outbox.insertOne({ _id: eventId, event, delivery });
        return true;
      } catch (error) {
        // A retried activity racing its earlier attempt: the event is there once, a cursor is skipped.
        if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
        throw error;
      }
    },
    async get(eventId) {
      const doc = await outbox.findOne({ _id: eventId });
      return doc ? entry(doc) : null;
    },
    async list({ schoolId, after, limit }) {
      const docs = await outbox
        .find({ 'event.schoolId': schoolId, 'event.cursor': { $gt: after } })
        .sort({ 'event.cursor': 1 })
        .limit(limit)
        .toArray();
      return docs.map(entry);
    },
    async undelivered({ schoolId, limit }) {
      const docs = await outbox
        .find({ 'event.schoolId': schoolId, 'delivery.state': { $in: ['pending', 'failing'] } })
        .sort({ 'event.cursor': 1 })
        .limit(limit)
        .toArray();
      return docs.map(entry);
    },
    linkEventsOf,
    async latestForLessons(args) {
      const latest = new Map<string, OutboxEntry>();
      for (const e of await linkEventsOf(args)) latest.set(e.event.lessonId, e);
      return [...latest.values()];
    },
    async markDelivered(eventId) {
      await setDelivery(eventId, { state: 'delivered', deliveredAt: new Date(), lastError: null });
      await outbox.updateOne({ _id: eventId }, { $inc: { 'delivery.attempts': 1 } });
    },
    async markFailing(eventId, error) {
      await outbox.updateOne(
        { _id: eventId, 'delivery.failingSince': null },
        { $set: { 'delivery.failingSince': new Date() } },
      );
      await outbox.updateOne(
        { _id: eventId },
        {
          $set: { 'delivery.state': 'failing', 'delivery.lastError': error },
          $inc: { 'delivery.attempts': 1 },
        },
      );
    },
    async markSettled(eventId, state, error) {
      await setDelivery(eventId, { state, lastError: error });
    },
  };
}
