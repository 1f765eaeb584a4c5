import type { Document } from 'mongodb';
import { rosterCollections, type RosterCollection, type RosterSnapshot } from '../contracts/roster';
import {
  EDIT_ATTEMPTS,
  WRITE_BATCH,
  conflict,
  packRecords,
  packedRosterId,
  parseStored,
  type RecordTypes,
  type RosterDb,
} from './roster-docs';
import { getState, type RosterState } from './roster-reads';

/** Writing the roster: a whole new version flipped in at once, or an in-place edit of the current one. */

export interface WriteProgress {
  readonly version: number;
  readonly written: number;
  readonly total: number;
}

export interface ReplaceRosterArgs {
  readonly snapshot: RosterSnapshot;
  /**
   * The state the new roster was derived from (a change set). The flip is refused if the roster
   * moved since, in-place edits included. A full snapshot passes null: it replaces whatever is there.
   */
  readonly basedOn: RosterState | null;
  /** Called after each batch is written; lets a test stop the process in the middle of an import. */
  readonly onProgress?: (progress: WriteProgress) => Promise<void> | void;
}

/**
 * An in-place edit of one current-version document, safe against a concurrent import (see the
 * module comment). Returns null when the record does not exist in the current version.
 */
export async function editInPlace<C extends RosterCollection>(
  ctx: RosterDb,
  collection: C,
  schoolId: string,
  id: string,
  set: Document,
): Promise<{ before: RecordTypes[C]; after: RecordTypes[C] } | null> {
  for (let attempt = 0; attempt < EDIT_ATTEMPTS; attempt++) {
    const state = await getState(ctx, schoolId);
    if (!state) return null;
    const before = await ctx.col(collection).findOneAndUpdate(
      { schoolId, version: state.version, id },
      { $set: set },
      // No projection: FerretDB's findAndModify rejects one; parsing drops the bookkeeping fields.
      { returnDocument: 'before' },
    );
    if (!before) {
      // Missing, or the version was swept by an import that flipped just now: look again.
      if ((await getState(ctx, schoolId))?.version === state.version) return null;
      continue;
    }
    const bumped = await ctx.schools.updateOne(
      { _id: schoolId, currentVersion: state.version },
      { $inc: { revision: 1, versionEdits: 1 } },
    );
    if (bumped.matchedCount === 0) continue;
    const previous = parseStored(collection, before);
    return { before: previous, after: parseStored(collection, { ...before, ...set }) };
  }
  throw conflict(schoolId);
}

export async function replaceRoster(
  ctx: RosterDb,
  { snapshot, basedOn, onProgress }: ReplaceRosterArgs,
): Promise<{ version: number; previousVersion: number | null }> {
  const schoolId = snapshot.school.id;
  // Taking the version number and reading the current one in one atomic step gives every
  // import its own version and tells it exactly which version it must replace.
  const allocated = await ctx.schools.findOneAndUpdate(
    { _id: schoolId },
    { $inc: { versionSeq: 1 } },
    { upsert: true, returnDocument: 'after' },
  );
  if (!allocated || typeof allocated.versionSeq !== 'number') {
    throw new Error(`Could not allocate a roster version for school ${schoolId}`);
  }
  const version = allocated.versionSeq;
  const previousVersion =
    typeof allocated.currentVersion === 'number' ? allocated.currentVersion : null;
  if (
    basedOn &&
    (basedOn.version !== previousVersion || basedOn.revision !== (allocated.revision ?? 0))
  ) {
    throw conflict(schoolId);
  }

  try {
    const total = rosterCollections.reduce((n, c) => n + snapshot[c].length, 0);
    let written = 0;
    for (const collection of rosterCollections) {
      const records = snapshot[collection] as object[];
      for (let start = 0; start < records.length; start += WRITE_BATCH) {
        const batch = records
          .slice(start, start + WRITE_BATCH)
          .map((r) => ({ ...r, schoolId, version }));
        await ctx.col(collection).insertMany(batch, { ordered: true });
        written += batch.length;
        await onProgress?.({ version, written, total });
      }
    }

    const flipFilter: Document = { _id: schoolId, currentVersion: previousVersion };
    if (basedOn)
      flipFilter.revision = basedOn.revision === 0 ? { $in: [0, null] } : basedOn.revision;
    const data = packRecords(snapshot);
    if (data) {
      await ctx.packedRosters.insertOne({
        _id: packedRosterId(schoolId, version),
        schoolId,
        version,
        edits: 0,
        data,
      });
    }

    const flipped = await ctx.schools.updateOne(flipFilter, {
      $set: {
        currentVersion: version,
        versionEdits: 0,
        name: snapshot.school.name,
        timeZone: snapshot.school.timeZone,
        rosterUpdatedAt: new Date(),
      },
    });
    if (flipped.matchedCount === 0) throw conflict(schoolId);
  } catch (error) {
    await dropVersions(ctx, schoolId, { $eq: version }).catch(() => undefined);
    throw error;
  }

  // Readers have moved to the new version: older ones, and any an interrupted import left
  // behind, are garbage. Newer versions belong to imports still running and are left alone.
  await dropVersions(ctx, schoolId, { $lt: version });
  return { version, previousVersion };
}

export async function dropVersions(
  ctx: RosterDb,
  schoolId: string,
  version: Document,
): Promise<void> {
  for (const collection of rosterCollections)
    await ctx.col(collection).deleteMany({ schoolId, version });
  await ctx.packedRosters.deleteMany({ schoolId, version });
}
