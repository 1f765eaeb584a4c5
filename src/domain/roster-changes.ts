import {
  rosterCollections,
  type ChangeSet,
  type RosterCollection,
  type RosterSnapshot,
} from '../contracts/roster';

/** What an accepted change set makes of the stored roster, and what an import changed. */

/** The roster a change set produces: removals first, then upserts replace or append by ID. */
export function applyChangeSet(current: RosterSnapshot, changeSet: ChangeSet): RosterSnapshot {
  const next: RosterSnapshot = { ...current };
  for (const collection of rosterCollections) {
    const removed = new Set(changeSet.remove[collection] ?? []);
    const upserted = (changeSet.upsert[collection] ?? []) as { id: string }[];
    if (removed.size === 0 && upserted.length === 0) continue;
    const replacements = new Map(upserted.map((r) => [r.id, r]));
    const kept = (current[collection] as { id: string }[])
      .filter((r) => !removed.has(r.id))
      .map((r) => replacements.get(r.id) ?? r);
    const existing = new Set(kept.map((r) => r.id));
    const appended = upserted.filter((r) => !existing.has(r.id) && !removed.has(r.id));
    (next[collection] as { id: string }[]) = [...kept, ...appended];
  }
  return next;
}

export interface CollectionChanges {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

export type RosterChanges = Record<RosterCollection, CollectionChanges>;

/** Which records an import adds, changes and removes: IDs only, for the change log. */
export function diffRosters(previous: RosterSnapshot | null, next: RosterSnapshot): RosterChanges {
  const out = {} as RosterChanges;
  for (const collection of rosterCollections) {
    const before = new Map(
      ((previous?.[collection] ?? []) as { id: string }[]).map(
        (r) => [r.id, JSON.stringify(r)] as const,
      ),
    );
    const changes: CollectionChanges = { added: [], changed: [], removed: [] };
    const seen = new Set<string>();
    for (const record of next[collection] as { id: string }[]) {
      seen.add(record.id);
      const old = before.get(record.id);
      if (old === undefined) changes.added.push(record.id);
      else if (old !== JSON.stringify(record)) changes.changed.push(record.id);
    }
    for (const id of before.keys()) if (!seen.has(id)) changes.removed.push(id);
    out[collection] = changes;
  }
  return out;
}
