import type { Db } from 'mongodb';
import type { RateSlots } from '../contracts/rate-slots';

export const RATE_SLOTS = 'vk_rate_slots';

/** Claims older than this are no one's concern: a second has long passed. */
const KEEP_MS = 60_000;

/**
 * The platform's request slots in MongoDB. A claim is an insert of the slot's `_id`: the unique
 * `_id` is the one write FerretDB makes atomic across connections (its filtered updates are not),
 * so two processes never both win a slot. Old claims are deleted by whichever process claims next
 * after a minute (FerretDB 1.x has no TTL index).
 */
export function createRateSlots(db: Db, now: () => number = Date.now): RateSlots {
  const slots = db.collection<{ _id: string; at: Date }>(RATE_SLOTS);
  let prunedAt = 0;
  return {
    async claim({ key, bucket, at }) {
      const time = now();
      if (time - prunedAt > KEEP_MS) {
        prunedAt = time;
        await slots.deleteMany({ at: { $lt: new Date(time - KEEP_MS) } });
      }
      try {
        await slots.insertOne({ _id: `${key}#${bucket}`, at });
        return true;
      } catch (error) {
        if ((error as { code?: unknown }).code === 11000) return false;
        throw error;
      }
    },
  };
}
