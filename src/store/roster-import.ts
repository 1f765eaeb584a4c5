import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';

import { ErrorType, TypedError } from '../contracts/errors';
import { rosterCollections, vkLinkEventSchema, type RosterCollection } from '../contracts/roster';
import {
  formatPath,
  validateChangeSet,
  validateChangeSetShape,
  validateSnapshot,
} from '../domain/roster-validation';
import { diffRosters, type RosterChanges } from '../domain/roster-changes';
import type { RosterIssue, RosterWarning } from '../domain/roster-issues';
import { recordRosterChange, summarizeChanges, type RosterChangeKind } from './roster-changes';
import { createRosterStore, type WriteProgress } from './roster-store';
import { deleteStudyProfile, saveStudyProfile } from './study-profiles';

/**
 * Roster imports and VK ID events: validate everything first, write only a valid roster, log the
 * change, then tell the sync. The caller injects `events`, which the worker side turns into the
 * school-sync workflow's `rosterChanged` signal.
 */

export interface RosterEvents {
  rosterChanged(args: { schoolId: string; changeId: string }): Promise<void>;
}

export interface ImportSummary {
  /** The roster change log entry, also carried by the `rosterChanged` event. */
  readonly changeId: string;
  readonly schoolId: string;
  readonly kind: RosterChangeKind;
  /** The roster version readers now see. */
  readonly version: number;
  /** Records added, changed and removed per collection. */
  readonly changes: Readonly<
    Record<RosterCollection, { added: number; changed: number; removed: number }>
  >;
  /** Records touched per collection (added + changed + removed), for a one-line answer. */
  readonly counts: Readonly<Record<RosterCollection, number>>;
  /** What the import accepted but changed or left out (roster-validation.ts), by path. */
  readonly warnings: readonly RosterWarning[];
}

interface ImportArgs {
  readonly db: Db;
  readonly input: unknown;
  readonly events: RosterEvents;
  /** Progress of the write phase; tests use it to stop the process half-way. */
  readonly onProgress?: (progress: WriteProgress) => Promise<void> | void;
}

function rejected(errors: RosterIssue[]): TypedError {
  return new TypedError(
    ErrorType.InvalidInput,
    `The roster was rejected: ${errors.length} error(s)`,
    { errors },
  );
}

function summarize(
  kind: RosterChangeKind,
  changeId: string,
  schoolId: string,
  version: number,
  changes: Partial<RosterChanges>,
  warnings: readonly RosterWarning[],
): ImportSummary {
  const counted = {} as Record<
    RosterCollection,
    { added: number; changed: number; removed: number }
  >;
  const counts = {} as Record<RosterCollection, number>;
  for (const collection of rosterCollections) {
    const c = changes[collection];
    const added = c?.added.length ?? 0;
    const changed = c?.changed.length ?? 0;
    const removed = c?.removed.length ?? 0;
    counted[collection] = { added, changed, removed };
    counts[collection] = added + changed + removed;
  }
  return { changeId, schoolId, kind, version, changes: counted, counts, warnings };
}

async function logAndNotify(
  db: Db,
  events: RosterEvents,
  entry: {
    kind: RosterChangeKind;
    schoolId: string;
    version: number;
    changes: Partial<RosterChanges>;
    warnings?: readonly RosterWarning[];
  },
): Promise<ImportSummary> {
  const changeId = randomUUID();
  await recordRosterChange(db, {
    id: changeId,
    schoolId: entry.schoolId,
    at: new Date(),
    kind: entry.kind,
    version: entry.version,
    collections: summarizeChanges(entry.changes),
  });
  // The roster is already committed: if the event fails the caller sees the error and may retry
  // the import, which is harmless; the periodic sync picks the change up in any case.
  await events.rosterChanged({ schoolId: entry.schoolId, changeId });
  return summarize(
    entry.kind,
    changeId,
    entry.schoolId,
    entry.version,
    entry.changes,
    entry.warnings ?? [],
  );
}

/** A whole school (DESIGN.md §2). Rejected with every error listed, and nothing written, if invalid. */
export async function importSnapshot({
  db,
  input,
  events,
  onProgress,
}: ImportArgs): Promise<ImportSummary> {
  const result = validateSnapshot(input);
  if (!result.ok) throw rejected(result.errors);
  const snapshot = result.value;
  const store = createRosterStore({ db });
  const previous = await store.loadRoster(snapshot.school.id);
  const { version } = await store.replaceRoster({
    snapshot,
    basedOn: null,
    ...(onProgress ? { onProgress } : {}),
  });
  return logAndNotify(db, events, {
    kind: 'snapshot',
    schoolId: snapshot.school.id,
    version,
    changes: diffRosters(previous, snapshot),
    warnings: result.warnings,
  });
}

/** Records to upsert and IDs to remove, applied to the stored roster as one new version. */
export async function importChangeSet({
  db,
  input,
  events,
  onProgress,
}: ImportArgs): Promise<ImportSummary> {
  const shape = validateChangeSetShape(input);
  if (!shape.ok) throw rejected(shape.errors);
  const schoolId = shape.value;
  const store = createRosterStore({ db });
  const current = await store.loadRosterWithState(schoolId);
  if (!current) {
    throw new TypedError(
      ErrorType.NotFound,
      'No roster is stored for this school; import a full snapshot first',
      { schoolId },
    );
  }
  const result = validateChangeSet(input, current.snapshot);
  if (!result.ok) throw rejected(result.errors);
  const { next } = result.value;
  const { version } = await store.replaceRoster({
    snapshot: next,
    basedOn: current.state,
    ...(onProgress ? { onProgress } : {}),
  });
  return logAndNotify(db, events, {
    kind: 'changeSet',
    schoolId,
    version,
    changes: diffRosters(current.snapshot, next),
    warnings: result.warnings,
  });
}

const linkCollections = { staff: 'staff', student: 'students', parent: 'parents' } as const;

/**
 * P1/P2: a person linked or unlinked their VK ID on the city portal. The VK ID is edited in place
 * on the current roster; the study profile is kept while linked and deleted on unlink.
 */
export async function applyVkLinkEvent({
  db,
  schoolId,
  input,
  events,
}: {
  db: Db;
  schoolId: string;
  input: unknown;
  events: RosterEvents;
}): Promise<ImportSummary> {
  const parsed = vkLinkEventSchema.safeParse(input);
  if (!parsed.success) {
    throw rejected(
      parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  }
  const event = parsed.data;
  const store = createRosterStore({ db });
  const vkId = event.action === 'link' ? event.vkId : null;
  const edited = await store.setPersonVkId({
    schoolId,
    personKind: event.personKind,
    personId: event.personId,
    vkId,
  });
  if (!edited) {
    throw new TypedError(
      ErrorType.NotFound,
      `No ${event.personKind} with this ID in the school's roster`,
      {
        schoolId,
        personKind: event.personKind,
        personId: event.personId,
      },
    );
  }
  const ref = { schoolId, personKind: event.personKind, personId: event.personId };
  if (event.action === 'link') {
    await saveStudyProfile(db, {
      ...ref,
      vkId: event.vkId,
      profile: event.profile,
      linkedAt: new Date(),
    });
  } else {
    await deleteStudyProfile(db, ref);
  }
  const state = await store.getState(schoolId);
  const changed = edited.previousVkId === vkId ? [] : [event.personId];
  return logAndNotify(db, events, {
    kind: event.action,
    schoolId,
    version: state?.version ?? 0,
    changes: { [linkCollections[event.personKind]]: { added: [], changed, removed: [] } },
  });
}
