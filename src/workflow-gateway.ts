import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ErrorType, TypedError } from './contracts/errors';
import { TASK_QUEUE, workflowIds } from './contracts/ids';
import {
  callStateQuery,
  endCallUpdate,
  lessonsChangedSignal,
  startCallUpdate,
  type EndCallResult,
  type JournalCallsInput,
  type JournalCallState,
  type StartCallResult,
} from './contracts/journal-calls';
import {
  approvePlanUpdate,
  rosterChangedSignal,
  settingsChangedSignal,
  syncNowUpdate,
  syncStatusQuery,
  type SchoolSyncInput,
  type SyncStatus,
} from './contracts/school-sync';
import { JournalIdKey, SchoolIdKey } from './contracts/search-attributes';

/**
 * How the API, the CLI and activities talk to the workflows: every message goes through
 * signal-with-start or update-with-start, so a school's or journal's workflow comes into being on
 * first use and the callers never race its creation.
 */
export interface WorkflowGateway {
  ensureSchoolSync(schoolId: string): Promise<void>;
  rosterChanged(args: { schoolId: string; changeId: string }): Promise<void>;
  settingsChanged(args: { schoolId: string }): Promise<void>;
  syncNow(args: { schoolId: string; requestedBy: string }): Promise<{ runId: string }>;
  approvePlan(args: {
    schoolId: string;
    planId: string;
    approvedBy: string;
  }): Promise<{ accepted: true; runId: string } | { accepted: false; reason: string }>;
  syncStatus(schoolId: string): Promise<SyncStatus | null>;
  ensureJournalCalls(args: { schoolId: string; journalId: string }): Promise<void>;
  lessonsChanged(args: {
    schoolId: string;
    journalId: string;
    lessonIds?: string[];
  }): Promise<void>;
  startCall(args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    requestedBy: string;
  }): Promise<StartCallResult>;
  endCall(args: {
    schoolId: string;
    journalId: string;
    requestedBy: string;
  }): Promise<EndCallResult>;
  callState(journalId: string): Promise<JournalCallState | null>;
}

export const SCHOOL_SYNC_WORKFLOW = 'schoolSyncWorkflow';
export const JOURNAL_CALLS_WORKFLOW = 'journalCallsWorkflow';

export function schoolSyncStartOptions(schoolId: string, taskQueue: string = TASK_QUEUE) {
  const input: SchoolSyncInput = { schoolId };
  return {
    workflowId: workflowIds.schoolSync(schoolId),
    taskQueue,
    args: [input] as [SchoolSyncInput],
    typedSearchAttributes: [{ key: SchoolIdKey, value: schoolId }],
    staticSummary: `Chat sync of school ${schoolId}`,
    staticDetails:
      'Keeps the staff room, class and subject chats, their members and admins equal to the roster ' +
      '(rules C1–C5, S1–S4). Query `status` for the last run, the next run and a held plan.',
  };
}

export function journalCallsStartOptions(
  schoolId: string,
  journalId: string,
  taskQueue: string = TASK_QUEUE,
) {
  const input: JournalCallsInput = { schoolId, journalId };
  return {
    workflowId: workflowIds.journalCalls(journalId),
    taskQueue,
    args: [input] as [JournalCallsInput],
    typedSearchAttributes: [
      { key: SchoolIdKey, value: schoolId },
      { key: JournalIdKey, value: journalId },
    ],
    staticSummary: `Video lessons of journal ${journalId}`,
    staticDetails:
      'Starts a call 20 minutes before each published online lesson and ends it 20 minutes after ' +
      '(rules V1–V7). Query `state` for the running call, the next action and why calls are manual only.',
  };
}

/** `taskQueue` is for tests, which run their own workers side by side on one server. */
export function createWorkflowGateway(
  client: Client,
  opts: { taskQueue?: string } = {},
): WorkflowGateway {
  const wf = client.workflow;
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;

  async function signalSchool(
    schoolId: string,
    signal: typeof rosterChangedSignal | typeof settingsChangedSignal,
    arg: object,
  ): Promise<void> {
    await wf.signalWithStart(SCHOOL_SYNC_WORKFLOW, {
      ...schoolSyncStartOptions(schoolId, taskQueue),
      signal,
      signalArgs: [arg],
    });
  }

  /**
   * Journal workflow IDs carry the journal ID only, and two schools may both have a `j-1`: a
   * message for one school's journal must not reach the other school's running workflow, whose
   * signal-with-start or update-with-start would otherwise adopt it.
   */
  async function assertJournalOfSchool(schoolId: string, journalId: string): Promise<void> {
    let owner: string | undefined;
    try {
      const described = await wf.getHandle(workflowIds.journalCalls(journalId)).describe();
      if (described.status.name !== 'RUNNING') return;
      owner = described.typedSearchAttributes.get(SchoolIdKey);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return;
      throw error;
    }
    if (owner !== undefined && owner !== schoolId) {
      throw new TypedError(
        ErrorType.WorkflowOfAnotherSchool,
        `the call workflow of journal ${journalId} belongs to another school`,
        { schoolId, journalId },
      );
    }
  }

  async function queryOrNull<T>(run: () => Promise<T>): Promise<T | null> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  return {
    async ensureSchoolSync(schoolId) {
      await signalSchool(schoolId, settingsChangedSignal, { reason: 'ensure' });
    },
    rosterChanged: ({ schoolId, changeId }) =>
      signalSchool(schoolId, rosterChangedSignal, { changeId }),
    settingsChanged: ({ schoolId }) =>
      signalSchool(schoolId, settingsChangedSignal, { reason: 'settings saved' }),

    syncNow: ({ schoolId, requestedBy }) =>
      wf.executeUpdateWithStart(syncNowUpdate, {
        args: [{ requestedBy }],
        startWorkflowOperation: new WithStartWorkflowOperation(SCHOOL_SYNC_WORKFLOW, {
          ...schoolSyncStartOptions(schoolId, taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      }),

    approvePlan: ({ schoolId, planId, approvedBy }) =>
      wf
        .getHandle(workflowIds.schoolSync(schoolId))
        .executeUpdate(approvePlanUpdate, { args: [{ planId, approvedBy }] }),

    syncStatus: (schoolId) => {
      const id = workflowIds.schoolSync(schoolId);
      return queryOrNull(() => wf.getHandle(id).query(syncStatusQuery));
    },

    async ensureJournalCalls({ schoolId, journalId }) {
      // A plain start that adopts a running workflow: no signal, so no re-plan and no history event.
      await wf.start(JOURNAL_CALLS_WORKFLOW, {
        ...journalCallsStartOptions(schoolId, journalId, taskQueue),
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    },

    async lessonsChanged({ schoolId, journalId, lessonIds }) {
      await assertJournalOfSchool(schoolId, journalId);
      await wf.signalWithStart(JOURNAL_CALLS_WORKFLOW, {
        ...journalCallsStartOptions(schoolId, journalId, taskQueue),
        signal: lessonsChangedSignal,
        signalArgs: [lessonIds ? { lessonIds } : {}],
      });
    },

    async startCall({ schoolId, journalId, lessonId, requestedBy }) {
      await assertJournalOfSchool(schoolId, journalId);
      return wf.executeUpdateWithStart(startCallUpdate, {
        args: [{ lessonId, requestedBy }],
        startWorkflowOperation: new WithStartWorkflowOperation(JOURNAL_CALLS_WORKFLOW, {
          ...journalCallsStartOptions(schoolId, journalId, taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
    },

    async endCall({ schoolId, journalId, requestedBy }) {
      await assertJournalOfSchool(schoolId, journalId);
      return wf.executeUpdateWithStart(endCallUpdate, {
        args: [{ requestedBy }],
        startWorkflowOperation: new WithStartWorkflowOperation(JOURNAL_CALLS_WORKFLOW, {
          ...journalCallsStartOptions(schoolId, journalId, taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
    },

    callState: (journalId) => {
      const id = workflowIds.journalCalls(journalId);
      return queryOrNull(() => wf.getHandle(id).query(callStateQuery));
    },
  };
}
