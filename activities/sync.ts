import type { RunIncidentReader } from '../src/client/run-incidents';
import { ErrorType, TypedError } from '../src/contracts/errors';
import type { SyncActivities } from '../src/contracts/sync-activities';
import type { Logger } from 'pino';
import type { MessengerProvider } from '../src/messenger/provider';
import type { RosterStore } from '../src/store/roster-store';
import type { SettingsStore } from '../src/store/settings-store';
import type { SyncStore } from '../src/store/sync-store';
import type { WorkflowGateway } from '../src/client/workflow-gateway';
import { applyChat, applyChats } from './sync/apply';
import { createEnsureJournalWorkflows } from './sync/journals';
import { RecentPlans, createPlanSync } from './sync/plan';
import { createRecordRun } from './sync/record';

export { journalFingerprints } from './sync/journals';

export interface SyncActivityDeps {
  readonly logger: Logger;
  readonly roster: Pick<
    RosterStore,
    'loadRoster' | 'getState' | 'getSchool' | 'listJournals' | 'listSchoolLessons' | 'listTemplates'
  >;
  readonly settings: SettingsStore;
  readonly sync: SyncStore;
  readonly messengers: MessengerProvider;
  readonly gateway: Pick<
    WorkflowGateway,
    'ensureJournalCalls' | 'lessonsChanged' | 'ensurePlatformEvents'
  >;
  /** The run's incidents for its summary, read from its history; absent (the plan CLI): none. */
  readonly runIncidents?: RunIncidentReader;
}

/**
 * The school sync's activities: plan (roster → stored plan, through the guard), apply (the chat
 * apply engine, `sync/apply.ts`), record (the run's summary) and the journals' workflows.
 */
export function createSyncActivities(deps: SyncActivityDeps): SyncActivities {
  const { sync } = deps;
  const plans = new RecentPlans();
  const engine = { logger: deps.logger, sync, messengers: deps.messengers };
  const storedPlan = async (schoolId: string, planId: string) => {
    const plan = await plans.get(sync, schoolId, planId);
    if (!plan) throw new TypedError(ErrorType.NotFound, `no plan ${planId} for ${schoolId}`);
    return plan;
  };

  return {
    planSync: createPlanSync({ ...deps, plans }),

    async applyPlan({ schoolId, planId, runId }) {
      const plan = await storedPlan(schoolId, planId);
      return applyChats(engine, { schoolId, runId, label: planId, chats: plan.chats });
    },

    /** Histories recorded before `applyPlan` apply chat by chat; the same engine serves them. */
    async applyChat({ schoolId, planId, chatKey, runId }) {
      const chat = (await storedPlan(schoolId, planId)).chats.find((c) => c.key === chatKey);
      if (!chat) throw new TypedError(ErrorType.NotFound, `plan ${planId} has no chat ${chatKey}`);
      return applyChat(engine, { schoolId, runId, chat });
    },

    recordRun: createRecordRun(deps),
    ensureJournalWorkflows: createEnsureJournalWorkflows(deps),
  };
}
