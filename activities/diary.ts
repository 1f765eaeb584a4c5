import type { DiaryActivities } from '../src/contracts/diary';
import { ErrorType, TypedError } from '../src/contracts/errors';
import type { SchoolProxy } from '../src/messenger/port';
import type { DiaryDelivery } from '../src/diary/webhook';
import type { Logger } from 'pino';
import type { CallStore } from '../src/store/call-store';
import type { DiaryOutbox } from '../src/store/diary-outbox';
import type { DiarySettingsStore, DiaryWebhook } from '../src/store/diary-settings';
import type { WorkflowGateway } from '../src/client/workflow-gateway';

export interface DiaryActivityDeps {
  readonly logger: Logger;
  readonly outbox: DiaryOutbox;
  readonly diarySettings: DiarySettingsStore;
  /** The school's HTTP proxy (S2), decrypted: the webhook goes out through it like the VK calls. */
  readonly proxyOf: (schoolId: string) => Promise<SchoolProxy | null>;
  readonly webhook: (args: { hook: DiaryWebhook; proxy: SchoolProxy | null }) => DiaryDelivery;
}

export function createDiaryActivities(deps: DiaryActivityDeps): DiaryActivities {
  return {
    async undeliveredDiaryEvents({ schoolId, limit }) {
      const entries = await deps.outbox.undelivered({ schoolId, limit });
      return {
        events: entries.map(({ event }) => ({ eventId: event.eventId, lessonId: event.lessonId })),
      };
    },

    async deliverDiaryEvent({ schoolId, eventId }) {
      const entry = await deps.outbox.get(eventId);
      if (!entry) return { outcome: 'gone' };
      const { state } = entry.delivery;
      if (state === 'delivered' || state === 'rejected' || state === 'feedOnly') {
        return { outcome: state };
      }
      const hook = await deps.diarySettings.webhook(schoolId);
      if (!hook) {
        await deps.outbox.markSettled(eventId, 'feedOnly', null);
        return { outcome: 'feedOnly' };
      }
      const delivery = deps.webhook({ hook, proxy: await deps.proxyOf(schoolId) });
      try {
        const { duplicate } = await delivery.deliver(entry.event);
        await deps.outbox.markDelivered(eventId);
        return { outcome: duplicate ? 'duplicate' : 'delivered' };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof TypedError && error.type === ErrorType.DiaryRejected) {
          // The portal refused the event itself: sending it again would be refused again.
          await deps.outbox.markSettled(eventId, 'rejected', message);
          deps.logger.warn({ schoolId, eventId }, `diary event rejected: ${message}`);
          return { outcome: 'rejected' };
        }
        await deps.outbox.markFailing(eventId, message);
        throw error;
      } finally {
        await delivery.close();
      }
    },
  };
}

/**
 * Writes a lesson's link changes into the outbox from the activities that change the link (V4),
 * and wakes the school's delivery workflow. The outbox write is idempotent, so a retried activity
 * records an event once.
 */
export interface DiaryRecorder {
  linkPublished(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    joinLink: string;
    /** The link the lesson had before, from another call: the event says the link changed. */
    previousCallKey: string | null;
  }): Promise<void>;
  /** The call ended: every lesson it served loses its link. */
  callEnded(args: { schoolId: string; callKey: string }): Promise<void>;
}

export function createDiaryRecorder(deps: {
  outbox: DiaryOutbox;
  calls: Pick<CallStore, 'listLessonLinksOfCall'>;
  gateway: Pick<WorkflowGateway, 'diaryEventsAdded'>;
}): DiaryRecorder {
  return {
    async linkPublished({ previousCallKey, ...link }) {
      const changed = previousCallKey !== null && previousCallKey !== link.callKey;
      await deps.outbox.record({ ...link, kind: changed ? 'linkChanged' : 'linkPublished' });
      await deps.gateway.diaryEventsAdded({ schoolId: link.schoolId });
    },
    async callEnded({ schoolId, callKey }) {
      const links = await deps.calls.listLessonLinksOfCall({ schoolId, callKey });
      for (const link of links) {
        await deps.outbox.record({
          schoolId,
          journalId: link.journalId,
          lessonId: link.lessonId,
          kind: 'linkWithdrawn',
          joinLink: null,
          callKey,
        });
      }
      if (links.length > 0) await deps.gateway.diaryEventsAdded({ schoolId });
    },
  };
}
