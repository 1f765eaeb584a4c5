import type { Db } from 'mongodb';
import { z } from 'zod';

import { rosterCollections } from '../contracts/roster';
import type { RosterChanges } from '../domain/roster-changes';

/**
 * The roster change log: one entry per import or VK ID event, with record IDs and counts only.
 * The sync run cites the entry's ID as the provenance of every chat change it makes.
 */

export const ROSTER_CHANGES = 'roster_changes';

export const rosterChangeKinds = ['snapshot', 'changeSet', 'link', 'unlink'] as const;
export type RosterChangeKind = (typeof rosterChangeKinds)[number];

const idList = z.array(z.string());
const collectionChangesSchema = z.object({
  added: z.number().int().min(0),
  changed: z.number().int().min(0),
  removed: z.number().int().min(0),
  addedIds: idList,
  changedIds: idList,
  removedIds: idList,
});

export const rosterChangeSchema = z.object({
  id: z.string(),
  schoolId: z.string(),
  at: z.date(),
  kind: z.enum(rosterChangeKinds),
  /** The roster version the change produced (in-place events keep the current one). */
  version: z.number().int(),
  collections: z.partialRecord(z.enum(rosterCollections), collectionChangesSchema),
});

export type RosterChange = z.infer<typeof rosterChangeSchema>;
export type CollectionChangeCounts = z.infer<typeof collectionChangesSchema>;

export async function ensureRosterChangeIndexes(db: Db): Promise<void> {
  await db
    .collection(ROSTER_CHANGES)
    .createIndex({ schoolId: 1, at: -1 }, { name: 'school_at' }, {});
}

/** Only collections that changed are kept, so an entry stays small for a one-record event. */
export function summarizeChanges(changes: Partial<RosterChanges>): RosterChange['collections'] {
  const out: RosterChange['collections'] = {};
  for (const collection of rosterCollections) {
    const c = changes[collection];
    if (!c || c.added.length + c.changed.length + c.removed.length === 0) continue;
    out[collection] = {
      added: c.added.length,
      changed: c.changed.length,
      removed: c.removed.length,
      addedIds: c.added,
      changedIds: c.changed,
      removedIds: c.removed,
    };
  }
  return out;
}

export async function recordRosterChange(db: Db, change: RosterChange): Promise<void> {
  const { id, ...rest } = rosterChangeSchema.parse(change);
  await db.collection<{ _id: string }>(ROSTER_CHANGES).insertOne({ _id: id, ...rest });
}

export async function listRosterChanges(
  db: Db,
  { schoolId, limit = 50 }: { schoolId: string; limit?: number },
): Promise<RosterChange[]> {
  const docs = await db
    .collection<{ _id: string }>(ROSTER_CHANGES)
    .find({ schoolId }, { sort: { at: -1 }, limit })
    .toArray();
  return docs.map(({ _id, ...rest }) => rosterChangeSchema.parse({ id: _id, ...rest }));
}

export async function getRosterChange(db: Db, id: string): Promise<RosterChange | null> {
  const doc = await db.collection<{ _id: string }>(ROSTER_CHANGES).findOne({ _id: id });
  if (!doc) return null;
  const { _id, ...rest } = doc;
  return rosterChangeSchema.parse({ id: _id, ...rest });
}
