import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type InjectedSinks,
} from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type {
  CallActivities,
  JournalContext,
  PlatformEndActivities,
} from '../../src/contracts/call-activities';
import type { CallDecision, DecisionSinks } from '../../src/contracts/decisions';
import {
  callEndedOnPlatformSignal,
  callStateQuery,
  endCallUpdate,
  lessonsChangedSignal,
  startCallUpdate,
  type JournalCallState,
} from '../../src/contracts/journal-calls';
import type { Lesson, Template } from '../../src/contracts/roster';
import { CallStateKey, searchAttributeKeys } from '../../src/contracts/search-attributes';
import type { journalCallsWorkflow } from '../../workflows/journal-calls';
import { testServerPath, workflowBundle } from '../support/services';

/**
 * The journal calls workflow on Temporal's time-skipping server, over fake activities that record
 * what they were asked to do and when (in workflow time). Each test pins its own school day: the
 * next Moscow calendar day after the server's current time, entered at 06:00, so lesson times are
 * plain wall-clock strings and the expected instants are computed independently of the planner.
 */

const SCHOOL = 'school-ts';
const JOURNAL = 'j-physics-8b';
const OTHER_JOURNAL = 'j-history-8b';
const TEACHER = 'staff-teacher-1';
const TZ = 'Europe/Moscow';
/** Workflow-time slack for "on time": a workflow task and an activity schedule, nothing more. */
const ON_TIME_MS = 5_000;

const GRID: Template['grid'] = [
  { number: 1, start: '08:30', end: '09:15' },
  { number: 2, start: '09:25', end: '10:10' },
  { number: 3, start: '10:25', end: '11:10' },
  { number: 4, start: '11:25', end: '12:10' },
  { number: 5, start: '12:25', end: '13:10' },
  { number: 6, start: '13:20', end: '14:05' },
];

/** Moscow is UTC+3 all year: an instant on its wall clock, written without the code under test. */
const msk = (date: string, time: string): number => Date.parse(`${date}T${time}:00+03:00`);
const mskDate = (epoch: number): string =>
  new Date(epoch + 3 * 3_600_000).toISOString().slice(0, 10);
const mskTime = (epoch: number): string =>
  new Date(epoch + 3 * 3_600_000).toISOString().slice(11, 19);
const isoWeekday = (date: string): number => new Date(`${date}T00:00:00Z`).getUTCDay() || 7;
const shiftDate = (date: string, days: number): string =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

interface Recorded {
  readonly kind: 'loadJournal' | 'openCall' | 'publishLink' | 'closeCall' | 'recordPlatformEnd';
  /** Workflow (server) time at which the workflow scheduled the activity. */
  readonly at: number;
  readonly lessonId?: string;
  readonly callKey?: string;
  readonly actor?: string;
}

/** The school system and the platform as the workflow's activities see them. */
class FakeJournal {
  lessons: Lesson[];
  templates: Template[];
  readonly recorded: Recorded[] = [];
  readonly decisions: (CallDecision & { runId: string })[] = [];
  /** Calls the fake platform has running; the workflow must never have two (V3). */
  private readonly active = new Set<string>();
  maxActive = 0;
  /** The platform refuses to post links (publishLink fails for good). */
  failLinks = false;
  /** How many more calls.forceFinish the platform refuses (Infinity: for good). */
  failEnds = 0;
  /** The journal's kind and subject-chat option, as the roster has them (V1, C2). */
  journal: { kind: 'general' | 'extracurricular' | 'other'; subjectChat: boolean } = {
    kind: 'general',
    subjectChat: true,
  };

  constructor(lessons: Lesson[], templates: Template[]) {
    this.lessons = lessons;
    this.templates = templates;
  }

  setStatus(lessonId: string, status: Lesson['status']): void {
    this.lessons = this.lessons.map((l) => (l.id === lessonId ? { ...l, status } : l));
  }

  of(kind: Recorded['kind']): Recorded[] {
    return this.recorded.filter((r) => r.kind === kind);
  }

  activities(): CallActivities & PlatformEndActivities {
    const at = (): number => activityInfo().currentAttemptScheduledTimestampMs;
    return {
      loadJournal: ({ at: workflowNow, lessonId }) => {
        const now = workflowNow ?? at();
        this.recorded.push({ kind: 'loadJournal', at: now });
        // As the real activity: lessons from yesterday to the day after tomorrow (school time).
        const today = mskDate(now);
        const from = shiftDate(today, -1);
        const to = shiftDate(today, 2);
        const context: JournalContext = {
          found: true,
          timeZone: TZ,
          journal: { id: JOURNAL, classId: 'c-8b', ...this.journal, teacherIds: [TEACHER] },
          lessons: structuredClone(this.lessons.filter((l) => l.date >= from && l.date <= to)),
          templates: structuredClone(this.templates),
        };
        if (lessonId !== undefined) {
          const named = this.lessons.find((l) => l.id === lessonId);
          return Promise.resolve({
            ...context,
            requestedLesson: named
              ? { id: named.id, journalId: named.journalId, date: named.date }
              : null,
          });
        }
        return Promise.resolve(context);
      },
      openCall: ({ lessonId, callKey, actor, notBefore }) => {
        // An armed start reaches the platform at its due instant, not when it was scheduled.
        const platformAt = Math.max(at(), notBefore ?? 0);
        this.recorded.push({ kind: 'openCall', at: platformAt, lessonId, callKey, actor });
        this.active.add(callKey);
        this.maxActive = Math.max(this.maxActive, this.active.size);
        const lesson = this.lessons.find((l) => l.id === lessonId);
        return Promise.resolve({
          callId: `call-${callKey}`,
          joinLink: `https://vk.com/call/join/${encodeURIComponent(callKey)}`,
          linkPublished: lesson !== undefined && lesson.status !== 'draft',
        });
      },
      publishLink: ({ lessonId, callKey }) => {
        this.recorded.push({ kind: 'publishLink', at: at(), lessonId, callKey });
        if (this.failLinks) {
          return Promise.reject(
            ApplicationFailure.nonRetryable('messenger down', 'MessengerUnavailable'),
          );
        }
        return Promise.resolve({ published: true });
      },
      closeCall: ({ callKey, actor }) => {
        this.recorded.push({ kind: 'closeCall', at: at(), callKey, actor });
        if (this.failEnds > 0) {
          this.failEnds -= 1;
          return Promise.reject(
            ApplicationFailure.nonRetryable('calls.forceFinish: error 10', 'MessengerUnavailable'),
          );
        }
        const known = this.active.delete(callKey);
        assert.ok(known, `closeCall for a call that is not running: ${callKey}`);
        return Promise.resolve({ alreadyEnded: false });
      },
      recordPlatformEnd: ({ callKey }) => {
        this.recorded.push({ kind: 'recordPlatformEnd', at: at(), callKey });
        this.active.delete(callKey);
        return Promise.resolve();
      },
    };
  }

  sinks(): InjectedSinks<DecisionSinks> {
    return {
      decisions: {
        record: {
          fn: (info, decision) => {
            this.decisions.push({ ...decision, runId: info.runId });
          },
          callDuringReplay: false,
        },
      },
    };
  }
}

function template(date: string, entries: Template['entries']): Template {
  return {
    id: 'tpl-main',
    validFrom: shiftDate(date, -60),
    validTo: shiftDate(date, 60),
    sendToPortal: true,
    grid: GRID,
    entries,
  };
}

function lesson(id: string, date: string, number: number, extra: Partial<Lesson> = {}): Lesson {
  return { id, journalId: JOURNAL, date, number, online: true, status: 'published', ...extra };
}

let env: TestWorkflowEnvironment;
const debug = (line: string): void => {
  if (process.env.JC_DEBUG) process.stderr.write(`[debug ${new Date().toISOString()}] ${line}\n`);
};
let sequence = 0;

before(async () => {
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
    },
  });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: await testServerPath() } },
  });
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
});

after(async () => {
  await env?.teardown();
});

/** Moves the server to 06:00 Moscow time of the next calendar day and returns that day. */
async function nextSchoolDay(): Promise<string> {
  const now = await env.currentTimeMs();
  const day = shiftDate(mskDate(now), 1);
  await env.sleep(msk(day, '06:00') - now);
  return day;
}

/** Skips server time forward to `time` (Moscow) of `day`, firing every timer on the way. */
async function advanceTo(day: string, time: string): Promise<void> {
  const target = msk(day, time);
  const now = await env.currentTimeMs();
  debug(`advance ${mskTime(now)} -> ${time}`);
  assert.ok(target >= now, `cannot go back to ${time}; it is ${mskTime(now)}`);
  await env.sleep(target - now);
}

interface Running {
  readonly handle: WorkflowHandle<typeof journalCallsWorkflow>;
  readonly fake: FakeJournal;
}

/**
 * Starts the journal workflow with a worker of its own, runs `body`, then terminates the workflow
 * (so no timer of it is left on the shared server) and stops the worker.
 */
async function withJournal(
  fake: FakeJournal,
  body: (run: Running) => Promise<void>,
  options?: { continueAsNewAfterEvents: number },
): Promise<void> {
  sequence += 1;
  const taskQueue = `journal-calls-ts-${sequence}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fake.activities(),
    sinks: fake.sinks(),
  });
  const handle = await env.client.workflow.start<typeof journalCallsWorkflow>(
    'journalCallsWorkflow',
    {
      taskQueue,
      workflowId: `journal-calls-${JOURNAL}-${sequence}`,
      args: [{ schoolId: SCHOOL, journalId: JOURNAL, ...options }],
    },
  );
  await worker.runUntil(async () => {
    try {
      // The first plan is made before the test moves time.
      await waitPlanned(handle);
      await body({ handle, fake });
    } finally {
      // The time-skipping server keeps time locked for an activity still in flight when its
      // workflow is terminated, so let the workflow settle first.
      await settle(handle);
      debug('terminate');
      await handle.terminate('test over').catch(() => undefined);
      debug('terminated');
    }
  });
}

async function settle(handle: WorkflowHandle, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { raw } = await handle.describe();
    if ((raw.pendingActivities ?? []).length === 0 && !raw.pendingWorkflowTask) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the workflow has made its first plan (it publishes the call state attribute then). */
async function waitPlanned(handle: WorkflowHandle, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const described = await handle.describe();
    if (described.typedSearchAttributes.get(CallStateKey) !== undefined) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the workflow made no plan');
}

async function waitForState(
  handle: WorkflowHandle,
  ok: (state: JournalCallState) => boolean,
  timeoutMs = 20_000,
): Promise<JournalCallState> {
  const deadline = Date.now() + timeoutMs;
  let last: JournalCallState | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(callStateQuery);
      if (ok(last)) return last;
    } catch {
      // The first workflow task may not have run yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`workflow state never matched; last: ${JSON.stringify(last)}`);
}

function assertAt(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined, `${what}: never happened`);
  const drift = actual - expected;
  assert.ok(
    drift >= 0 && drift <= ON_TIME_MS,
    `${what}: expected at ${mskTime(expected)}, happened at ${mskTime(actual)} (${drift} ms)`,
  );
}

describe('journal calls workflow on the time-skipping server', { concurrency: false }, () => {
  void test('V2, V5: over a whole school day each online lesson starts 20 min before it and ends 20 min after it', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [
        lesson('L1', day, 1),
        lesson('L3', day, 3),
        lesson('L4-offline', day, 4, { online: false }),
        lesson('L5', day, 5),
        { ...lesson('X2', day, 2), journalId: OTHER_JOURNAL },
      ],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      const planned = await handle.query(callStateQuery);
      assert.deepEqual(planned.next, { kind: 'start', lessonId: 'L1', at: msk(day, '08:10') });

      await advanceTo(day, '08:40');
      const during = await waitForState(handle, (s) => s.running !== null);
      assert.equal(during.running?.lessonId, 'L1');
      assert.equal(during.running?.startedBy, 'auto');
      assert.equal(during.running?.autoEndAt, msk(day, '09:35'));
      assert.deepEqual(during.next, { kind: 'end', lessonId: 'L1', at: msk(day, '09:35') });

      await advanceTo(day, '15:00');
      const starts = fake.of('openCall');
      const ends = fake.of('closeCall');
      assert.deepEqual(
        starts.map((s) => s.lessonId),
        ['L1', 'L3', 'L5'],
        'one start per online lesson of this journal, none for the offline or the other journal',
      );
      assertAt(starts[0]?.at, msk(day, '08:10'), 'start of lesson 1');
      assertAt(starts[1]?.at, msk(day, '10:05'), 'start of lesson 3');
      assertAt(starts[2]?.at, msk(day, '12:05'), 'start of lesson 5');
      assert.equal(ends.length, 3);
      assertAt(ends[0]?.at, msk(day, '09:35'), 'end of lesson 1');
      assertAt(ends[1]?.at, msk(day, '11:30'), 'end of lesson 3');
      assertAt(ends[2]?.at, msk(day, '13:30'), 'end of lesson 5');
      assert.deepEqual(
        ends.map((e) => e.callKey),
        starts.map((s) => s.callKey),
        'each call ended is the one started for that lesson',
      );
      assert.ok(starts.every((s) => s.actor === 'auto'));
      assert.equal(fake.maxActive, 1, 'never two calls at once (V3)');
      assert.deepEqual(
        fake.decisions
          .filter((d) => d.kind === 'autoStarted' || d.kind === 'autoEnded')
          .map((d) => `${d.kind}:${d.lessonId}`),
        [
          'autoStarted:L1',
          'autoEnded:L1',
          'autoStarted:L3',
          'autoEnded:L3',
          'autoStarted:L5',
          'autoEnded:L5',
        ],
      );
      const idle = await handle.query(callStateQuery);
      assert.equal(idle.running, null);
    });
  });

  void test('V2: a lesson tomorrow is planned the evening before and starts 20 min before it, across midnight', async () => {
    const evening = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('T1', shiftDate(evening, 1), 1), lesson('D3', shiftDate(evening, 2), 3)],
      [template(evening, [{ journalId: JOURNAL, weekday: 1, number: 1 }])],
    );
    await advanceTo(evening, '19:00');
    await withJournal(fake, async ({ handle }) => {
      const tomorrow = shiftDate(evening, 1);
      const planned = await handle.query(callStateQuery);
      assert.deepEqual(planned.next, { kind: 'start', lessonId: 'T1', at: msk(tomorrow, '08:10') });
      await advanceTo(tomorrow, '09:00');
      const starts = fake.of('openCall');
      assert.deepEqual(
        starts.map((s) => s.lessonId),
        ['T1'],
        'the lesson the day after tomorrow is not started yet',
      );
      assertAt(starts[0]?.at, msk(tomorrow, '08:10'), 'start of tomorrow’s lesson');
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'skipped' && d.lessonId === 'D3' && d.reason === 'notTodayOrTomorrow',
        ),
      );
    });
  });

  void test('V2: a journal left alone for days still starts the lessons of each new day (the journal is reloaded as days pass)', async () => {
    const day = await nextSchoolDay();
    const later = shiftDate(day, 4);
    const fake = new FakeJournal(
      [lesson('L-now', day, 1), lesson('L-later', later, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: 1, number: 1 }])],
    );
    await withJournal(fake, async () => {
      await advanceTo(later, '09:00');
      const starts = fake.of('openCall');
      assert.deepEqual(
        starts.map((s) => s.lessonId),
        ['L-now', 'L-later'],
        'the lesson four days on, beyond the first load, is started too',
      );
      assertAt(starts[1]?.at, msk(later, '08:10'), 'start of the later lesson');
    });
  });

  void test('V1: the journal button is refused, with the reason, for a lesson that is not online or not in the journal', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { online: false })],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      const press = (lessonId: string) =>
        handle.executeUpdate(startCallUpdate, { args: [{ lessonId, requestedBy: TEACHER }] });
      assert.deepEqual(await press('L1'), { accepted: false, reason: 'lessonNotOnline' });
      assert.deepEqual(await press('L-other'), { accepted: false, reason: 'lessonNotFound' });
      await assert.rejects(
        handle.executeUpdate(startCallUpdate, { args: [{ lessonId: '', requestedBy: TEACHER }] }),
        'a malformed argument is rejected by the validator',
      );
      assert.equal(fake.of('openCall').length, 0);
    });
  });

  void test('V5: a call ended in Sferum ends in the journal without calls.forceFinish, the teacher starts again at once, and a late or repeated event changes nothing', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:40');
      const first = await waitForState(handle, (s) => s.running !== null);
      const firstKey = first.running?.callKey ?? assert.fail('no call running');
      await handle.signal(callEndedOnPlatformSignal, { callKey: firstKey, eventId: 'ev-1' });
      const ended = await waitForState(handle, (s) => s.running === null);
      assert.equal(ended.lastEnded?.endedBy, 'platform');
      assert.equal(ended.lastEnded?.lessonId, 'L1');
      assert.equal(fake.of('closeCall').length, 0, 'no calls.forceFinish for a call Sferum ended');
      assert.deepEqual(
        fake.of('recordPlatformEnd').map((r) => r.callKey),
        [firstKey],
      );
      assert.ok(fake.decisions.some((d) => d.kind === 'endedInSferum' && d.lessonId === 'L1'));

      const again = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(again.accepted, true, 'the teacher starts again at once');
      const second = await waitForState(handle, (s) => s.running !== null);
      assert.notEqual(second.running?.callKey, firstKey, 'a new call, not the dead one');

      // The same event delivered twice, and one about the earlier call: the new call runs on.
      await handle.signal(callEndedOnPlatformSignal, { callKey: firstKey, eventId: 'ev-1' });
      await handle.signal(callEndedOnPlatformSignal, { callKey: firstKey, eventId: 'ev-2' });
      const after = await handle.query(callStateQuery);
      assert.equal(after.running?.callKey, second.running?.callKey);
      assert.equal(fake.of('recordPlatformEnd').length, 1);
    });
  });

  void test('V2: the journal button starts a call before its automatic time; it is not started twice and still ends automatically (V5)', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '07:50');
      const result = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(result.accepted, true);
      assert.ok(result.accepted && result.joinLink.startsWith('https://vk.com/call/join/'));
      assert.ok(result.accepted && result.linkPublished);
      const state = await handle.query(callStateQuery);
      assert.deepEqual(state.running?.startedBy, { staffId: TEACHER });
      assert.equal(state.running?.autoEndAt, msk(day, '09:35'));

      await advanceTo(day, '10:30');
      const starts = fake.of('openCall');
      assert.equal(starts.length, 1, 'the automatic start at 08:10 found the call already running');
      assertAt(starts[0]?.at, msk(day, '07:50'), 'manual start');
      assert.equal(starts[0]?.actor, TEACHER);
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 1);
      assertAt(ends[0]?.at, msk(day, '09:35'), 'automatic end of the manually started call');
      assert.equal(ends[0]?.actor, 'auto');
    });
  });

  void test('V5: the journal button ends the call before its automatic end, and the lesson is not started again', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:50');
      await waitForState(handle, (s) => s.running?.lessonId === 'L1');
      const result = await handle.executeUpdate(endCallUpdate, {
        args: [{ requestedBy: TEACHER }],
      });
      assert.deepEqual(result, { accepted: true, lessonId: 'L1', alreadyEnded: false });

      await advanceTo(day, '12:00');
      assert.equal(fake.of('openCall').length, 1, 'the ended lesson is never restarted');
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 1, 'no second, automatic end at 09:35');
      assertAt(ends[0]?.at, msk(day, '08:50'), 'manual end');
      assert.equal(ends[0]?.actor, TEACHER);
      const state = await handle.query(callStateQuery);
      assert.equal(state.running, null);
      assert.ok(fake.decisions.some((d) => d.kind === 'manualEnded' && d.actor === TEACHER));

      const again = await handle.executeUpdate(endCallUpdate, { args: [{ requestedBy: TEACHER }] });
      assert.deepEqual(again, { accepted: false, reason: 'noCallRunning' });
    });
  });

  void test('V3: the journal button is refused while another lesson’s call runs, and the refusal is recorded', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1), lesson('L3', day, 3)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:20');
      await waitForState(handle, (s) => s.running?.lessonId === 'L1');
      const refused = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L3', requestedBy: TEACHER }],
      });
      assert.deepEqual(refused, {
        accepted: false,
        reason: 'anotherCallRunning',
        runningLessonId: 'L1',
      });
      // Pressing the button of the running lesson again is not a second call either.
      const same = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(same.accepted, true);
      assert.equal(fake.of('openCall').length, 1);
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'refused' && d.lessonId === 'L3' && d.reason === 'anotherCallRunning',
        ),
        'the refusal goes through the decision sink for the audit',
      );
      const history = await handle.fetchHistory();
      const completedUpdates = (history.events ?? []).filter(
        (e) => e.workflowExecutionUpdateCompletedEventAttributes,
      );
      assert.equal(
        completedUpdates.length,
        2,
        'the refused update is in the history, not rejected',
      );
      assert.equal(fake.maxActive, 1);
    });
  });

  void test('V1, V2: a lesson published late starts at once within 20 min of its start, and never automatically after that', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' }), lesson('L3', day, 3, { status: 'draft' })],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:45');
      assert.equal(fake.of('openCall').length, 0, 'a draft lesson is not started automatically');

      // 15 minutes after the lesson began: still within the 20-minute window.
      fake.setStatus('L1', 'published');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L1'] });
      await waitForState(handle, (s) => s.running?.lessonId === 'L1');
      assertAt(
        fake.of('openCall')[0]?.at,
        msk(day, '08:45'),
        'start right after the late publication',
      );

      // 25 minutes after lesson 3 began: manual only.
      await advanceTo(day, '10:50');
      fake.setStatus('L3', 'published');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L3'] });
      await waitForState(handle, () =>
        fake.of('loadJournal').some((r) => r.at >= msk(day, '10:50')),
      );
      await advanceTo(day, '10:55');
      assert.deepEqual(
        fake.of('openCall').map((s) => s.lessonId),
        ['L1'],
        'lesson 3, published 25 min after its start, was not started automatically',
      );
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'skipped' && d.lessonId === 'L3' && d.reason === 'startedTooLongAgo',
        ),
      );
      const manual = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L3', requestedBy: TEACHER }],
      });
      assert.equal(manual.accepted, true, 'the teacher can still start it by hand');
      await advanceTo(day, '12:00');
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 2);
      assertAt(ends[1]?.at, msk(day, '11:30'), 'automatic end of the call started by hand');
    });
  });

  void test('V5: a call started by hand after its lesson’s automatic end time is not ended at once; it ends by hand', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' })],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      // Lesson 1 ran 08:30–09:15, so its automatic end (09:35) has passed when it is published.
      await advanceTo(day, '09:50');
      fake.setStatus('L1', 'published');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L1'] });
      const started = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(started.accepted, true);
      await advanceTo(day, '10:30');
      assert.equal(fake.of('closeCall').length, 0, 'the call the teacher just started still runs');
      const state = await handle.query(callStateQuery);
      assert.equal(state.running?.lessonId, 'L1');
      assert.equal(state.running?.autoEndAt, null, 'manual end only');
      const ended = await handle.executeUpdate(endCallUpdate, { args: [{ requestedBy: TEACHER }] });
      assert.equal(ended.accepted, true);
      assert.equal(fake.of('closeCall').length, 1);
    });
  });

  void test('V1: a call started by hand for an unpublished lesson shows its link only once the lesson is published', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' })],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:20');
      const started = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(started.accepted, true);
      assert.equal(started.accepted && started.linkPublished, false, 'no link for students yet');
      assert.deepEqual((await handle.query(callStateQuery)).running?.linkPendingLessonIds, ['L1']);
      await advanceTo(day, '08:35');
      assert.equal(fake.of('publishLink').length, 0);

      fake.setStatus('L1', 'published');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L1'] });
      const linked = await waitForState(
        handle,
        (s) => s.running?.linkPendingLessonIds.length === 0,
      );
      assert.equal(linked.running?.lessonId, 'L1');
      const links = fake.of('publishLink');
      assert.deepEqual(
        links.map((l) => [l.lessonId, l.callKey]),
        [['L1', fake.of('openCall')[0]?.callKey]],
      );
      assertAt(links[0]?.at, msk(day, '08:35'), 'link posted on publication');
      assert.equal(fake.of('openCall').length, 1);
    });
  });

  void test('V1: a lesson unpublished after its call was scheduled does not start', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '07:30');
      const scheduled = await handle.query(callStateQuery);
      assert.deepEqual(scheduled.next, { kind: 'start', lessonId: 'L1', at: msk(day, '08:10') });

      fake.setStatus('L1', 'draft');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L1'] });
      await waitForState(handle, (s) => s.next === null);
      await advanceTo(day, '10:00');
      assert.equal(fake.of('openCall').length, 0);
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'skipped' && d.lessonId === 'L1' && d.reason === 'notPublished',
        ),
      );
    });
  });

  void test('§6 back-to-back: two adjacent lessons share one call, the second gets its link, and the call ends 20 min after the second', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1), lesson('L2', day, 2)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '09:10');
      const carried = await waitForState(handle, (s) => s.running?.lessonId === 'L2');
      assert.deepEqual(carried.running?.lessonIds, ['L1', 'L2']);
      assert.equal(carried.running?.autoEndAt, msk(day, '10:30'), 'the automatic end moved');
      await advanceTo(day, '11:00');
      const starts = fake.of('openCall');
      assert.equal(starts.length, 1, 'one call for both lessons');
      assertAt(starts[0]?.at, msk(day, '08:10'), 'start of lesson 1');
      const links = fake.of('publishLink');
      assert.deepEqual(
        links.map((l) => [l.lessonId, l.callKey]),
        [['L2', starts[0]?.callKey]],
      );
      assertAt(links[0]?.at, msk(day, '09:05'), 'carry-over to lesson 2');
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 1);
      assertAt(ends[0]?.at, msk(day, '10:30'), 'end 20 min after lesson 2');
      assert.ok(fake.decisions.some((d) => d.kind === 'carriedOver' && d.lessonId === 'L2'));
      assert.equal(fake.maxActive, 1);
    });
  });

  void test('§6 back-to-back: when the second lesson’s link cannot be posted, the call still runs and ends on time', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1), lesson('L2', day, 2)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.failLinks = true;
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '11:00');
      const { status } = await handle.describe();
      assert.equal(status.name, 'RUNNING', 'the journal workflow survives the failed link');
      assert.equal(fake.of('openCall').length, 1);
      assert.ok(fake.of('publishLink').length >= 1, 'the link for lesson 2 was tried');
      assert.ok(fake.decisions.some((d) => d.kind === 'carriedOver' && d.lessonId === 'L2'));
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 1, 'the running call is not forgotten');
      assertAt(ends[0]?.at, msk(day, '10:30'), 'end 20 min after lesson 2');
    });
  });

  void test('continue-as-new with a running call: the new run ends it on time and never starts it again', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(
      fake,
      async ({ handle }) => {
        await advanceTo(day, '08:20');
        const running = await waitForState(handle, (s) => s.running?.lessonId === 'L1');
        const firstRun = fake.decisions.find((d) => d.kind === 'autoStarted')?.runId;
        // Lesson changes add history; the low threshold makes the run continue as new now.
        for (let i = 0; i < 4; i++) await handle.signal(lessonsChangedSignal, {});
        await waitForState(handle, (s) => s.running !== null);
        const deadline = Date.now() + 20_000;
        let runId = firstRun;
        while (runId === firstRun && Date.now() < deadline) {
          runId = (await handle.describe()).runId;
          if (runId === firstRun) await new Promise((r) => setTimeout(r, 100));
        }
        assert.notEqual(runId, firstRun, 'the workflow continued as new while the call ran');
        const carried = await handle.query(callStateQuery);
        assert.deepEqual(carried.running, running.running, 'the new run carries the running call');

        await advanceTo(day, '11:00');
        assert.equal(fake.of('openCall').length, 1, 'no second start in the new run');
        const ends = fake.of('closeCall');
        assert.equal(ends.length, 1);
        assertAt(ends[0]?.at, msk(day, '09:35'), 'end by the new run');
        assert.equal(ends[0]?.callKey, fake.of('openCall')[0]?.callKey);
        const ended = fake.decisions.find((d) => d.kind === 'autoEnded');
        assert.ok(ended && ended.runId !== firstRun, 'the call was ended by a later run');
      },
      { continueAsNewAfterEvents: 40 },
    );
  });

  void test('V1/C2: an extracurricular journal has no calls: its online lesson does not start, the state says why, and the button is refused', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.journal = { kind: 'extracurricular', subjectChat: true };
    await withJournal(fake, async ({ handle }) => {
      const planned = await handle.query(callStateQuery);
      assert.equal(planned.next, null);
      assert.equal(planned.callsUnavailable, 'callsNotAvailable');
      await advanceTo(day, '08:40');
      assert.equal(fake.of('openCall').length, 0, 'no automatic call');
      const pressed = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.deepEqual(pressed, { accepted: false, reason: 'callsNotAvailable' });
      assert.equal(fake.of('openCall').length, 0, 'no call by hand either');
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'skipped' && d.lessonId === 'L1' && d.reason === 'callsNotAvailable',
        ),
      );
    });
  });

  void test('V1/C2: a general journal whose subject-chat option is off has no automatic call either', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.journal = { kind: 'general', subjectChat: false };
    await withJournal(fake, async ({ handle }) => {
      assert.equal((await handle.query(callStateQuery)).callsUnavailable, 'noSubjectChat');
      await advanceTo(day, '08:40');
      assert.equal(fake.of('openCall').length, 0);
    });
  });

  /** Lessons 35 min apart: the later one's start is due while the earlier is still in its window. */
  const closeTemplate = (day: string): Template => ({
    ...template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }]),
    grid: [
      { number: 1, start: '08:30', end: '09:00' },
      { number: 2, start: '09:05', end: '09:35' },
    ],
  });
  const skippedL1 = { kind: 'earlierUnpublished', skippedLessonId: 'L1', chosenLessonId: 'L2' };

  void test('V3: the warning naming the skipped earlier lesson stays while the later call runs and until the school day ends', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' }), lesson('L2', day, 2)],
      [closeTemplate(day)],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '07:00');
      assert.deepEqual((await handle.query(callStateQuery)).warnings, [skippedL1]);
      await advanceTo(day, '09:00');
      const during = await waitForState(handle, (s) => s.running?.lessonId === 'L2');
      assertAt(fake.of('openCall')[0]?.at, msk(day, '08:45'), 'start of lesson 2');
      assert.equal(during.next?.kind, 'end');
      assert.deepEqual(during.warnings, [skippedL1], 'still shown while the later call runs');
      await advanceTo(day, '23:00');
      const after = await handle.query(callStateQuery);
      assert.equal(after.running, null);
      assert.deepEqual(after.warnings, [skippedL1], 'still shown after the call, the same day');
      await advanceTo(shiftDate(day, 1), '00:30');
      assert.deepEqual((await handle.query(callStateQuery)).warnings, [], 'gone the next day');
    });
  });

  void test('V3: the kept warning survives continue-as-new', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' }), lesson('L2', day, 2)],
      [closeTemplate(day)],
    );
    await withJournal(
      fake,
      async ({ handle }) => {
        await advanceTo(day, '09:00');
        await waitForState(handle, (s) => s.running?.lessonId === 'L2');
        const firstRun = (await handle.describe()).runId;
        for (let i = 0; i < 4; i++) await handle.signal(lessonsChangedSignal, {});
        const deadline = Date.now() + 20_000;
        while ((await handle.describe()).runId === firstRun && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.notEqual((await handle.describe()).runId, firstRun, 'continued as new');
        const state = await waitForState(handle, (s) => s.running !== null);
        assert.deepEqual(state.warnings, [skippedL1], 'kept across continue-as-new');
        await advanceTo(day, '10:00');
        assert.equal(fake.of('closeCall').length, 1, 'the new run ends the call');
        assert.deepEqual((await handle.query(callStateQuery)).warnings, [skippedL1]);
      },
      { continueAsNewAfterEvents: 40 },
    );
  });

  void test('V2: a lesson published more than 20 min after its start says so in the state: too late for an automatic start, start it by hand', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1, { status: 'draft' })],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '08:55');
      fake.setStatus('L1', 'published');
      await handle.signal(lessonsChangedSignal, { lessonIds: ['L1'] });
      const state = await waitForState(handle, (s) => s.tooLateForAutoStart.length > 0);
      assert.deepEqual(state.tooLateForAutoStart, ['L1']);
      assert.equal(state.next, null);
      const started = await handle.executeUpdate(startCallUpdate, {
        args: [{ lessonId: 'L1', requestedBy: TEACHER }],
      });
      assert.equal(started.accepted, true, 'the teacher starts it by hand');
      assert.deepEqual((await handle.query(callStateQuery)).tooLateForAutoStart, []);
    });
  });

  void test('V2: a start by hand is refused with the true reason for a lesson not today or tomorrow, and works for any online lesson of today', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [
        lesson('L-yesterday', shiftDate(day, -1), 1),
        lesson('L-after-tomorrow', shiftDate(day, 2), 1),
        lesson('L-next-week', shiftDate(day, 7), 1),
        lesson('L-early', day, 1),
        { ...lesson('X1', day, 2), journalId: OTHER_JOURNAL },
      ],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    await withJournal(fake, async ({ handle }) => {
      // The automatic start of lesson 1 is switched off by ending it at once; its window passes.
      await advanceTo(day, '08:20');
      await waitForState(handle, (s) => s.running?.lessonId === 'L-early');
      await handle.executeUpdate(endCallUpdate, { args: [{ requestedBy: TEACHER }] });
      await advanceTo(day, '12:00');
      const press = (lessonId: string) =>
        handle.executeUpdate(startCallUpdate, { args: [{ lessonId, requestedBy: TEACHER }] });
      for (const id of ['L-yesterday', 'L-after-tomorrow', 'L-next-week']) {
        assert.deepEqual(
          await press(id),
          { accepted: false, reason: 'lessonNotTodayOrTomorrow' },
          id,
        );
      }
      assert.deepEqual(await press('L-unknown'), { accepted: false, reason: 'lessonNotFound' });
      assert.deepEqual(await press('X1'), { accepted: false, reason: 'lessonNotInJournal' });
      const again = await press('L-early');
      assert.equal(again.accepted, true, 'a lesson of today, its automatic window long past');
      assert.equal(fake.of('openCall').length, 2);
    });
  });

  void test('V5: a failed automatic end backs off (1, 2 min…), shows the failure in the state, and ends the call once the platform takes it', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.failEnds = 2;
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '09:35');
      const failing = await waitForState(handle, (s) => s.endFailure !== null);
      assert.equal(failing.running?.lessonId, 'L1', 'the call is still running');
      assert.equal(failing.endFailure?.failures, 1);
      assert.equal(failing.endFailure?.gaveUp, false);
      assert.match(failing.endFailure?.error ?? '', /forceFinish/);
      assertAt(
        failing.endFailure?.retryAt ?? undefined,
        (fake.of('closeCall')[0]?.at ?? 0) + 60_000,
        'retry a minute after the failure',
      );
      await advanceTo(day, '10:00');
      const ends = fake.of('closeCall');
      assert.equal(ends.length, 3, 'two failures and the end that worked, no spinning');
      assertAt(ends[1]?.at, msk(day, '09:36'), 'first retry after 1 min');
      assertAt(ends[2]?.at, msk(day, '09:38'), 'second retry 2 min later');
      const ended = await handle.query(callStateQuery);
      assert.equal(ended.running, null);
      assert.equal(ended.endFailure, null, 'the notice goes once the call has ended');
      assert.ok(fake.decisions.some((d) => d.kind === 'endFailed' && d.details?.failures === 2));
      assert.ok(fake.decisions.some((d) => d.kind === 'autoEnded'));
    });
  });

  void test('V5: an end that fails for good is retried at most every 15 min and gives the call up when the next lesson is due, which then starts on time', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L1', day, 1), lesson('L6', day, 6)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.failEnds = Infinity;
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(day, '12:50');
      const waiting = await handle.query(callStateQuery);
      assert.equal(waiting.running?.lessonId, 'L1');
      // 09:35, then 1, 2, 4, 8 min, then every 15 min: 09:36, 09:38, 09:42, 09:50, 10:05 … 12:50.
      const attempts = fake.of('closeCall').length;
      assert.ok(attempts >= 15 && attempts <= 18, `${attempts} end attempts by 12:50`);
      await advanceTo(day, '13:10');
      const starts = fake.of('openCall');
      assert.deepEqual(
        starts.map((s) => s.lessonId),
        ['L1', 'L6'],
      );
      assertAt(starts[1]?.at, msk(day, '13:00'), 'the next lesson starts when due');
      const state = await handle.query(callStateQuery);
      assert.equal(state.running?.lessonId, 'L6');
      assert.equal(
        state.endFailure?.gaveUp,
        true,
        'the page still says the old call was not ended',
      );
      assert.equal(state.endFailure?.lessonId, 'L1');
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'endAbandoned' && d.lessonId === 'L1' && d.reason === 'nextLessonDue',
        ),
      );
    });
  });

  void test('V5: an end that fails for good with no lesson after it is given up when the school day is over', async () => {
    const day = await nextSchoolDay();
    const fake = new FakeJournal(
      [lesson('L6', day, 6)],
      [template(day, [{ journalId: JOURNAL, weekday: isoWeekday(day), number: 1 }])],
    );
    fake.failEnds = Infinity;
    await withJournal(fake, async ({ handle }) => {
      await advanceTo(shiftDate(day, 1), '00:30');
      const state = await handle.query(callStateQuery);
      assert.equal(state.running, null);
      assert.equal(state.endFailure?.gaveUp, true);
      assert.ok(
        fake.decisions.some(
          (d) => d.kind === 'endAbandoned' && d.lessonId === 'L6' && d.reason === 'dayOver',
        ),
      );
      const attempts = fake.of('closeCall').length;
      await advanceTo(shiftDate(day, 1), '03:00');
      assert.equal(fake.of('closeCall').length, attempts, 'no more attempts once given up');
    });
  });
});
