import { defineQuery, defineSignal } from '@temporalio/workflow';

/**
 * Messages of the e-diary delivery workflow (one per school, ID `diary-delivery-<schoolId>`): it
 * pushes the school's outbox to the portal's webhook in cursor order, one event at a time, so a
 * lesson's events arrive in the order they happened. Payloads carry IDs only.
 */

export interface DiaryDeliveryInput {
  readonly schoolId: string;
}

/** What the portal has not been given yet, as the workflow last saw it. */
export interface DiaryDeliveryStatus {
  readonly schoolId: string;
  readonly delivered: number;
  readonly rejected: number;
  /** The event being delivered now, with its lesson; null when the outbox is drained. */
  readonly current: { readonly eventId: string; readonly lessonId: string } | null;
}

export const diaryEventsAddedSignal = defineSignal<[Record<string, never>]>('diaryEventsAdded');
export const diaryStatusQuery = defineQuery<DiaryDeliveryStatus>('diaryStatus');

export type DeliveryOutcome = 'delivered' | 'duplicate' | 'rejected' | 'feedOnly' | 'gone';

export interface DiaryActivities {
  /** The school's events still to push, oldest first (IDs only). */
  undeliveredDiaryEvents(args: {
    schoolId: string;
    limit: number;
  }): Promise<{ events: { eventId: string; lessonId: string }[] }>;
  /** Pushes one event; a portal that fails is retried by Temporal (the outbox notes each failure). */
  deliverDiaryEvent(args: {
    schoolId: string;
    eventId: string;
  }): Promise<{ outcome: DeliveryOutcome }>;
}
