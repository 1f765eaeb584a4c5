import { ErrorType, TypedError } from '../contracts/errors';
import type { SettingsStore } from '../store/settings-store';
import type { RateSlots } from '../contracts/rate-slots';
import { ClusterLimiter } from './cluster-limiter';
import type { Messenger, MessengerSettings } from './port';
import { limiterKey, sharedLimiter, type RateLimiter } from './rate-limiter';
import { createVkMessenger } from './vk-client';
import { createLongPollClient, type LongPollClient } from './long-poll';

export interface SchoolMessenger {
  readonly messenger: Messenger;
  readonly communityId: number;
  readonly removeUnmanaged: boolean;
}

/** One messenger (and so one undici dispatcher) per school configuration, rebuilt when it changes. */
export interface MessengerProvider {
  forSchool(schoolId: string): Promise<SchoolMessenger>;
  /** The school's Bots Long Poll client (V5, C3), over the same settings and proxy. */
  longPollFor(schoolId: string): Promise<{ communityId: number; longPoll: LongPollClient }>;
  close(): Promise<void>;
}

export function createMessengerProvider(args: {
  settings: Pick<SettingsStore, 'getPublic' | 'messengerSettings'>;
  baseUrl: string;
  apiVersion: string;
  rateLimitPerSecond: number;
  /** Shared by every process of the deployment, so the platform's limit holds across workers. */
  slots?: RateSlots;
}): MessengerProvider {
  const limiterFor = (settings: MessengerSettings): { limiter?: RateLimiter } => {
    if (!args.slots) return {};
    const key = limiterKey(settings);
    const local = sharedLimiter(key, settings.rateLimitPerSecond);
    const { slots } = args;
    return {
      limiter: new ClusterLimiter({
        local,
        slots,
        key,
        limitPerSecond: settings.rateLimitPerSecond,
      }),
    };
  };
  const notConfigured = (schoolId: string): TypedError =>
    new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
  const settingsOf = async (schoolId: string): Promise<MessengerSettings> => {
    const settings = await args.settings.messengerSettings({
      schoolId,
      baseUrl: args.baseUrl,
      apiVersion: args.apiVersion,
      rateLimitPerSecond: args.rateLimitPerSecond,
    });
    if (!settings) throw notConfigured(schoolId);
    return settings;
  };
  const versionOf = async (schoolId: string) => {
    const pub = await args.settings.getPublic(schoolId);
    if (!pub) throw notConfigured(schoolId);
    return pub;
  };
  const messengers = perSettingsVersion<SchoolMessenger>((s) => s.messenger.close());
  const polls = perSettingsVersion<{ communityId: number; longPoll: LongPollClient }>((p) =>
    p.longPoll.close(),
  );
  return {
    async longPollFor(schoolId) {
      const pub = await versionOf(schoolId);
      return polls.get(schoolId, pub.updatedAt, async () => {
        const settings = await settingsOf(schoolId);
        return {
          communityId: settings.communityId,
          longPoll: createLongPollClient(settings, limiterFor(settings)),
        };
      });
    },
    async forSchool(schoolId) {
      const pub = await versionOf(schoolId);
      return messengers.get(schoolId, pub.updatedAt, async () => {
        const settings = await settingsOf(schoolId);
        return {
          messenger: createVkMessenger(settings, limiterFor(settings)),
          communityId: settings.communityId,
          removeUnmanaged: pub.removeUnmanaged,
        };
      });
    },
    async close() {
      await polls.closeAll();
      await messengers.closeAll();
    },
  };
}

/**
 * A client per school, built for one version of its settings and rebuilt when they change. The
 * entry holds the promise, so activities asking at once after a settings change share one new
 * client instead of each building (and leaking) its own; a build that fails is forgotten. undici
 * closes gracefully: requests in flight on the old client still finish.
 */
function perSettingsVersion<T>(close: (client: T) => Promise<void>) {
  const entries = new Map<string, { version: string; client: Promise<T> }>();
  const closeQuietly = (client: Promise<T>): Promise<void> =>
    client.then(close).catch(() => undefined);
  return {
    async get(schoolId: string, version: string, build: () => Promise<T>): Promise<T> {
      const cached = entries.get(schoolId);
      if (cached?.version === version) return cached.client;
      const client = build();
      entries.set(schoolId, { version, client });
      client.catch(() => {
        if (entries.get(schoolId)?.client === client) entries.delete(schoolId);
      });
      if (cached) await closeQuietly(cached.client);
      return client;
    },
    async closeAll(): Promise<void> {
      const clients = [...entries.values()].map((e) => e.client);
      entries.clear();
      for (const client of clients) await closeQuietly(client);
    },
  };
}
