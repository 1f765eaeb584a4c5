import type { Db } from 'mongodb';
import { z } from 'zod';
import type { EventsMode } from '../contracts/platform-listener';
import { encryptedSecretSchema, type SecretBox } from './secrets';

/**
 * How a school receives the platform's events (V5, C3, docs/platform-events.md): Bots Long Poll
 * by default (schools sit behind a proxy and cannot be reached), or the Callback API, with the
 * secret VK sends in each body and the confirmation string our endpoint answers. Both are
 * encrypted at rest like the community token and never leave the store but for the route.
 */

const eventsSettingsDocSchema = z.object({
  _id: z.string(),
  mode: z.enum(['longPoll', 'callback']),
  callbackSecret: encryptedSecretSchema.nullable(),
  confirmation: encryptedSecretSchema.nullable(),
  updatedAt: z.date(),
});
type EventsSettingsDoc = z.infer<typeof eventsSettingsDocSchema>;

export interface PublicEventsSettings {
  readonly schoolId: string;
  readonly mode: EventsMode;
  readonly callbackSecretSet: boolean;
  readonly confirmationSet: boolean;
  readonly updatedAt: string | null;
}

export interface CallbackCredentials {
  readonly secret: string;
  readonly confirmation: string;
}

export interface EventsSettingsStore {
  save(args: {
    schoolId: string;
    mode: EventsMode;
    callbackSecret?: string;
    confirmation?: string;
  }): Promise<PublicEventsSettings>;
  /** Long poll when nothing was saved. */
  getPublic(schoolId: string): Promise<PublicEventsSettings>;
  mode(schoolId: string): Promise<EventsMode>;
  /** Decrypted, for the callback route only; null unless the school is in callback mode. */
  callback(schoolId: string): Promise<CallbackCredentials | null>;
}

export function createEventsSettingsStore({
  db,
  box,
}: {
  db: Db;
  box: SecretBox;
}): EventsSettingsStore {
  const collection = db.collection<EventsSettingsDoc>('events_settings');
  const load = async (schoolId: string): Promise<EventsSettingsDoc | null> => {
    const raw = await collection.findOne({ _id: schoolId });
    return raw ? eventsSettingsDocSchema.parse(raw) : null;
  };
  const toPublic = (schoolId: string, doc: EventsSettingsDoc | null): PublicEventsSettings => ({
    schoolId,
    mode: doc?.mode ?? 'longPoll',
    callbackSecretSet: (doc?.callbackSecret ?? null) !== null,
    confirmationSet: (doc?.confirmation ?? null) !== null,
    updatedAt: doc?.updatedAt.toISOString() ?? null,
  });
  return {
    async save({ schoolId, mode, callbackSecret, confirmation }) {
      // A secret not sent again is kept: switching back to long poll and forth loses nothing.
      const previous = await load(schoolId);
      const doc: EventsSettingsDoc = {
        _id: schoolId,
        mode,
        callbackSecret:
          callbackSecret === undefined
            ? (previous?.callbackSecret ?? null)
            : box.encrypt(callbackSecret),
        confirmation:
          confirmation === undefined ? (previous?.confirmation ?? null) : box.encrypt(confirmation),
        updatedAt: new Date(),
      };
      await collection.replaceOne({ _id: schoolId }, doc, { upsert: true });
      return toPublic(schoolId, doc);
    },
    async getPublic(schoolId) {
      return toPublic(schoolId, await load(schoolId));
    },
    async mode(schoolId) {
      return (await load(schoolId))?.mode ?? 'longPoll';
    },
    async callback(schoolId) {
      const doc = await load(schoolId);
      if (doc?.mode !== 'callback' || !doc.callbackSecret || !doc.confirmation) return null;
      return {
        secret: box.decrypt(doc.callbackSecret),
        confirmation: box.decrypt(doc.confirmation),
      };
    },
  };
}
