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
  // The entry holds the promise, so activities asking at once after a settings change share one
  // new messenger instead of each building (and leaking) its own.
  const cache = new Map<string, { version: string; school: Promise<SchoolMessenger> }>();
  const polls = new Map<
    string,
    { version: string; client: Promise<{ communityId: number; longPoll: LongPollClient }> }
  >();
  return {
    async longPollFor(schoolId) {
      const pub = await args.settings.getPublic(schoolId);
      if (!pub) throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
      const cached = polls.get(schoolId);
      if (cached?.version === pub.updatedAt) return cached.client;
      const client = (async () => {
        const settings = await args.settings.messengerSettings({
          schoolId,
          baseUrl: args.baseUrl,
          apiVersion: args.apiVersion,
          rateLimitPerSecond: args.rateLimitPerSecond,
        });
        if (!settings) {
          throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
        }
        return {
          communityId: settings.communityId,
          longPoll: createLongPollClient(settings, limiterFor(settings)),
        };
      })();
      polls.set(schoolId, { version: pub.updatedAt, client });
      client.catch(() => {
        if (polls.get(schoolId)?.client === client) polls.delete(schoolId);
      });
      if (cached) await cached.client.then((old) => old.longPoll.close()).catch(() => undefined);
      return client;
    },
    async forSchool(schoolId) {
      const pub = await args.settings.getPublic(schoolId);
      if (!pub) throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
      const cached = cache.get(schoolId);
      if (cached?.version === pub.updatedAt) return cached.school;
      const school = (async (): Promise<SchoolMessenger> => {
        const settings = await args.settings.messengerSettings({
          schoolId,
          baseUrl: args.baseUrl,
          apiVersion: args.apiVersion,
          rateLimitPerSecond: args.rateLimitPerSecond,
        });
        if (!settings) {
          throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
        }
        return {
          messenger: createVkMessenger(settings, limiterFor(settings)),
          communityId: settings.communityId,
          removeUnmanaged: pub.removeUnmanaged,
        };
      })();
      cache.set(schoolId, { version: pub.updatedAt, school });
      school.catch(() => {
        if (cache.get(schoolId)?.school === school) cache.delete(schoolId);
      });
      // undici closes gracefully: requests in flight on the old messenger still finish.
      if (cached) await cached.school.then((old) => old.messenger.close()).catch(() => undefined);
      return school;
    },
    async close() {
      const entries = [...cache.values()];
      cache.clear();
      const pollers = [...polls.values()];
      polls.clear();
      for (const { client } of pollers) {
        await client.then((c) => c.longPoll.close()).catch(() => undefined);
      }
      for (const { school } of entries) {
        await school.then((s) => s.messenger.close()).catch(() => undefined);
      }
    },
  };
}
