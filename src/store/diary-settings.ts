import type { Db } from 'mongodb';
import { z } from 'zod';
import { encryptedSecretSchema, type SecretBox } from './secrets';

/**
 * Where a school's e-diary events are pushed: the portal's webhook URL and the secret the body is
 * signed with (HMAC-SHA256, docs/diary.md). The secret is encrypted at rest like the community
 * token and decrypted only inside the delivery activity. A school with none still has the feed.
 */

const diarySettingsDocSchema = z.object({
  _id: z.string(),
  webhookUrl: z.string(),
  secret: encryptedSecretSchema,
  updatedAt: z.date(),
});

export interface PublicDiarySettings {
  readonly schoolId: string;
  readonly webhookUrl: string;
  readonly secretSet: true;
  readonly updatedAt: string;
}

export interface DiaryWebhook {
  readonly url: string;
  readonly secret: string;
}

export interface DiarySettingsStore {
  save(args: {
    schoolId: string;
    webhookUrl: string;
    secret: string;
  }): Promise<PublicDiarySettings>;
  remove(schoolId: string): Promise<boolean>;
  getPublic(schoolId: string): Promise<PublicDiarySettings | null>;
  /** Decrypted: for the delivery activity only. */
  webhook(schoolId: string): Promise<DiaryWebhook | null>;
}

export function createDiarySettingsStore({
  db,
  box,
}: {
  db: Db;
  box: SecretBox;
}): DiarySettingsStore {
  const collection = db.collection<z.infer<typeof diarySettingsDocSchema>>('diary_settings');
  const load = async (schoolId: string) => {
    const raw = await collection.findOne({ _id: schoolId });
    return raw ? diarySettingsDocSchema.parse(raw) : null;
  };
  const toPublic = (doc: z.infer<typeof diarySettingsDocSchema>): PublicDiarySettings => ({
    schoolId: doc._id,
    webhookUrl: doc.webhookUrl,
    secretSet: true,
    updatedAt: doc.updatedAt.toISOString(),
  });
  return {
    async save({ schoolId, webhookUrl, secret }) {
      const doc = { _id: schoolId, webhookUrl, secret: box.encrypt(secret), updatedAt: new Date() };
      await collection.replaceOne({ _id: schoolId }, doc, { upsert: true });
      return toPublic(doc);
    },
    async remove(schoolId) {
      return (await collection.deleteOne({ _id: schoolId })).deletedCount === 1;
    },
    async getPublic(schoolId) {
      const doc = await load(schoolId);
      return doc ? toPublic(doc) : null;
    },
    async webhook(schoolId) {
      const doc = await load(schoolId);
      return doc ? { url: doc.webhookUrl, secret: box.decrypt(doc.secret) } : null;
    },
  };
}
