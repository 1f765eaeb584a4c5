import type { RosterSnapshot } from '../../src/contracts/roster';
import type { HeldPlan } from '../../src/contracts/sync-records';
import type { ReadyPlan, SyncActivities } from '../../src/contracts/sync-activities';
import { planChats } from '../../src/domain/chat-plan';
import { guardRemovals, type GuardVerdict } from '../../src/domain/removal-guard';
import type { Logger } from 'pino';
import type { RosterStore } from '../../src/store/roster-store';
import type { SettingsStore } from '../../src/store/settings-store';
import type { ChatRecord, PlannedChat, StoredPlan, SyncStore } from '../../src/store/sync-store';

/** Plans kept in memory for the apply that follows (a school's plan is some 100 KB). */
const RECENT_PLANS = 8;

/**
 * The plans this process stored last: applyPlan usually runs on the worker that planned, right
 * after, and a stored plan's chats never change, so it need not read the plan back.
 */
export class RecentPlans {
  private readonly plans = new Map<string, StoredPlan>();

  remember(plan: StoredPlan): void {
    this.plans.delete(plan._id);
    this.plans.set(plan._id, plan);
    for (const id of this.plans.keys()) {
      if (this.plans.size <= RECENT_PLANS) break;
      this.plans.delete(id);
    }
  }

  /** The plan, from memory when this process stored it, else from the store. */
  async get(sync: Pick<SyncStore, 'getPlan'>, schoolId: string, planId: string) {
    const cached = this.plans.get(planId);
    return cached?.schoolId === schoolId ? cached : sync.getPlan(schoolId, planId);
  }
}

export interface PlanDeps {
  readonly logger: Logger;
  readonly roster: Pick<RosterStore, 'loadRoster'>;
  readonly settings: Pick<SettingsStore, 'getPublic'>;
  readonly sync: SyncStore;
  readonly plans: RecentPlans;
}

/** `planSync`: the school's plan from its roster and our records, through the removal guard (C3). */
export function createPlanSync(deps: PlanDeps): SyncActivities['planSync'] {
  const { sync, plans } = deps;
  return async ({ schoolId, runId, approvedPlanId }) => {
    const settings = await deps.settings.getPublic(schoolId);
    if (!settings) return { status: 'notConfigured' };
    if (!settings.enabled) return { status: 'disabled' };
    const { period } = settings;

    if (approvedPlanId) {
      // The workflow's approvePlan update names a held plan; mark it approved and apply it as is
      // (a retry finds it approved already).
      const approved = await sync.getPlan(schoolId, approvedPlanId);
      if (
        approved &&
        (approved.status === 'held' || approved.status === 'approved') &&
        (await sync.approvePlan(schoolId, approvedPlanId, approved.approvedBy ?? 'approvePlan'))
      ) {
        plans.remember(approved);
        return { ...summarize({ ...approved, status: 'ready' }), period };
      }
    }

    const [roster, managed] = await Promise.all([
      deps.roster.loadRoster(schoolId),
      sync.listChats(schoolId),
    ]);
    if (!roster) return { status: 'notConfigured' };
    const { chats, removed, skipped } = desiredChats(roster, managed);
    const verdict = guardRemovals({
      chats: chats.map((c) => ({
        key: c.key,
        kind: c.kind,
        retire: c.retire,
        removed: removed.get(c.key) ?? [],
      })),
      managedMembers: managed.reduce((n, c) => n + c.managedMembers.length, 0),
      threshold: settings.removalThreshold,
    });
    const base = { schoolId, runId, skipped, approvedBy: null };
    if (verdict.clear) {
      const stored = await sync.savePlan({ ...base, status: 'ready', chats, held: null });
      plans.remember(stored);
      return { ...summarize(stored), period };
    }
    const held = await holdPlan(deps, schoolId, { ...base, chats }, verdict, managed);
    // The part the guard lets through is applied now: a new student does not wait for an
    // operator because someone else is leaving.
    const passed = await sync.savePlan({
      ...base,
      status: 'ready',
      chats: passedChats(chats, verdict.massRemoval ? removed : null),
      held: null,
    });
    plans.remember(passed);
    return { ...summarize(passed), status: 'held', held, period };
  };
}

/**
 * Stores the whole plan as held for approval and returns what it holds. The same plan still held
 * (a periodic run, a sync now, or a run after its passed part was applied) keeps its ID, so an
 * approval of the plan the admin is looking at is not refused as stale.
 */
async function holdPlan(
  deps: Pick<PlanDeps, 'sync' | 'logger'>,
  schoolId: string,
  plan: Omit<StoredPlan, '_id' | 'createdAt' | 'status' | 'held'>,
  verdict: GuardVerdict,
  managed: readonly ChatRecord[],
): Promise<HeldPlan> {
  const { sync } = deps;
  const latest = await sync.latestHeldPlan(schoolId);
  if (
    latest?.held &&
    sameDesiredState(latest.chats, plan.chats) &&
    JSON.stringify(latest.skipped) === JSON.stringify(plan.skipped)
  ) {
    return latest.held;
  }
  const stored = await sync.savePlan({ ...plan, status: 'held', held: null });
  const held: HeldPlan = {
    planId: stored._id,
    reason: verdict.reason,
    removals: verdict.removals,
    managedMembers: managed.reduce((n, c) => n + c.managedMembers.length, 0),
    chatsRemoved: verdict.chatsRemoved,
    people: verdict.people,
    chats: verdict.chats,
  };
  await sync.savePlanHeld(schoolId, stored._id, held);
  deps.logger.warn(
    {
      schoolId,
      planId: stored._id,
      removals: held.removals,
      managedMembers: held.managedMembers,
      chatsRemoved: held.chatsRemoved,
    },
    'plan held',
  );
  return held;
}

/**
 * The chats the roster wants, as the plan stores them (with the changes expected from our
 * records), the chats we manage that it no longer wants (to retire), and per chat the managed
 * members it would remove.
 */
function desiredChats(
  roster: RosterSnapshot,
  managed: readonly ChatRecord[],
): {
  chats: PlannedChat[];
  removed: Map<string, number[]>;
  skipped: StoredPlan['skipped'];
} {
  const byKey = new Map(managed.map((c) => [c.key, c]));
  const existingSubjectChatJournalIds = managed.flatMap((c) =>
    c.kind === 'subject' && c.chatId !== null && !c.retired ? [c.key.slice('subject:'.length)] : [],
  );
  const plan = planChats(roster, { existingSubjectChatJournalIds });
  const removed = new Map<string, number[]>();
  const chats: PlannedChat[] = plan.chats.map((chat) => {
    const record = byKey.get(chat.key);
    const wanted = new Set(chat.members);
    const had = new Set(record?.managedMembers ?? []);
    const gone = [...had].filter((m) => !wanted.has(m));
    removed.set(chat.key, gone);
    return {
      key: chat.key,
      kind: chat.kind,
      title: chat.title,
      ...(chat.classId === undefined ? {} : { classId: chat.classId }),
      ...(chat.journalId === undefined ? {} : { journalId: chat.journalId }),
      members: [...chat.members],
      admins: [...chat.admins],
      retire: false,
      expected: {
        create: !record || record.chatId === null,
        add: chat.members.filter((m) => !had.has(m)).length,
        remove: gone.length,
      },
    };
  });
  const planned = new Set(plan.chats.map((c) => c.key));
  for (const record of managed) {
    if (planned.has(record.key) || record.retired || record.chatId === null) continue;
    removed.set(record.key, [...record.managedMembers]);
    chats.push({
      key: record.key,
      kind: record.kind,
      title: record.title,
      members: [],
      admins: [],
      retire: true,
      expected: { create: false, add: 0, remove: record.managedMembers.length },
    });
  }
  return { chats, removed, skipped: [...plan.skipped] };
}

/**
 * The plan without what the guard holds: no retirements, and with `heldRemovals` (a mass removal)
 * the members it would remove kept in their chats.
 */
function passedChats(
  chats: readonly PlannedChat[],
  heldRemovals: ReadonlyMap<string, readonly number[]> | null,
): PlannedChat[] {
  return chats.flatMap((chat) => {
    if (chat.retire) return [];
    const keep = heldRemovals?.get(chat.key) ?? [];
    if (keep.length === 0) return [chat];
    return [{ ...chat, keep: [...keep], expected: { ...chat.expected, remove: 0 } }];
  });
}

/**
 * Whether two plans want the same chats, members and admins, whatever changes they expected: the
 * expectations of a held plan go stale once its passed part is applied.
 */
function sameDesiredState(a: readonly PlannedChat[], b: readonly PlannedChat[]): boolean {
  const desired = (chats: readonly PlannedChat[]): string =>
    JSON.stringify(chats.map(({ expected: _expected, keep: _keep, ...rest }) => rest));
  return desired(a) === desired(b);
}

function summarize(
  plan: Pick<StoredPlan, '_id' | 'status' | 'chats' | 'skipped' | 'held'>,
): ReadyPlan {
  return {
    status: plan.status === 'held' ? 'held' : 'ready',
    planId: plan._id,
    chatKeys: plan.chats.map((c) => c.key),
    held: plan.held,
    counts: {
      chats: plan.chats.length,
      chatsToCreate: plan.chats.filter((c) => c.expected.create).length,
      chatsToRetire: plan.chats.filter((c) => c.retire).length,
      skippedNoVkId: new Set(plan.skipped.map((s) => `${s.personKind}:${s.personId}`)).size,
    },
  };
}
