import { MongoServerError, type Db } from 'mongodb';

/**
 * The Callback API's `event_id`s already accepted, per school: VK sends an event again when our
 * answer was late, and a replayed body must change nothing. Kept a week (TTL), far longer than
 * VK retries an event. FerretDB has no TTL indexes, so accepting prunes now and then.
 */
export interface CallbackEventLog {
  ensureIndexes(): Promise<void>;
  /** false when this school's event was accepted before. */
  accept(args: { schoolId: string; eventId: string }): Promise<boolean>;
  /** Forgets an accepted event that could not be handed on, so VK's next delivery is taken. */
  release(args: { schoolId: string; eventId: string }): Promise<void>;
}

const KEPT_MS = 7 * 24 * 3600_000;
/** One accept in this many prunes what is older than KEPT_MS. */
const PRUNE_EVERY = 200;
const DUPLICATE_KEY = 11000;

export function createCallbackEventLog(db: Db): CallbackEventLog {
  const events = db.collection<{ _id: string; receivedAt: Date }>('callback_events');
  return {
    async ensureIndexes() {
      await events.createIndex({ receivedAt: 1 });
    },
    async accept({ schoolId, eventId }) {
      if (Math.random() < 1 / PRUNE_EVERY) {
        await events.deleteMany({ receivedAt: { $lt: new Date(Date.now() - KEPT_MS) } });
      }
      try {
        await events.insertOne({ _id: `${schoolId}/${eventId}`, receivedAt: new Date() });
        return true;
      } catch (error) {
        if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
        throw error;
      }
    },
    async release({ schoolId, eventId }) {
      await events.deleteOne({ _id: `${schoolId}/${eventId}` });
    },
  };
}
