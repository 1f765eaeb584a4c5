import { heartbeat } from '@temporalio/activity';
import type { RosterSnapshot } from '../src/contracts/roster';
import type { RunSummary } from '../src/contracts/school-sync';
import type { ChatApplyResult, ReadyPlan, SyncActivities } from '../src/contracts/sync-activities';
import { ErrorType, TypedError } from '../src/contracts/errors';
import { diffMembers, planChats } from '../src/domain/chat-plan';
import type { Logger } from '../src/logger';
import type { Messenger, OpResult } from '../src/messenger/port';
import type { MessengerProvider } from '../src/messenger/provider';
import type { SettingsStore } from '../src/store/settings-store';
import type { ChatRecord, PlannedChat, StoredPlan, SyncStore } from '../src/store/sync-store';
import type { WorkflowGateway } from '../src/workflow-gateway';

export interface RosterReader {
  loadRoster(schoolId: string): Promise<RosterSnapshot | null>;
  getState(schoolId: string): Promise<{ version: number } | null>;
}

export interface SyncActivityDeps {
  readonly logger: Logger;
  readonly roster: RosterReader;
  readonly settings: SettingsStore;
  readonly sync: SyncStore;
  readonly messengers: MessengerProvider;
  readonly gateway: Pick<WorkflowGateway, 'ensureJournalCalls' | 'lessonsChanged'>;
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

const RETRYABLE_OP_TYPES = new Set<string>([
  ErrorType.MessengerUnavailable,
  ErrorType.MessengerRateLimited,
]);

export function createSyncActivities(deps: SyncActivityDeps): SyncActivities {
  const { sync, logger } = deps;

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

  async function applyOps(
    label: string,
    run: () => Promise<OpResult[]>,
    ids: readonly number[],
  ): Promise<{ done: number[]; failed: number; retryable: boolean }> {
    if (ids.length === 0) return { done: [], failed: 0, retryable: false };
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
        if (RETRYABLE_OP_TYPES.has(r.type)) retryable = true;
        logger.warn({ op: label, code: r.code, type: r.type }, 'chat operation refused');
      }
    });
    return { done, failed, retryable };
  }

  return {
    async planSync({ schoolId, runId, approvedPlanId }) {
      const settings = await deps.settings.getPublic(schoolId);
      if (!settings) return { status: 'notConfigured' };
      if (!settings.enabled) return { status: 'disabled' };

      if (approvedPlanId) {
        // The workflow's approvePlan update names a held plan; mark it approved and apply it as is
        // (a retry finds it approved already).
        const approved = await sync.getPlan(schoolId, approvedPlanId);
        if (
          approved &&
          (approved.status === 'held' || approved.status === 'approved') &&
          (await sync.approvePlan(schoolId, approvedPlanId, approved.approvedBy ?? 'approvePlan'))
        ) {
          return summarize({ ...approved, status: 'ready' });
        }
      }

      const roster = await deps.roster.loadRoster(schoolId);
      if (!roster) return { status: 'notConfigured' };
      const managed = await sync.listChats(schoolId);
      const byKey = new Map(managed.map((c) => [c.key, c]));
      const existingSubjectChatJournalIds = managed.flatMap((c) =>
        c.kind === 'subject' && c.chatId !== null && !c.retired
          ? [c.key.slice('subject:'.length)]
          : [],
      );
      const plan = planChats(roster, { existingSubjectChatJournalIds });

      const chats: PlannedChat[] = plan.chats.map((chat) => {
        const record = byKey.get(chat.key);
        const wanted = new Set(chat.members);
        const had = new Set(record?.managedMembers ?? []);
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
            remove: [...had].filter((m) => !wanted.has(m)).length,
          },
        };
      });
      const planned = new Set(plan.chats.map((c) => c.key));
      for (const record of managed) {
        if (planned.has(record.key) || record.retired || record.chatId === null) continue;
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

      const removals = chats.reduce((n, c) => n + c.expected.remove, 0);
      const managedMembers = managed.reduce((n, c) => n + c.managedMembers.length, 0);
      const chatsRemoved = chats.filter((c) => c.retire).length;
      const threshold = settings.removalThreshold;
      const massRemoval = managedMembers > 0 && removals / managedMembers > threshold;
      const status = chatsRemoved > 0 || massRemoval ? 'held' : 'ready';
      if (status === 'held') {
        // The same plan still held (a periodic run, a sync now): keep its ID, so an approval of
        // the plan the admin is looking at is not refused as stale.
        const latest = await sync.latestPlan(schoolId);
        if (
          latest?.status === 'held' &&
          latest.held !== null &&
          JSON.stringify(latest.chats) === JSON.stringify(chats) &&
          JSON.stringify(latest.skipped) === JSON.stringify(plan.skipped)
        ) {
          return summarize(latest);
        }
      }
      const stored = await sync.savePlan({
        schoolId,
        runId,
        status,
        chats,
        skipped: [...plan.skipped],
        held: null,
        approvedBy: null,
      });
      const held =
        status === 'held'
          ? {
              planId: stored._id,
              reason: chatsRemoved > 0 ? ('chatRemoval' as const) : ('massRemoval' as const),
              removals,
              managedMembers,
              chatsRemoved,
            }
          : null;
      if (held) {
        await sync.savePlanHeld(schoolId, stored._id, held);
        logger.warn(
          { schoolId, planId: stored._id, removals, managedMembers, chatsRemoved },
          'plan held',
        );
      }
      return summarize({ ...stored, held, status });
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
      const removed = await applyOps(
        'remove',
        () => messenger.removeMembers({ ops: diff.remove.map((userId) => ({ chatId, userId })) }),
        diff.remove,
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
        throw new TypedError(
          ErrorType.MessengerUnavailable,
          `chat ${chatKey}: ${result.failedOps} operations failed transiently; retrying the rest`,
        );
      }
      return result;
    },

    async recordRun({ schoolId, runId, planId, startedAt, results, errors, skippedNoVkId }) {
      const sum = (pick: (r: ChatApplyResult) => number): number =>
        results.reduce((n, r) => n + pick(r), 0);
      const summary: RunSummary = {
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
      await sync.saveRun({ ...summary, schoolId });
      logger.info({ schoolId, ...summary }, 'sync run recorded');
      return summary;
    },

    async ensureJournalWorkflows({ schoolId }) {
      const roster = await deps.roster.loadRoster(schoolId);
      const state = await deps.roster.getState(schoolId);
      const journals = (roster?.journals ?? []).filter(
        (j) => j.subjectChat && j.kind === 'general',
      );
      // A new roster version may have published, moved or switched lessons: every journal
      // re-plans once. Otherwise a plain start adopts the running workflows without waking them.
      const rosterMoved =
        state !== null && state.version !== (await sync.getJournalsNotifiedVersion(schoolId));
      for (const journal of journals) {
        try {
          if (rosterMoved) await deps.gateway.lessonsChanged({ schoolId, journalId: journal.id });
          else await deps.gateway.ensureJournalCalls({ schoolId, journalId: journal.id });
        } catch (error) {
          // One journal whose ID another school's workflow holds must not keep the others waiting.
          if (!(error instanceof TypedError && error.type === ErrorType.WorkflowOfAnotherSchool))
            throw error;
          logger.warn({ schoolId, journalId: journal.id }, error.message);
        }
      }
      if (rosterMoved) await sync.setJournalsNotifiedVersion(schoolId, state.version);
      return { journals: journals.length };
    },
  };
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
