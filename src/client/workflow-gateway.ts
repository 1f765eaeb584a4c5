import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  TASK_QUEUE,
  workflowIds,
  type JournalRef,
  DIARY_DELIVERY_WORKFLOW,
  JOURNAL_CALLS_WORKFLOW,
  PLATFORM_EVENTS_WORKFLOW,
  SCHOOL_SYNC_WORKFLOW,
} from '../contracts/ids';
import {
  callStateQuery,
  carriedStateQuery,
  endCallUpdate,
  handOverUpdate,
  takeOverSignal,
  callEndedOnPlatformSignal,
  lessonsChangedSignal,
  startCallUpdate,
  type CarriedCallState,
  type EndCallResult,
  type JournalCallsInput,
  type JournalCallState,
  type StartCallResult,
} from '../contracts/journal-calls';
import {
  approvePlanUpdate,
  rosterChangedSignal,
  settingsChangedSignal,
  syncNowUpdate,
  syncStatusQuery,
  type SchoolSyncInput,
  type SettingsChangedArgs,
  type SyncPeriod,
  type SyncStatus,
} from '../contracts/school-sync';
import {
  diaryEventsAddedSignal,
  diaryStatusQuery,
  type DiaryDeliveryInput,
  type DiaryDeliveryStatus,
} from '../contracts/diary';
import {
  eventsSettingsChangedSignal,
  platformEventsStatusQuery,
  platformFactsSignal,
  type ListenerFact,
  type PlatformEventsInput,
  type PlatformEventsStatus,
} from '../contracts/platform-listener';
import { JournalIdKey, SchoolIdKey } from '../contracts/search-attributes';

/**
 * How the API, the CLI and activities talk to the workflows: every message goes through
 * signal-with-start or update-with-start, so a school's or journal's workflow comes into being on
 * first use and the callers never race its creation.
 */
export interface WorkflowGateway {
  ensureSchoolSync(schoolId: string): Promise<void>;
  rosterChanged(args: { schoolId: string; changeId: string }): Promise<void>;
  /** `period`: the one just saved, so the running workflow takes it at once (S3). */
  settingsChanged(args: { schoolId: string; period?: SyncPeriod }): Promise<void>;
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
  callState(ref: JournalRef): Promise<JournalCallState | null>;
  /** Wakes the school's e-diary delivery (starting it if needed): its outbox has new events. */
  diaryEventsAdded(args: { schoolId: string }): Promise<void>;
  diaryStatus(schoolId: string): Promise<DiaryDeliveryStatus | null>;
  /** Starts the school's platform events listener unless it runs (V5, C3). */
  ensurePlatformEvents(args: { schoolId: string }): Promise<void>;
  /** The events settings were saved: the listener looks at its mode again (starting if needed). */
  eventsSettingsChanged(args: { schoolId: string }): Promise<void>;
  /** What the Callback API route accepted, for the listener to apply. */
  platformFactsReceived(args: { schoolId: string; facts: ListenerFact[] }): Promise<void>;
  platformEventsStatus(schoolId: string): Promise<PlatformEventsStatus | null>;
  /** V5: tells a journal its call ended in Sferum; a journal without a workflow has no call. */
  callEndedOnPlatform(args: {
    schoolId: string;
    journalId: string;
    callKey: string;
    eventId: string;
  }): Promise<void>;
  /**
   * Moves every journal run still open under its legacy workflow ID (one without the school) to
   * its school-qualified ID, with its running call; returns how many it moved.
   */
  handOverLegacyJournals(): Promise<number>;
}

export function platformEventsStartOptions(schoolId: string, taskQueue: string = TASK_QUEUE) {
  const input: PlatformEventsInput = { schoolId };
  return {
    workflowId: workflowIds.platformEvents(schoolId),
    taskQueue,
    args: [input] as [PlatformEventsInput],
    typedSearchAttributes: [{ key: SchoolIdKey, value: schoolId }],
    staticSummary: `Platform events of school ${schoolId}`,
    staticDetails:
      "Follows the community's Bots Long Poll stream (or takes the Callback API's events): a call " +
      'ended in Sferum ends in its journal (V5), members or chats changed by hand make the sync run ' +
      'now (C3). The pending long-poll activity shows a platform or proxy that is down. Query `platformEventsStatus`.',
  };
}

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
      '(rules C1–C5, S1–S4). Query `syncStatus` for the last run, the next run and a held plan.',
  };
}

export function journalCallsStartOptions(
  schoolId: string,
  journalId: string,
  taskQueue: string = TASK_QUEUE,
) {
  const input: JournalCallsInput = { schoolId, journalId };
  return {
    workflowId: workflowIds.journalCalls({ schoolId, journalId }),
    taskQueue,
    args: [input] as [JournalCallsInput],
    typedSearchAttributes: [
      { key: SchoolIdKey, value: schoolId },
      { key: JournalIdKey, value: journalId },
    ],
    staticSummary: `Video lessons of journal ${journalId}`,
    staticDetails:
      'Starts a call 20 minutes before each published online lesson and ends it 20 minutes after ' +
      '(rules V1–V7). Query `callState` for the running call, the next action and why calls are manual only.',
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

  async function startPlatformEvents(schoolId: string): Promise<void> {
    await wf.start(PLATFORM_EVENTS_WORKFLOW, {
      ...platformEventsStartOptions(schoolId, taskQueue),
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  async function signalPlatformEvents(schoolId: string): Promise<void> {
    await wf.signalWithStart(PLATFORM_EVENTS_WORKFLOW, {
      ...platformEventsStartOptions(schoolId, taskQueue),
      signal: eventsSettingsChangedSignal,
      signalArgs: [{}],
    });
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
    async settingsChanged({ schoolId, period }) {
      const arg: SettingsChangedArgs = { reason: 'settings saved', ...(period ? { period } : {}) };
      await signalSchool(schoolId, settingsChangedSignal, arg);
      // A school with settings has a community whose events the listener follows (V5, C3); one
      // that waited for settings (or for a new token) looks again at once.
      await signalPlatformEvents(schoolId);
    },

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
      await wf.signalWithStart(JOURNAL_CALLS_WORKFLOW, {
        ...journalCallsStartOptions(schoolId, journalId, taskQueue),
        signal: lessonsChangedSignal,
        signalArgs: [lessonIds ? { lessonIds } : {}],
      });
    },

    startCall: ({ schoolId, journalId, lessonId, requestedBy }) =>
      wf.executeUpdateWithStart(startCallUpdate, {
        args: [{ lessonId, requestedBy }],
        startWorkflowOperation: new WithStartWorkflowOperation(JOURNAL_CALLS_WORKFLOW, {
          ...journalCallsStartOptions(schoolId, journalId, taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      }),

    endCall: ({ schoolId, journalId, requestedBy }) =>
      wf.executeUpdateWithStart(endCallUpdate, {
        args: [{ requestedBy }],
        startWorkflowOperation: new WithStartWorkflowOperation(JOURNAL_CALLS_WORKFLOW, {
          ...journalCallsStartOptions(schoolId, journalId, taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      }),

    callState: (ref) => {
      const id = workflowIds.journalCalls(ref);
      return queryOrNull(() => wf.getHandle(id).query(callStateQuery));
    },

    async diaryEventsAdded({ schoolId }) {
      const input: DiaryDeliveryInput = { schoolId };
      await wf.signalWithStart(DIARY_DELIVERY_WORKFLOW, {
        workflowId: workflowIds.diaryDelivery(schoolId),
        taskQueue,
        args: [input],
        typedSearchAttributes: [{ key: SchoolIdKey, value: schoolId }],
        staticSummary: `E-diary delivery of school ${schoolId}`,
        staticDetails:
          "Pushes the school's call links (published, changed, withdrawn) to the city portal's " +
          'webhook in order (V4). A failing delivery shows as the pending activity, with its last error.',
        signal: diaryEventsAddedSignal,
        signalArgs: [{}],
      });
    },

    diaryStatus: (schoolId) => {
      const id = workflowIds.diaryDelivery(schoolId);
      return queryOrNull(() => wf.getHandle(id).query(diaryStatusQuery));
    },

    ensurePlatformEvents: ({ schoolId }) => startPlatformEvents(schoolId),

    eventsSettingsChanged: ({ schoolId }) => signalPlatformEvents(schoolId),

    async platformFactsReceived({ schoolId, facts }) {
      await wf.signalWithStart(PLATFORM_EVENTS_WORKFLOW, {
        ...platformEventsStartOptions(schoolId, taskQueue),
        signal: platformFactsSignal,
        signalArgs: [{ facts }],
      });
    },

    platformEventsStatus: (schoolId) => {
      const id = workflowIds.platformEvents(schoolId);
      return queryOrNull(() => wf.getHandle(id).query(platformEventsStatusQuery));
    },

    async callEndedOnPlatform({ schoolId, journalId, callKey, eventId }) {
      const id = workflowIds.journalCalls({ schoolId, journalId });
      await queryOrNull(() =>
        wf.getHandle(id).signal(callEndedOnPlatformSignal, { callKey, eventId }),
      );
    },

    handOverLegacyJournals: () => handOverLegacyJournals(client, taskQueue),
  };
}

/**
 * The successor takes the legacy run's state over before the legacy run stops, so a worker lost
 * between the two steps leaves both running (the next pass finishes the move) rather than a call
 * that neither knows. The state is read again when the legacy run stops, in case it moved on.
 */
async function handOverLegacyJournals(client: Client, taskQueue: string): Promise<number> {
  const wf = client.workflow;
  const query = `WorkflowType = '${JOURNAL_CALLS_WORKFLOW}' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`;
  let moved = 0;
  for await (const info of wf.list({ query })) {
    const schoolId = info.typedSearchAttributes.get(SchoolIdKey);
    const journalId = info.typedSearchAttributes.get(JournalIdKey);
    if (schoolId === undefined || journalId === undefined) continue;
    if (info.workflowId !== workflowIds.legacyJournalCalls(journalId)) continue;
    const legacy = wf.getHandle(info.workflowId, info.runId);
    const successor = journalCallsStartOptions(schoolId, journalId, taskQueue);
    const takeOver = (carried: CarriedCallState) =>
      wf.signalWithStart(JOURNAL_CALLS_WORKFLOW, {
        ...successor,
        signal: takeOverSignal,
        signalArgs: [{ carried, fromWorkflowId: info.workflowId }],
      });
    await takeOver(await legacy.query(carriedStateQuery));
    await takeOver(
      await legacy.executeUpdate(handOverUpdate, {
        args: [{ toWorkflowId: successor.workflowId }],
      }),
    );
    moved += 1;
  }
  return moved;
}
