import { createHash } from 'node:crypto';
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { Journal, Lesson, RosterSnapshot, Template } from '../src/contracts/roster';
import type { HeldPlan, RunIncident, RunSummary } from '../src/contracts/school-sync';
import type {
  ChatApplyResult,
  PlanApplyResult,
  ReadyPlan,
  SyncActivities,
} from '../src/contracts/sync-activities';
import { ErrorType, TypedError } from '../src/contracts/errors';
import { diffMembers, planChats } from '../src/domain/chat-plan';
import { guardRemovals, type GuardVerdict } from '../src/domain/removal-guard';
import type { RunIncidentReader } from '../src/audit/run-incidents';
import type { Logger } from '../src/logger';
import type {
  BatchCall,
  ChatMember,
  FollowUp,
  Messenger,
  OpFailure,
  OpResult,
} from '../src/messenger/port';
import { TransientOpsError, type FailedOp } from '../src/messenger/op-failures';
import type { MessengerProvider } from '../src/messenger/provider';
import type { SettingsStore } from '../src/store/settings-store';
import type { ChatRecord, PlannedChat, StoredPlan, SyncStore } from '../src/store/sync-store';
import type { WorkflowGateway } from '../src/workflow-gateway';

export interface RosterReader {
  loadRoster(schoolId: string): Promise<RosterSnapshot | null>;
  getState(schoolId: string): Promise<{ version: number } | null>;
  getSchool(schoolId: string): Promise<{ timeZone: string } | null>;
  listJournals(schoolId: string): Promise<readonly Journal[]>;
  listSchoolLessons(schoolId: string): Promise<readonly Lesson[]>;
  listTemplates(schoolId: string): Promise<readonly Template[]>;
}

export interface SyncActivityDeps {
  readonly logger: Logger;
  readonly roster: RosterReader;
  readonly settings: SettingsStore;
  readonly sync: SyncStore;
  readonly messengers: MessengerProvider;
  readonly gateway: Pick<WorkflowGateway, 'ensureJournalCalls' | 'lessonsChanged'>;
  /** The run's incidents for its summary, read from its history; absent (the plan CLI): none. */
  readonly runIncidents?: RunIncidentReader;
}

const emptyResult = (chatKey: string): ChatApplyResult => ({
  chatKey,
  created: false,
  adopted: false,
  added: 0,
  removed: 0,
  adminsChanged: 0,
  unmanaged: 0,
  failedOps: 0,
});

/** Retryable per-item failures fail the activity after progress is saved, so a retry finishes the rest. */
const USER_NOT_IN_CHAT = 935;

/** Plans kept in memory for the apply that follows (a school's plan is some 100 KB). */
const RECENT_PLANS = 8;
/** Journal workflows started or signalled at once after a run. */
const JOURNAL_LANES = 8;

const RETRYABLE_OP_TYPES = new Set<string>([
  ErrorType.MessengerUnavailable,
  ErrorType.MessengerRateLimited,
]);

type Progress = NonNullable<ChatRecord['runProgress']>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One chat of `applyPlan` while its calls are under way. */
interface ChatWork {
  readonly desired: PlannedChat;
  readonly record: ChatRecord | null;
  readonly result: Mutable<ChatApplyResult>;
  chatId: number | null;
  /** Members before this attempt's writes: as read, or as the chat was created. */
  present: readonly ChatMember[] | null;
  gone: boolean;
  readonly added: number[];
  readonly removed: number[];
  adminsChanged: number;
  failedOps: number;
  /** A failure a retry of the activity may get past: progress is saved, then the activity fails. */
  retryable: boolean;
  /** The chat failed for good this run (the platform refused to create or read it). */
  failure: string | null;
}

/** The record of a chat as it stands, with `patch` applied and this run's progress. */
function chatRecord(
  schoolId: string,
  desired: PlannedChat,
  record: ChatRecord | null,
  runId: string,
  result: ChatApplyResult,
  patch: Partial<ChatRecord>,
): ChatRecord {
  const progress: Progress = {
    runId,
    created: result.created,
    adopted: result.adopted,
    added: result.added,
    removed: result.removed,
    adminsChanged: result.adminsChanged,
  };
  return {
    schoolId,
    key: desired.key,
    kind: record?.kind ?? desired.kind,
    title: desired.title,
    chatId: record?.chatId ?? null,
    createIntentAt: record?.createIntentAt ?? null,
    managedMembers: record?.managedMembers ?? [],
    managedAdmins: record?.managedAdmins ?? [],
    retired: record?.retired ?? false,
    ...patch,
    lastRunId: runId,
    runProgress: progress,
  };
}

/** Whether two records of a chat say the same about it, whatever run wrote them. */
function sameState(a: ChatRecord, b: ChatRecord): boolean {
  const same = (x: readonly number[], y: readonly number[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.chatId === b.chatId &&
    a.title === b.title &&
    a.kind === b.kind &&
    a.retired === b.retired &&
    (a.createIntentAt?.getTime() ?? null) === (b.createIntentAt?.getTime() ?? null) &&
    same(a.managedMembers, b.managedMembers) &&
    same(a.managedAdmins, b.managedAdmins)
  );
}

/** A chat's result so far in this run: what earlier attempts of the run recorded. */
function resultSoFar(
  chatKey: string,
  record: ChatRecord | null,
  runId: string,
): Mutable<ChatApplyResult> {
  const earlier = record?.runProgress?.runId === runId ? record.runProgress : null;
  return {
    ...emptyResult(chatKey),
    ...(earlier
      ? {
          created: earlier.created,
          adopted: earlier.adopted,
          added: earlier.added,
          removed: earlier.removed,
          adminsChanged: earlier.adminsChanged,
        }
      : {}),
  };
}

export function createSyncActivities(deps: SyncActivityDeps): SyncActivities {
  const { sync, logger } = deps;

  /**
   * The plans this process stored last: applyPlan usually runs on the worker that planned, right
   * after, and a stored plan's chats never change, so it need not read the plan back.
   */
  const recentPlans = new Map<string, StoredPlan>();
  const remember = (plan: StoredPlan): void => {
    recentPlans.delete(plan._id);
    recentPlans.set(plan._id, plan);
    for (const id of recentPlans.keys()) {
      if (recentPlans.size <= RECENT_PLANS) break;
      recentPlans.delete(id);
    }
  };

  /**
   * Finds a chat a lost attempt created: the platform answered `createChat` but our record of the
   * answer was lost. Titles are unique per school plan, and chats we already own are excluded.
   */
  async function adoptLostChat(
    messenger: Messenger,
    schoolId: string,
    title: string,
  ): Promise<number | null> {
    const owned = new Set(
      (await sync.listChats(schoolId)).flatMap((c) => (c.chatId === null ? [] : [c.chatId])),
    );
    const match = (await messenger.listChats()).find(
      (c) => c.title === title && !owned.has(c.chatId),
    );
    return match?.chatId ?? null;
  }

  /**
   * What held this run up (retries, a lost worker, a server restart), from the workflow's history.
   * The summary is recorded without them when the history cannot be read: they are a report,
   * not a reason to fail the run.
   */
  async function runIncidents(startedAt: string): Promise<RunIncident[]> {
    if (!deps.runIncidents) return [];
    const execution = activityInfo().workflowExecution;
    if (!execution) return [];
    const { workflowId, runId } = execution;
    try {
      return await deps.runIncidents({ workflowId, runId, since: Date.parse(startedAt) });
    } catch (error) {
      logger.warn(
        { workflowId, error: error instanceof Error ? error.message : String(error) },
        'run incidents not read',
      );
      return [];
    }
  }

  /**
   * Stores the whole plan as held for approval and returns what it holds. The same plan still held
   * (a periodic run, a sync now, or a run after its passed part was applied) keeps its ID, so an
   * approval of the plan the admin is looking at is not refused as stale.
   */
  async function holdPlan(
    schoolId: string,
    plan: Omit<StoredPlan, '_id' | 'createdAt' | 'status' | 'held'>,
    verdict: GuardVerdict,
    managed: readonly ChatRecord[],
  ): Promise<HeldPlan> {
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
    logger.warn(
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

  async function applyOps(
    label: string,
    run: () => Promise<OpResult[]>,
    ids: readonly number[],
  ): Promise<{ done: number[]; failed: number; retryable: boolean; transient: FailedOp[] }> {
    const transient: FailedOp[] = [];
    if (ids.length === 0) return { done: [], failed: 0, retryable: false, transient };
    const results = await run();
    const done: number[] = [];
    let failed = 0;
    let retryable = false;
    results.forEach((r, i) => {
      const id = ids[i];
      if (id === undefined) return;
      // A member already gone (935) is what a remove wanted: a retried batch lands here.
      if (r.ok || (label === 'remove' && r.code === USER_NOT_IN_CHAT)) done.push(id);
      else {
        failed += 1;
        if (RETRYABLE_OP_TYPES.has(r.type)) {
          retryable = true;
          transient.push(r);
        }
        logger.warn({ op: label, code: r.code, type: r.type }, 'chat operation refused');
      }
    });
    return { done, failed, retryable, transient };
  }

  return {
    async planSync({ schoolId, runId, approvedPlanId }) {
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
          remember(approved);
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
        remember(stored);
        return { ...summarize(stored), period };
      }
      const held = await holdPlan(schoolId, { ...base, chats }, verdict, managed);
      // The part the guard lets through is applied now: a new student does not wait for an
      // operator because someone else is leaving.
      const passed = await sync.savePlan({
        ...base,
        status: 'ready',
        chats: passedChats(chats, verdict.massRemoval ? removed : null),
        held: null,
      });
      remember(passed);
      return { ...summarize(passed), status: 'held', held, period };
    },

    async applyChat({ schoolId, planId, chatKey, runId }) {
      const plan = await sync.getPlan(schoolId, planId);
      const desired = plan?.chats.find((c) => c.key === chatKey);
      if (!plan || !desired) {
        throw new TypedError(ErrorType.NotFound, `plan ${planId} has no chat ${chatKey}`);
      }
      const { messenger, communityId, removeUnmanaged } = await deps.messengers.forSchool(schoolId);
      let record: ChatRecord | null = await sync.getChat(schoolId, chatKey);
      // An earlier attempt of this run may have created the chat or added members already.
      const earlier = record?.runProgress?.runId === runId ? record.runProgress : null;
      const result = {
        ...emptyResult(chatKey),
        ...(earlier
          ? {
              created: earlier.created,
              adopted: earlier.adopted,
              added: earlier.added,
              removed: earlier.removed,
              adminsChanged: earlier.adminsChanged,
            }
          : {}),
      };
      const save = async (patch: Partial<ChatRecord>): Promise<void> => {
        const base: ChatRecord = record ?? {
          schoolId,
          key: chatKey,
          kind: desired.kind,
          title: desired.title,
          chatId: null,
          createIntentAt: null,
          managedMembers: [],
          managedAdmins: [],
          retired: false,
          lastRunId: null,
        };
        const next: ChatRecord = {
          schoolId: base.schoolId,
          key: base.key,
          kind: base.kind,
          title: desired.title,
          chatId: base.chatId,
          createIntentAt: base.createIntentAt,
          managedMembers: base.managedMembers,
          managedAdmins: base.managedAdmins,
          retired: base.retired,
          ...patch,
          lastRunId: runId,
          runProgress: {
            runId,
            created: result.created,
            adopted: result.adopted,
            added: result.added,
            removed: result.removed,
            adminsChanged: result.adminsChanged,
          },
        };
        await sync.upsertChat(next);
        record = next;
      };

      if (desired.retire && (!record || record.chatId === null)) return result;

      let chatId = record?.chatId ?? null;
      if (chatId === null && record?.createIntentAt) {
        chatId = await adoptLostChat(messenger, schoolId, desired.title);
        if (chatId !== null) {
          result.adopted = true;
          await save({ chatId });
          logger.info({ schoolId, chatKey, chatId }, 'adopted a chat created by a lost attempt');
        }
      }
      if (chatId === null) {
        await save({ createIntentAt: new Date() });
        const created = await messenger.createChat({
          title: desired.title,
          userIds: desired.members,
        });
        chatId = created.chatId;
        result.created = true;
        await save({ chatId });
      }
      heartbeat({ chatKey, stage: 'members' });

      const present = (await messenger.getMembers({ chatIds: [chatId] })).get(chatId);
      if (present === null || present === undefined) {
        // The chat is gone from the platform (deleted by hand): forget it so the next attempt recreates it.
        await save({ chatId: null, createIntentAt: null, managedMembers: [], managedAdmins: [] });
        throw new TypedError(
          ErrorType.MessengerUnavailable,
          `chat ${chatKey} disappeared from the platform`,
        );
      }
      const managedBefore = record?.managedMembers ?? [];
      const diff = diffMembers({
        desired: desired.retire ? { members: [], admins: [] } : desired,
        actual: present,
        managed: result.created ? desired.members : managedBefore,
        removeUnmanaged: desired.retire ? false : removeUnmanaged,
        selfId: -communityId,
      });
      result.unmanaged = diff.unmanaged.length;

      const added = await applyOps(
        'add',
        () => messenger.addMembers({ ops: diff.add.map((userId) => ({ chatId, userId })) }),
        diff.add,
      );
      heartbeat({ chatKey, stage: 'remove' });
      const removing = withoutHeld(diff.remove, desired);
      const removed = await applyOps(
        'remove',
        () => messenger.removeMembers({ ops: removing.map((userId) => ({ chatId, userId })) }),
        removing,
      );
      const addedSet = new Set(added.done);
      const promotable = diff.promote.filter((id) => !diff.add.includes(id) || addedSet.has(id));
      const promoted = await applyOps(
        'promote',
        () =>
          messenger.setRoles({
            ops: promotable.map((userId) => ({ chatId, userId, role: 'admin' as const })),
          }),
        promotable,
      );
      const demoted = await applyOps(
        'demote',
        () =>
          messenger.setRoles({
            ops: diff.demote.map((userId) => ({ chatId, userId, role: 'member' as const })),
          }),
        diff.demote,
      );

      const presentIds = new Set(present.map((m) => m.memberId));
      const wanted = new Set(desired.members);
      const removedSet = new Set(removed.done);
      const nowPresent = new Set(
        [...presentIds, ...added.done].filter((id) => !removedSet.has(id)),
      );
      const managedAfter = [...new Set([...managedBefore, ...desired.members])]
        .filter((id) => nowPresent.has(id) && (wanted.has(id) || !removedSet.has(id)))
        .sort((a, b) => a - b);
      result.added += added.done.length;
      result.removed += removed.done.length;
      result.adminsChanged += promoted.done.length + demoted.done.length;
      result.failedOps = added.failed + removed.failed + promoted.failed + demoted.failed;
      await save({
        chatId,
        managedMembers: managedAfter,
        managedAdmins: desired.admins.filter((id) => nowPresent.has(id)),
        retired: desired.retire,
      });

      if (added.retryable || removed.retryable || promoted.retryable || demoted.retryable) {
        throw new TransientOpsError(`chat ${chatKey}`, [
          ...added.transient,
          ...removed.transient,
          ...promoted.transient,
          ...demoted.transient,
        ]);
      }
      return result;
    },

    async applyPlan({ schoolId, planId, runId }): Promise<PlanApplyResult> {
      const cached = recentPlans.get(planId);
      const [plan, { messenger, communityId, removeUnmanaged }, stored] = await Promise.all([
        cached?.schoolId === schoolId ? cached : sync.getPlan(schoolId, planId),
        deps.messengers.forSchool(schoolId),
        sync.listChats(schoolId),
      ]);
      if (!plan) throw new TypedError(ErrorType.NotFound, `no plan ${planId} for ${schoolId}`);
      const records = new Map(stored.map((r) => [r.key, r]));
      const selfId = -communityId;

      const untouched: ChatApplyResult[] = [];
      const works: ChatWork[] = [];
      for (const desired of plan.chats) {
        const record = records.get(desired.key) ?? null;
        const result = resultSoFar(desired.key, record, runId);
        // A chat to retire that never made it to the platform has nothing to undo.
        if (desired.retire && (record === null || record.chatId === null)) {
          untouched.push(result);
          continue;
        }
        works.push({
          desired,
          record,
          result,
          chatId: record?.chatId ?? null,
          present: null,
          gone: false,
          added: [],
          removed: [],
          adminsChanged: 0,
          failedOps: 0,
          retryable: false,
          failure: null,
        });
      }

      // Intent-then-adopt: a chat whose creation was sent but whose answer was lost is found by
      // its title among the community's chats before anything is created again.
      const lost = works.filter((w) => w.chatId === null && w.record?.createIntentAt);
      if (lost.length > 0) {
        const owned = new Set(
          [...records.values()].flatMap((c) => (c.chatId === null ? [] : [c.chatId])),
        );
        const listed = await messenger.listChats();
        for (const w of lost) {
          const match = listed.find((c) => c.title === w.desired.title && !owned.has(c.chatId));
          if (!match) continue;
          owned.add(match.chatId);
          w.chatId = match.chatId;
          w.result.adopted = true;
          logger.info(
            { schoolId, chatKey: w.desired.key, chatId: match.chatId },
            'adopted a chat created by a lost attempt',
          );
        }
      }
      const toCreate = works.filter((w) => w.chatId === null);
      const now = new Date();
      const intent = (w: ChatWork): ChatRecord =>
        chatRecord(schoolId, w.desired, w.record, runId, w.result, { createIntentAt: now });
      await sync.insertChats(toCreate.filter((w) => w.record === null).map(intent));
      await sync.upsertChats([
        ...lost
          .filter((w) => w.chatId !== null)
          .map((w) =>
            chatRecord(schoolId, w.desired, w.record, runId, w.result, { chatId: w.chatId }),
          ),
        ...toCreate.filter((w) => w.record !== null).map(intent),
      ]);

      // What failed transiently, for the error the retried activity leaves in the history.
      const transient: FailedOp[] = [];
      const failedOp = (w: ChatWork, op: string, outcome: OpFailure): FollowUp => {
        w.failedOps += 1;
        if (RETRYABLE_OP_TYPES.has(outcome.type)) {
          w.retryable = true;
          transient.push(outcome);
        }
        logger.warn({ op, code: outcome.code, type: outcome.type }, 'chat operation refused');
        return undefined;
      };
      const chatFailed = (w: ChatWork, op: string, outcome: OpFailure): FollowUp => {
        if (RETRYABLE_OP_TYPES.has(outcome.type)) {
          w.retryable = true;
          transient.push(outcome);
        } else w.failure = outcome.type;
        logger.warn(
          { schoolId, chatKey: w.desired.key, op, code: outcome.code, type: outcome.type },
          'chat refused',
        );
        return undefined;
      };
      const role = (w: ChatWork, chatId: number, userId: number, admin: boolean): BatchCall => ({
        kind: 'role',
        chatId,
        userId,
        role: admin ? 'admin' : 'member',
        then: (outcome) => {
          if (!outcome.ok) return failedOp(w, admin ? 'promote' : 'demote', outcome);
          w.adminsChanged += 1;
          return undefined;
        },
      });
      /** The writes that bring a chat from `present` to the plan; admins once they are in. */
      const writes = (w: ChatWork, chatId: number, present: readonly ChatMember[]): FollowUp => {
        heartbeat({ stage: 'apply' });
        w.present = present;
        const diff = diffMembers({
          desired: w.desired.retire ? { members: [], admins: [] } : w.desired,
          actual: present,
          managed: w.result.created ? w.desired.members : (w.record?.managedMembers ?? []),
          removeUnmanaged: w.desired.retire ? false : removeUnmanaged,
          selfId,
        });
        w.result.unmanaged = diff.unmanaged.length;
        const adding = new Set(diff.add);
        const promote = new Set(diff.promote);
        return [
          ...diff.add.map((userId): BatchCall => ({
            kind: 'add',
            chatId,
            userId,
            then: (outcome) => {
              if (!outcome.ok) return failedOp(w, 'add', outcome);
              w.added.push(userId);
              return promote.has(userId) ? [role(w, chatId, userId, true)] : undefined;
            },
          })),
          ...withoutHeld(diff.remove, w.desired).map((userId): BatchCall => ({
            kind: 'remove',
            chatId,
            userId,
            then: (outcome) => {
              // A member already gone (935) is what a remove wanted: a retried batch lands here.
              if (!outcome.ok && outcome.code !== USER_NOT_IN_CHAT)
                return failedOp(w, 'remove', outcome);
              w.removed.push(userId);
              return undefined;
            },
          })),
          ...diff.promote.filter((id) => !adding.has(id)).map((id) => role(w, chatId, id, true)),
          ...diff.demote.map((id) => role(w, chatId, id, false)),
        ];
      };
      const read = (w: ChatWork, chatId: number): BatchCall => ({
        kind: 'members',
        chatId,
        then: (outcome) => {
          if (!outcome.ok) return chatFailed(w, 'read', outcome);
          if (outcome.value === null) {
            w.gone = true;
            return undefined;
          }
          return writes(w, chatId, outcome.value);
        },
      });

      // Creations first: their admin rights follow them into the requests still to be sent.
      const calls: BatchCall[] = [
        ...toCreate.map((w): BatchCall => ({
          kind: 'create',
          title: w.desired.title,
          userIds: w.desired.members,
          then: (outcome) => {
            if (!outcome.ok) return chatFailed(w, 'create', outcome);
            const { chatId, added } = outcome.value;
            w.chatId = chatId;
            w.result.created = true;
            // A reply that does not say whom it added (the older shape) is read back instead.
            if (added === null) return [read(w, chatId)];
            return writes(w, chatId, [
              { memberId: selfId, isAdmin: true, isOwner: true },
              ...added.map((memberId) => ({ memberId, isAdmin: false, isOwner: false })),
            ]);
          },
        })),
        ...works.flatMap((w) =>
          w.chatId === null || toCreate.includes(w) ? [] : [read(w, w.chatId)],
        ),
      ];

      let aborted: Error | null = null;
      try {
        await messenger.run({ calls });
      } catch (error) {
        // A refused token or proxy: what was done so far is still recorded before failing.
        aborted = error instanceof Error ? error : new Error(String(error));
      }

      const saves: ChatRecord[] = [];
      const failed: { chatKey: string; type: string }[] = [];
      const results: ChatApplyResult[] = [...untouched];
      let retryable = false;
      for (const w of works) {
        const { desired, result } = w;
        if (w.gone) {
          // Deleted on the platform by hand: forget it, so the retry creates it again.
          transient.push({
            code: 0,
            type: ErrorType.MessengerUnavailable,
            message: `chat ${desired.key} disappeared from the platform`,
          });
          saves.push(
            chatRecord(schoolId, desired, w.record, runId, result, {
              chatId: null,
              createIntentAt: null,
              managedMembers: [],
              managedAdmins: [],
            }),
          );
          retryable = true;
          continue;
        }
        if (w.present === null || w.chatId === null) {
          if (w.chatId !== null && w.chatId !== w.record?.chatId) {
            saves.push(
              chatRecord(schoolId, desired, w.record, runId, result, { chatId: w.chatId }),
            );
          }
          if (w.failure) failed.push({ chatKey: desired.key, type: w.failure });
          retryable ||= w.retryable || (w.failure === null && aborted === null);
          continue;
        }
        const managedBefore = w.record?.managedMembers ?? [];
        const wanted = new Set(desired.members);
        const removedSet = new Set(w.removed);
        const nowPresent = new Set(
          [...w.present.map((m) => m.memberId), ...w.added].filter((id) => !removedSet.has(id)),
        );
        const managedAfter = [...new Set([...managedBefore, ...desired.members])]
          .filter((id) => nowPresent.has(id) && (wanted.has(id) || !removedSet.has(id)))
          .sort((a, b) => a - b);
        result.added += w.added.length;
        result.removed += w.removed.length;
        result.adminsChanged += w.adminsChanged;
        result.failedOps = w.failedOps;
        const next = chatRecord(schoolId, desired, w.record, runId, result, {
          chatId: w.chatId,
          managedMembers: managedAfter,
          managedAdmins: desired.admins.filter((id) => nowPresent.has(id)),
          retired: desired.retire,
        });
        // A chat this attempt left as it was keeps its record: a run with nothing to do writes nothing.
        const idle = w.added.length + w.removed.length + w.adminsChanged === 0;
        if (!idle || w.record === null || !sameState(w.record, next)) saves.push(next);
        retryable ||= w.retryable;
        results.push(result);
      }
      await sync.upsertChats(saves);

      if (aborted !== null) throw aborted;
      if (retryable) {
        throw new TransientOpsError(
          planId,
          transient.length > 0
            ? transient
            : [
                {
                  code: 0,
                  type: ErrorType.MessengerUnavailable,
                  message: 'a chat was neither read nor created',
                },
              ],
        );
      }
      return { results, failed };
    },

    async recordRun({ schoolId, runId, planId, startedAt, results, errors, skippedNoVkId }) {
      const sum = (pick: (r: ChatApplyResult) => number): number =>
        results.reduce((n, r) => n + pick(r), 0);
      let summary: RunSummary = {
        runId,
        planId,
        startedAt,
        finishedAt: new Date().toISOString(),
        chatsCreated: results.filter((r) => r.created).length,
        chatsAdopted: results.filter((r) => r.adopted).length,
        membersAdded: sum((r) => r.added),
        membersRemoved: sum((r) => r.removed),
        adminsChanged: sum((r) => r.adminsChanged),
        skippedNoVkId,
        unmanagedMembers: sum((r) => r.unmanaged),
        errors: errors + sum((r) => r.failedOps),
      };
      const incidents = await runIncidents(startedAt);
      if (incidents.length > 0) summary = { ...summary, incidents };
      await sync.saveRun({ ...summary, schoolId });
      logger.info({ schoolId, ...summary }, 'sync run recorded');
      return summary;
    },

    async ensureJournalWorkflows({ schoolId }) {
      // Without settings no call can be made; the run after the first save brings them up.
      if (!(await deps.settings.getPublic(schoolId))) return { journals: 0 };
      const state = await deps.roster.getState(schoolId);
      const journals = (await deps.roster.listJournals(schoolId)).filter(
        (j) => j.subjectChat && j.kind === 'general',
      );
      // A new roster version may have published, moved or switched lessons: a journal whose
      // lessons, timetable entries or own record changed in it re-plans once (lessonsChanged).
      // The others, and every journal while the version stays, get a plain start that adopts the
      // running workflow without waking it: a change set about one student wakes no journal.
      const notified = await sync.getJournalsNotified(schoolId);
      const rosterMoved = state !== null && state.version !== notified?.version;
      const fingerprints = rosterMoved
        ? journalFingerprints({
            journals,
            timeZone: (await deps.roster.getSchool(schoolId))?.timeZone ?? null,
            lessons: await deps.roster.listSchoolLessons(schoolId),
            templates: await deps.roster.listTemplates(schoolId),
          })
        : null;
      const replan = (journalId: string): boolean =>
        fingerprints !== null && notified?.fingerprints[journalId] !== fingerprints[journalId];
      const ensure = async (journalId: string): Promise<void> => {
        if (replan(journalId)) await deps.gateway.lessonsChanged({ schoolId, journalId });
        else await deps.gateway.ensureJournalCalls({ schoolId, journalId });
      };
      // A few at a time: each is a round trip to the Temporal server, and a school has a hundred.
      let next = 0;
      const lane = async (): Promise<void> => {
        for (let i = next++; i < journals.length; i = next++) {
          const journal = journals[i];
          if (journal) await ensure(journal.id);
        }
      };
      await Promise.all(Array.from({ length: Math.min(JOURNAL_LANES, journals.length) }, lane));
      if (rosterMoved && fingerprints) {
        await sync.setJournalsNotified(schoolId, { version: state.version, fingerprints });
      }
      return { journals: journals.length };
    },
  };
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

/**
 * Per journal, a digest of what its calls workflow plans from (`loadJournalContext`): the school's
 * time zone, the journal, its lessons and the templates with its entries. Nothing else in a roster
 * changes a journal's calls, so a journal whose digest stayed needs no re-plan.
 */
export function journalFingerprints(inputs: {
  readonly journals: readonly Journal[];
  readonly timeZone: string | null;
  readonly lessons: readonly Lesson[];
  readonly templates: readonly Template[];
}): Record<string, string> {
  const lessonsOf = new Map<string, Lesson[]>();
  const byId = [...inputs.lessons].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const lesson of byId) {
    const list = lessonsOf.get(lesson.journalId);
    if (list) list.push(lesson);
    else lessonsOf.set(lesson.journalId, [lesson]);
  }
  const fingerprints: Record<string, string> = {};
  for (const journal of inputs.journals) {
    const planInputs = {
      timeZone: inputs.timeZone,
      journal,
      lessons: lessonsOf.get(journal.id) ?? [],
      templates: inputs.templates.map((t) => ({
        ...t,
        entries: t.entries.filter((e) => e.journalId === journal.id),
      })),
    };
    fingerprints[journal.id] = createHash('sha256')
      .update(JSON.stringify(planInputs))
      .digest('base64url');
  }
  return fingerprints;
}

/** A chat's removals less those the guard holds (`keep`). */
function withoutHeld(remove: readonly number[], desired: PlannedChat): readonly number[] {
  if (!desired.keep?.length) return remove;
  const keep = new Set(desired.keep);
  return remove.filter((id) => !keep.has(id));
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
