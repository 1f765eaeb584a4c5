import type { Db } from 'mongodb';
import { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { syncPeriodSchema } from '../contracts/sync-records';
import { issueList } from '../contracts/zod-issues';
import {
  schoolSettingsInputSchema,
  type PublicSchoolSettings,
  type SchoolSettings,
} from '../contracts/settings';
import type { MessengerSettings, SchoolProxy } from '../contracts/settings';
import { createDiarySettingsStore, type DiarySettingsStore } from './diary-settings';
import { createEventsSettingsStore, type EventsSettingsStore } from './events-settings';
import { encryptedSecretSchema, type SecretBox } from './secrets';

const COLLECTION = 'school_settings';

const settingsDocSchema = z.object({
  _id: z.string(),
  communityId: z.number().int().positive(),
  token: encryptedSecretSchema,
  proxy: z
    .object({
      server: z.string(),
      port: z.number().int(),
      username: z.string().optional(),
      password: encryptedSecretSchema.optional(),
      auth: z.boolean(),
    })
    .nullable(),
  period: syncPeriodSchema,
  enabled: z.boolean(),
  removalThreshold: z.number().min(0).max(1),
  removeUnmanaged: z.boolean(),
  updatedAt: z.date(),
});
type SettingsDoc = z.infer<typeof settingsDocSchema>;

export type ZodIssueList = {
  readonly errors: readonly { path: string; message: string }[];
};

export function issuesOf(error: z.ZodError): ZodIssueList {
  return {
    errors: issueList(error),
  };
}

function toPublic(doc: SettingsDoc): PublicSchoolSettings {
  return {
    schoolId: doc._id,
    communityId: doc.communityId,
    tokenSet: true,
    proxy: doc.proxy
      ? {
          server: doc.proxy.server,
          port: doc.proxy.port,
          ...(doc.proxy.username === undefined ? {} : { username: doc.proxy.username }),
          passwordSet: doc.proxy.password !== undefined,
          auth: doc.proxy.auth,
        }
      : null,
    period: doc.period,
    enabled: doc.enabled,
    removalThreshold: doc.removalThreshold,
    removeUnmanaged: doc.removeUnmanaged,
    updatedAt: doc.updatedAt.toISOString(),
  };
}

export interface SettingsStore {
  /** Validates, encrypts the secrets and stores; bad input throws InvalidInput naming each field. */
  save(args: { schoolId: string; input: unknown }): Promise<PublicSchoolSettings>;
  getPublic(schoolId: string): Promise<PublicSchoolSettings | null>;
  /** Decrypted settings for the messenger: call only inside activities. */
  messengerSettings(args: {
    schoolId: string;
    baseUrl: string;
    apiVersion: string;
    rateLimitPerSecond: number;
  }): Promise<MessengerSettings | null>;
  /** Where the school's e-diary events are pushed, its secret encrypted with the same key. */
  readonly diary: DiarySettingsStore;
  /** How the school receives the platform's events; the callback secrets encrypted alike. */
  readonly events: EventsSettingsStore;
  /** The school's HTTP proxy (S2), decrypted: call only inside activities. */
  proxy(schoolId: string): Promise<SchoolProxy | null>;
  listSchoolIds(): Promise<string[]>;
}

export function createSettingsStore({ db, box }: { db: Db; box: SecretBox }): SettingsStore {
  const collection = db.collection<SettingsDoc>(COLLECTION);

  function decryptedProxy({ proxy }: SettingsDoc): SchoolProxy | null {
    if (!proxy) return null;
    return {
      server: proxy.server,
      port: proxy.port,
      auth: proxy.auth,
      ...(proxy.username === undefined ? {} : { username: proxy.username }),
      ...(proxy.password === undefined ? {} : { password: box.decrypt(proxy.password) }),
    };
  }

  async function load(schoolId: string): Promise<SettingsDoc | null> {
    const raw = await collection.findOne({ _id: schoolId });
    return raw ? settingsDocSchema.parse(raw) : null;
  }

  return {
    async save({ schoolId, input }) {
      const parsed = schoolSettingsInputSchema.safeParse(input);
      if (!parsed.success) {
        throw new TypedError(
          ErrorType.InvalidInput,
          'invalid school settings',
          issuesOf(parsed.error),
        );
      }
      const s: SchoolSettings = parsed.data;
      const doc: SettingsDoc = {
        _id: schoolId,
        communityId: s.communityId,
        token: box.encrypt(s.token),
        proxy: s.proxy
          ? {
              server: s.proxy.server,
              port: s.proxy.port,
              ...(s.proxy.username === undefined ? {} : { username: s.proxy.username }),
              ...(s.proxy.password === undefined
                ? {}
                : { password: box.encrypt(s.proxy.password) }),
              auth: s.proxy.auth,
            }
          : null,
        period: s.period,
        enabled: s.enabled,
        removalThreshold: s.removalThreshold,
        removeUnmanaged: s.removeUnmanaged,
        updatedAt: new Date(),
      };
      await collection.replaceOne({ _id: schoolId }, doc, { upsert: true });
      return toPublic(doc);
    },

    async getPublic(schoolId) {
      const doc = await load(schoolId);
      return doc ? toPublic(doc) : null;
    },

    async messengerSettings({ schoolId, baseUrl, apiVersion, rateLimitPerSecond }) {
      const doc = await load(schoolId);
      if (!doc) return null;
      const proxy = decryptedProxy(doc);
      return {
        communityId: doc.communityId,
        token: box.decrypt(doc.token),
        baseUrl,
        apiVersion,
        rateLimitPerSecond,
        ...(proxy ? { proxy } : {}),
      };
    },

    diary: createDiarySettingsStore({ db, box }),
    events: createEventsSettingsStore({ db, box }),

    async proxy(schoolId) {
      const doc = await load(schoolId);
      return doc ? decryptedProxy(doc) : null;
    },

    async listSchoolIds() {
      const docs = await collection.find({}, { projection: { _id: 1 } }).toArray();
      return docs.map((d) => d._id);
    },
  };
}
