import { ApplicationFailure } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { Worker, type InjectedSinks } from '@temporalio/worker';
import type { Db } from 'mongodb';
import type { CallActivities } from '../../src/contracts/call-activities';
import type { CallDecision, DecisionSinks } from '../../src/contracts/decisions';
import { workflowIds } from '../../src/contracts/ids';
import type { RosterSnapshotInput } from '../../src/contracts/roster';
import type { RunSummary } from '../../src/contracts/sync-records';
import { searchAttributeKeys } from '../../src/contracts/search-attributes';
import type { SyncActivities } from '../../src/contracts/sync-activities';
import { addDays, epochToZonedDate, zonedDateTimeToEpoch } from '../../src/domain/time';
import { importSnapshot } from '../../src/store/roster-import';
import { createRosterStore } from '../../src/store/roster-store';
import { loadJournalContext } from '../../activities/calls';
import { LESSON_GRID } from '../../src/demo/roster-generator';
import { JOURNAL_CALLS_WORKFLOW, SCHOOL_SYNC_WORKFLOW } from '../../src/contracts/ids';
import {
  createWorkflowGateway,
  journalCallsStartOptions,
  schoolSyncStartOptions,
} from '../../src/client/workflow-gateway';
import { workflowBundle } from '../support/services';

/**
 * One simulated school day on the time-skipping server, shared by the fixture recorder
 * (test/replay/record-fixtures.ts) and the audit test (test/workflow/audit.test.ts). The journals
 * are built so that each one shows one behaviour the audit must explain:
 *
 * - J1 runs normally: an automatic call (08:10–09:35), a manual start at 09:50 with a manual
 *   start of another lesson refused at 09:55 (a call is running), a manual end at 11:00, an
 *   automatic call at 12:10, and one at 14:00 that was already ended in Sferum at its auto-end.
 * - J2 has no entry in the timetable template: its online lesson is manual only (V7).
 * - J3 leaves lesson 1 unpublished while lesson 2 is published: lesson 2 gets the call (V3).
 * - J4's platform fails every calls.start for the whole window.
 * - J5 publishes lesson 4 (11:35) only at 12:05, 30 minutes late (V2).
 *
 * The roster holds opaque IDs and made-up names only.
 */
export const SCHOOL_ID = 'school-audit';
export const TIME_ZONE = 'Europe/Moscow';
export const TEACHER_ID = 'stf-t1';

/** The generator's bell schedule: 45-minute lessons from 08:30. */
export const GRID = LESSON_GRID;

export const JOURNALS = ['j1', 'j2', 'j3', 'j4', 'j5'] as const;
export const CAN_JOURNAL = 'j6';

export const lessonId = (journalId: string, number: number): string => `les-${journalId}-${number}`;

interface LessonSpec {
  journalId: string;
  number: number;
  status: 'draft' | 'published';
}

const DAY_LESSONS: readonly LessonSpec[] = [
  { journalId: 'j1', number: 1, status: 'published' },
  { journalId: 'j1', number: 3, status: 'published' },
  { journalId: 'j1', number: 5, status: 'published' },
  { journalId: 'j1', number: 7, status: 'published' },
  { journalId: 'j2', number: 2, status: 'published' },
  { journalId: 'j3', number: 1, status: 'draft' },
  { journalId: 'j3', number: 2, status: 'published' },
  { journalId: 'j4', number: 3, status: 'published' },
  { journalId: 'j5', number: 4, status: 'draft' },
  { journalId: CAN_JOURNAL, number: 1, status: 'published' },
  { journalId: CAN_JOURNAL, number: 3, status: 'published' },
  { journalId: CAN_JOURNAL, number: 5, status: 'published' },
];

/** The lessons J4's failing platform never starts and J1's platform reports already ended. */
export const FAILING_JOURNAL = 'j4';
export const ENDED_IN_SFERUM_LESSON = lessonId('j1', 7);

export function dayRoster(day: string): RosterSnapshotInput {
  const journalIds = [...JOURNALS, CAN_JOURNAL];
  return {
    school: { id: SCHOOL_ID, name: 'Audit test school', timeZone: TIME_ZONE },
    staff: [
      {
        id: TEACHER_ID,
        lastName: 'Teacher',
        firstName: 'Test',
        vkId: 1001,
        active: true,
        positions: [{ title: 'Teacher', level: 'teacher', active: true }],
      },
    ],
    classes: [{ id: 'cls-5a', name: '5A', classTeacherId: TEACHER_ID }],
    students: [],
    parents: [],
    journals: journalIds.map((id) => ({
      id,
      classId: 'cls-5a',
      subject: `Subject ${id}`,
      teacherIds: [TEACHER_ID],
      kind: 'general' as const,
      subjectChat: true,
    })),
    lessons: DAY_LESSONS.map((l) => ({
      id: lessonId(l.journalId, l.number),
      journalId: l.journalId,
      date: day,
      number: l.number,
      online: true,
      status: l.status,
    })),
    templates: [
      {
        id: 'tpl-main',
        validFrom: addDays(day, -60),
        validTo: addDays(day, 60),
        sendToPortal: true,
        grid: GRID.map((r) => ({ ...r })),
        // J2 is left out on purpose: its template is incomplete (noEntryForJournal).
        entries: journalIds
          .filter((id) => id !== 'j2')
          .map((journalId) => ({ journalId, weekday: 1, number: 1 })),
      },
    ],
  };
}

/** The platform as the scenario needs it: J4 fails every start, one of J1's calls ends in Sferum. */
export function scenarioCallActivities(args: { db: Db; day: string }): CallActivities {
  const roster = createRosterStore({ db: args.db });
  const dates = [-1, 0, 1, 2].map((d) => addDays(args.day, d));
  return {
    loadJournal: ({ schoolId, journalId }) =>
      loadJournalContext({ roster, schoolId, journalId, dates: () => dates }),
    async openCall({ schoolId, journalId, lessonId: id, callKey }) {
      if (journalId === FAILING_JOURNAL) {
        // What the VK client makes of error 10 (internal server error): retryable.
        throw ApplicationFailure.retryable(
          'calls.start: internal server error',
          'MessengerUnavailable',
        );
      }
      const lesson = await roster.getLesson({ schoolId, lessonId: id });
      const callId = createHash('sha256').update(callKey).digest('hex').slice(0, 12);
      return {
        callId,
        joinLink: `https://sferum.example/call/${callId}`,
        linkPublished: lesson !== null && lesson.status !== 'draft',
      };
    },
    publishLink() {
      return Promise.resolve({ published: true });
    },
    closeCall({ callKey }) {
      return Promise.resolve({ alreadyEnded: callKey.includes(`:${ENDED_IN_SFERUM_LESSON}:`) });
    },
  };
}

/** A school sync against a platform where every plan is ready and every chat applies cleanly. */
export function scenarioSyncActivities(): Pick<
  SyncActivities,
  'planSync' | 'applyChat' | 'applyPlan' | 'recordRun' | 'ensureJournalWorkflows'
> {
  const chatKeys = ['staff', 'class-parents:cls-5a', 'class-students:cls-5a'];
  return {
    planSync({ runId }) {
      return Promise.resolve({
        status: 'ready' as const,
        planId: `plan-${runId}`,
        chatKeys,
        held: null,
        counts: { chats: 3, chatsToCreate: 0, chatsToRetire: 0, skippedNoVkId: 0 },
      });
    },
    applyChat({ chatKey }) {
      return Promise.resolve({
        chatKey,
        created: false,
        adopted: false,
        added: 1,
        removed: 0,
        adminsChanged: 0,
        unmanaged: 0,
        failedOps: 0,
      });
    },
    applyPlan() {
      return Promise.resolve({
        results: chatKeys.map((chatKey) => ({
          chatKey,
          created: false,
          adopted: false,
          added: 1,
          removed: 0,
          adminsChanged: 0,
          unmanaged: 0,
          failedOps: 0,
        })),
        failed: [],
      });
    },
    recordRun({ runId, planId, startedAt, results, errors, skippedNoVkId }): Promise<RunSummary> {
      return Promise.resolve({
        runId,
        planId,
        startedAt,
        finishedAt: startedAt,
        chatsCreated: 0,
        chatsAdopted: 0,
        membersAdded: results.reduce((n, r) => n + r.added, 0),
        membersRemoved: 0,
        adminsChanged: 0,
        skippedNoVkId,
        unmanagedMembers: 0,
        errors,
      });
    },
    ensureJournalWorkflows() {
      return Promise.resolve({ journals: 0 });
    },
  };
}

/** Live decisions, as the worker's sink saw them while the day ran. */
export function collectingSinks(into: CallDecision[]): InjectedSinks<DecisionSinks> {
  return {
    decisions: {
      record: { fn: (_info, decision) => void into.push(decision), callDuringReplay: false },
    },
  };
}

export interface DayRun {
  readonly day: string;
  readonly liveDecisions: CallDecision[];
  /** Workflow IDs of the journal workflows (J1–J5), the continue-as-new one, and the school sync. */
  readonly journalWorkflowIds: string[];
  readonly continueAsNewWorkflowId: string;
  readonly schoolWorkflowId: string;
}

/** The Java test server knows no custom search attributes until they are registered. */
export async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const indexed = temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      searchAttributeKeys.map((k) => [
        k.name,
        k.type === 'DATETIME'
          ? indexed.INDEXED_VALUE_TYPE_DATETIME
          : indexed.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
}

const at = (day: string, time: string): number =>
  zonedDateTimeToEpoch({ date: day, time, timeZone: TIME_ZONE });

async function advanceTo(env: TestWorkflowEnvironment, epoch: number): Promise<void> {
  const now = await env.currentTimeMs();
  if (epoch > now) await env.sleep(epoch - now);
}

/**
 * Runs the whole day: imports the roster into `db`, starts the journal workflows the way the
 * school sync does (through the gateway) and the school sync itself, then walks the clock through
 * the day, pressing the journal buttons and publishing J5's lesson late on the way.
 */
export async function runSchoolDay(args: {
  env: TestWorkflowEnvironment;
  db: Db;
  /** Continue-as-new threshold for J6 and the school sync, so their chains have more than one run. */
  continueAsNewAfterEvents?: number;
  log?: (line: string) => void;
}): Promise<DayRun> {
  const { env, db } = args;
  const log = args.log ?? (() => undefined);
  const day = addDays(epochToZonedDate(await env.currentTimeMs(), TIME_ZONE), 1);
  await importSnapshot({
    db,
    input: dayRoster(day),
    events: { rosterChanged: () => Promise.resolve() },
  });
  const taskQueue = `audit-${Math.random().toString(36).slice(2, 10)}`;
  const liveDecisions: CallDecision[] = [];
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: { ...scenarioCallActivities({ db, day }), ...scenarioSyncActivities() },
    sinks: collectingSinks(liveDecisions),
  });
  const gateway = createWorkflowGateway(env.client, { taskQueue });
  const continueAsNewAfterEvents = args.continueAsNewAfterEvents ?? 100;

  await worker.runUntil(async () => {
    for (const journalId of JOURNALS)
      await gateway.ensureJournalCalls({ schoolId: SCHOOL_ID, journalId });
    const can = journalCallsStartOptions(SCHOOL_ID, CAN_JOURNAL, taskQueue);
    await env.client.workflow.start(JOURNAL_CALLS_WORKFLOW, {
      ...can,
      args: [{ schoolId: SCHOOL_ID, journalId: CAN_JOURNAL, continueAsNewAfterEvents }],
    });
    const school = schoolSyncStartOptions(SCHOOL_ID, taskQueue);
    await env.client.workflow.start(SCHOOL_SYNC_WORKFLOW, {
      ...school,
      args: [{ schoolId: SCHOOL_ID, continueAsNewAfterEvents }],
    });
    log(`day ${day}: workflows started`);
    // Three sync cycles (30 minutes apart) are enough to show the school chain continuing-as-new.
    await advanceTo(env, (await env.currentTimeMs()) + 75 * 60_000);
    await env.client.workflow
      .getHandle(workflowIds.schoolSync(SCHOOL_ID))
      .terminate('scenario over');
    log('school sync stopped after three cycles');

    await advanceTo(env, at(day, '09:50'));
    const manual = await gateway.startCall({
      schoolId: SCHOOL_ID,
      journalId: 'j1',
      lessonId: lessonId('j1', 3),
      requestedBy: TEACHER_ID,
    });
    log(`09:50 manual start: ${manual.accepted ? 'accepted' : manual.reason}`);
    await advanceTo(env, at(day, '09:55'));
    const refused = await gateway.startCall({
      schoolId: SCHOOL_ID,
      journalId: 'j1',
      lessonId: lessonId('j1', 5),
      requestedBy: TEACHER_ID,
    });
    log(`09:55 second manual start: ${refused.accepted ? 'accepted' : refused.reason}`);
    await advanceTo(env, at(day, '11:00'));
    const ended = await gateway.endCall({
      schoolId: SCHOOL_ID,
      journalId: 'j1',
      requestedBy: TEACHER_ID,
    });
    log(`11:00 manual end: ${ended.accepted ? 'accepted' : ended.reason}`);

    await advanceTo(env, at(day, '12:05'));
    await createRosterStore({ db }).updateLesson({
      schoolId: SCHOOL_ID,
      lessonId: lessonId('j5', 4),
      patch: { status: 'published' },
    });
    await gateway.lessonsChanged({
      schoolId: SCHOOL_ID,
      journalId: 'j5',
      lessonIds: [lessonId('j5', 4)],
    });
    log('12:05 J5 lesson 4 published, 30 minutes late');

    await advanceTo(env, at(day, '17:00'));
    // The journal workflows stay open, as in production: the audit reads open runs too.
    log('17:00 day over');
  });
  return {
    day,
    liveDecisions,
    journalWorkflowIds: JOURNALS.map((journalId) =>
      workflowIds.journalCalls({ schoolId: SCHOOL_ID, journalId }),
    ),
    continueAsNewWorkflowId: workflowIds.journalCalls({
      schoolId: SCHOOL_ID,
      journalId: CAN_JOURNAL,
    }),
    schoolWorkflowId: workflowIds.schoolSync(SCHOOL_ID),
  };
}
