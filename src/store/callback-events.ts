import { MongoServerError, type Db } from 'mongodb';

/**
 * The Callback API's `event_id`s already accepted, per school: VK sends an event again when our
 * answer was late, and a replayed body must change nothing. Kept a week (TTL), far longer than
 * VK retries an event.
 */
export interface CallbackEventLog {
  ensureIndexes(): Promise<void>;
  /** false when this school's event was accepted before. */
  accept(args: { schoolId: string; eventId: string }): Promise<boolean>;
  /** Forgets an accepted event that could not be handed on, so VK's next delivery is taken. */
  release(args: { schoolId: string; eventId: string }): Promise<void>;
}

const KEPT_SECONDS = 7 * 24 * 3600;
const DUPLICATE_KEY = 11000;

export function createCallbackEventLog(db: Db): CallbackEventLog {
  const events = db.collection<{ _id: string; receivedAt: Date }>('callback_events');
  return {
    async ensureIndexes() {
      await events.createIndex({ receivedAt: 1 }, { expireAfterSeconds: KEPT_SECONDS }, {});
    },
    async accept({ schoolId, eventId }) {
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
