import type { HeldChat } from '../contracts/sync-records';
import type { ChatKind } from './chat-plan';

/**
 * The mass-removal guard (C3 with a safety net): a broken export (a truncated file, a class list
 * sent empty) must not empty the school's chats, so a run that would remove too many managed
 * members, or retire a whole chat, has those removals held for an admin's approval. Only they are
 * held: additions, admin rights and ordinary removals go ahead in the same run.
 */

/**
 * Removals that concern at most this many people never count as mass: a family of three children
 * leaving takes some twenty memberships (class, parents' and subject chats), which in a small
 * school is over any share worth setting, while a broken export removes whole classes at once.
 */
export const MASS_REMOVAL_FLOOR = 10;

/** A chat of the plan, with the managed members it would remove. */
export interface GuardChat {
  readonly key: string;
  readonly kind: ChatKind;
  readonly retire: boolean;
  /** Members we put there that the plan removes (all of them for a retired chat). */
  readonly removed: readonly number[];
}

export interface GuardVerdict {
  /** Nothing held: the whole plan goes ahead. */
  readonly clear: boolean;
  readonly reason: 'massRemoval' | 'chatRemoval';
  /** Member removals are held in every chat (a mass removal); otherwise only retirements are. */
  readonly massRemoval: boolean;
  readonly removals: number;
  readonly people: number;
  readonly chatsRemoved: number;
  readonly chats: readonly HeldChat[];
}

/** What of a plan the guard holds, for `threshold` (a share of `managedMembers`). */
export function guardRemovals(input: {
  readonly chats: readonly GuardChat[];
  readonly managedMembers: number;
  readonly threshold: number;
}): GuardVerdict {
  const { chats, managedMembers, threshold } = input;
  const removals = chats.reduce((n, c) => n + c.removed.length, 0);
  const massRemoval =
    managedMembers > 0 &&
    removals / managedMembers > threshold &&
    distinctPeople(chats) > MASS_REMOVAL_FLOOR;
  const held = chats.filter((c) => c.retire || (massRemoval && c.removed.length > 0));
  const retired = held.filter((c) => c.retire).length;
  return {
    clear: held.length === 0,
    reason: retired > 0 ? 'chatRemoval' : 'massRemoval',
    massRemoval,
    removals: held.reduce((n, c) => n + c.removed.length, 0),
    people: distinctPeople(held),
    chatsRemoved: retired,
    chats: held.map((c) => ({
      chatKey: c.key,
      kind: c.kind,
      removals: c.removed.length,
      retire: c.retire,
    })),
  };
}

function distinctPeople(chats: readonly GuardChat[]): number {
  return new Set(chats.flatMap((c) => c.removed)).size;
}
