import { ErrorType, TypedError } from '../contracts/errors';
import type { SettingsStore } from '../store/settings-store';
import type { Messenger } from './port';
import { createVkMessenger } from './vk-client';

export interface SchoolMessenger {
  readonly messenger: Messenger;
  readonly communityId: number;
  readonly removeUnmanaged: boolean;
}

/** One messenger (and so one undici dispatcher) per school configuration, rebuilt when it changes. */
export interface MessengerProvider {
  forSchool(schoolId: string): Promise<SchoolMessenger>;
  close(): Promise<void>;
}

export function createMessengerProvider(args: {
  settings: SettingsStore;
  baseUrl: string;
  apiVersion: string;
  rateLimitPerSecond: number;
}): MessengerProvider {
  const cache = new Map<string, { version: string; school: SchoolMessenger }>();
  return {
    async forSchool(schoolId) {
      const pub = await args.settings.getPublic(schoolId);
      if (!pub) throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
      const cached = cache.get(schoolId);
      if (cached?.version === pub.updatedAt) return cached.school;
      const settings = await args.settings.messengerSettings({
        schoolId,
        baseUrl: args.baseUrl,
        apiVersion: args.apiVersion,
        rateLimitPerSecond: args.rateLimitPerSecond,
      });
      if (!settings) throw new TypedError(ErrorType.NotConfigured, `school ${schoolId} has no settings`);
      await cached?.school.messenger.close();
      const school: SchoolMessenger = {
        messenger: createVkMessenger(settings),
        communityId: settings.communityId,
        removeUnmanaged: pub.removeUnmanaged,
      };
      cache.set(schoolId, { version: pub.updatedAt, school });
      return school;
    },
    async close() {
      for (const { school } of cache.values()) await school.messenger.close();
      cache.clear();
    },
  };
}
