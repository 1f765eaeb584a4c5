import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { lazySchema } from './lazy-schema';
import type { PlatformFact } from './platform-events';

/**
 * Messages of the platform events listener (one per school, ID `platform-events-<schoolId>`,
 * rules V5 and C3): it follows the community's Bots Long Poll stream, or takes what the Callback
 * API route hands it, and acts on what the platform tells us. Payloads carry the platform's IDs
 * of chats, calls and events only: never the long-poll key, a member's ID or a secret.
 */

/**
 * A fact as the listener keeps it: what src/messenger/platform-events.ts read off an event. Built
 * on first use, as the listener's signal validator needs it (./lazy-schema.ts).
 */
export const listenerFactSchema = lazySchema(() =>
  z.object({
    kind: z.enum(['callEnded', 'membersChanged', 'chatChanged']),
    peerId: z.number().int(),
    eventId: z.string().min(1).max(128),
    callId: z.string().min(1).max(128).optional(),
    /** A lesson's link names its call when the event carries no call ID. */
    joinLink: z.string().min(1).max(2048).optional(),
  }),
);
export type ListenerFact = z.infer<ReturnType<typeof listenerFactSchema>>;

/** The listener's view of a fact: IDs only (a member's VK ID stays out of the workflow). */
export function toListenerFact(fact: PlatformFact): ListenerFact {
  const base = { kind: fact.kind, peerId: fact.peerId, eventId: fact.eventId };
  if (fact.kind !== 'callEnded') return base;
  return {
    ...base,
    ...(fact.callId === undefined ? {} : { callId: fact.callId }),
    ...(fact.joinLink === undefined ? {} : { joinLink: fact.joinLink }),
  };
}

export type EventsMode = 'longPoll' | 'callback';

/** Carried across continue-as-new: where the stream resumes and what was already applied. */
export interface CarriedListenerState {
  /** The long-poll `ts` to resume from; null before the first answer. */
  readonly ts: string | null;
  /** The most recent `event_id`s applied, oldest first: an event seen again is not applied twice. */
  readonly recentEventIds: readonly string[];
  readonly applied: number;
  readonly catchUps: number;
  /** Callback facts that came while the run was handing over, applied first by the next run. */
  readonly pending?: readonly ListenerFact[];
}

export interface PlatformEventsInput {
  readonly schoolId: string;
  readonly carried?: CarriedListenerState;
  /** Continue as new once the history has more events than this (default in the workflow). */
  readonly continueAsNewAfterEvents?: number;
}

export interface PlatformEventsStatus {
  readonly schoolId: string;
  readonly mode: EventsMode | null;
  readonly ts: string | null;
  /** Facts acted on by this listener (across continue-as-new). */
  readonly applied: number;
  /** Events seen again and dropped. */
  readonly duplicates: number;
  /** School syncs asked for because the stream lost events (`failed: 1`, `failed: 3`). */
  readonly catchUps: number;
  readonly lastEventAt: number | null;
}

/** The Callback API route hands what it accepted to the listener (signal-with-start). */
export const platformFactsSignal = defineSignal<[{ facts: ListenerFact[] }]>('platformFacts');
/** The school's events settings were saved: look at the mode again. */
export const eventsSettingsChangedSignal =
  defineSignal<[Record<string, never>]>('eventsSettingsChanged');
export const platformEventsStatusQuery = defineQuery<PlatformEventsStatus>('platformEventsStatus');

export type PollResult =
  | { readonly mode: 'callback' }
  | { readonly mode: 'notConfigured' }
  | {
      readonly mode: 'longPoll';
      readonly ts: string;
      readonly facts: ListenerFact[];
      /** The stream skipped events (history lost, key info lost): a school sync catches up. */
      readonly eventsLost: boolean;
    };

export interface ApplyResult {
  readonly callsEnded: number;
  readonly syncRequested: boolean;
}

export interface PlatformEventActivities {
  /**
   * One long-poll request from `ts` (the server's own when null), heartbeating while it waits,
   * cancellable; the LP key stays in the activity process. Answers at once in callback mode.
   */
  pollPlatformEvents(args: { schoolId: string; ts: string | null }): Promise<PollResult>;
  /**
   * Acts on new facts: a call ended in Sferum goes to its journal's workflow; a membership or
   * chat change, or a catch-up, makes the school sync run now.
   */
  applyPlatformFacts(args: {
    schoolId: string;
    facts: ListenerFact[];
    catchUp: boolean;
  }): Promise<ApplyResult>;
}
