import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { JournalContext } from '../../src/contracts/call-activities';
import type { CallDecision } from '../../src/contracts/decisions';
import type { CarriedCallState } from '../../src/contracts/journal-calls';
import type { Lesson, Template } from '../../src/contracts/roster';
import type { CallAction } from '../../src/domain/call-plan';
import {
  PATCH_END_BACKOFF,
  PATCH_MANUAL_TODAY_OR_TOMORROW,
  PATCH_NO_PAST_AUTO_END,
  PATCH_PUBLISH_CHANGES_ONLY,
} from '../../workflows/journal-calls/rules';
import { JournalCallsState } from '../../workflows/journal-calls/state';

/** The journal workflow's state without Temporal: a clock, a set of patches, a decision log. */

const SCHOOL = 'school-1';
const JOURNAL = 'j-algebra-7a';
const MOSCOW = 'Europe/Moscow';
const MINUTE = 60_000;
/** An instant on the wall clock of Moscow (UTC+3 all year). */
const msk = (dateTime: string): number => Date.parse(`${dateTime}:00+03:00`);
// 2026-12-01 is a Tuesday (ISO weekday 2).
const TODAY = '2026-12-01';

const template: Template = {
  id: 'tpl-2026',
  validFrom: '2026-01-09',
  validTo: '2026-12-28',
  sendToPortal: true,
  grid: [
    { number: 1, start: '08:30', end: '09:15' },
    { number: 2, start: '09:25', end: '10:10' },
  ],
  entries: [
    { journalId: JOURNAL, weekday: 2, number: 1 },
    { journalId: JOURNAL, weekday: 2, number: 2 },
  ],
};

function lesson(id: string, extra: Partial<Lesson> = {}): Lesson {
  return {
    id,
    journalId: JOURNAL,
    date: TODAY,
    number: 1,
    online: true,
    status: 'published',
    ...extra,
  };
}

function context(lessons: Lesson[]): JournalContext {
  return {
    found: true,
    timeZone: MOSCOW,
    journal: { id: JOURNAL, classId: '7a', kind: 'general', subjectChat: true, teacherIds: ['t1'] },
    lessons,
    templates: [template],
  };
}

interface Harness {
  state: JournalCallsState;
  decisions: CallDecision[];
  patchesAsked: string[];
  setNow(at: number): void;
}

function harness(
  opts: { now: number; patches?: readonly string[]; carried?: CarriedCallState } = {
    now: msk(`${TODAY}T08:20`),
  },
): Harness {
  let now = opts.now;
  const patches = new Set(opts.patches ?? []);
  const decisions: CallDecision[] = [];
  const patchesAsked: string[] = [];
  const state = new JournalCallsState(SCHOOL, JOURNAL, opts.carried, {
    now: () => now,
    patched: (id) => {
      patchesAsked.push(id);
      return patches.has(id);
    },
    record: (decision) => decisions.push(decision),
  });
  return { state, decisions, patchesAsked, setNow: (at) => (now = at) };
}

const result = { callId: 'call-1', joinLink: 'https://sferum.example/call-1', linkPublished: true };

function startAuto(h: Harness, current: JournalContext, lessonId: string): void {
  h.state.started({
    callKey: h.state.nextKey(lessonId),
    lessonId,
    actor: 'auto',
    current,
    result,
    dueAt: undefined,
  });
}

void describe('journal call state', () => {
  void test('V2: a teacher start of a lesson dated past tomorrow is refused under its patch, and recorded', () => {
    const current = context([lesson('l-far', { date: '2026-12-03' })]);
    const patched = harness({
      now: msk(`${TODAY}T08:00`),
      patches: [PATCH_MANUAL_TODAY_OR_TOMORROW],
    });
    assert.deepEqual(patched.state.manualStartAnswer(current, 'l-far', 't1'), {
      accepted: false,
      reason: 'lessonNotTodayOrTomorrow',
    });
    assert.equal(patched.decisions[0]?.kind, 'refused');
    assert.equal(patched.decisions[0]?.reason, 'lessonNotTodayOrTomorrow');
    // Histories recorded before the rule went on to start it.
    const old = harness({ now: msk(`${TODAY}T08:00`) });
    assert.equal(old.state.manualStartAnswer(current, 'l-far', 't1'), null);
    assert.equal(old.decisions.length, 0);
  });

  void test('V3: while a call runs, a start of another lesson is refused with the running lesson; of its own lesson it answers the running call', () => {
    const current = context([lesson('l1'), lesson('l2', { number: 2 })]);
    const h = harness({ now: msk(`${TODAY}T08:20`) });
    startAuto(h, current, 'l1');
    assert.deepEqual(h.state.manualStartAnswer(current, 'l2', 't1'), {
      accepted: false,
      reason: 'anotherCallRunning',
      runningLessonId: 'l1',
    });
    assert.deepEqual(h.state.manualStartAnswer(current, 'l1', 't1'), {
      accepted: true,
      lessonId: 'l1',
      joinLink: result.joinLink,
      linkPublished: true,
    });
  });

  void test('V3: the call key advances only once a start succeeded, so a retried start reuses its call', () => {
    const current = context([lesson('l1')]);
    const h = harness({ now: msk(`${TODAY}T08:20`) });
    const first = h.state.nextKey('l1');
    const action: CallAction = {
      kind: 'start',
      lessonId: 'l1',
      at: msk(`${TODAY}T08:10`),
      lessonStart: msk(`${TODAY}T08:30`),
      lessonEnd: msk(`${TODAY}T09:15`),
      autoEndAt: msk(`${TODAY}T09:35`),
    };
    h.state.autoStartFailed(action, 'VkError: 10');
    assert.equal(h.state.nextKey('l1'), first);
    assert.equal(h.state.mayAutoStart(), false, 'a failed start waits out its pause');
    h.setNow(msk(`${TODAY}T08:21`));
    assert.equal(h.state.mayAutoStart(), true);
    startAuto(h, current, 'l1');
    assert.equal(h.state.running?.callKey, first);
    assert.notEqual(h.state.nextKey('l1'), first);
    assert.deepEqual(
      h.decisions.map((d) => d.kind),
      ['startFailed', 'autoStarted'],
    );
  });

  void test('V3: the warning about an earlier unpublished lesson is kept once the later call runs, until the school day ends', () => {
    const current = context([lesson('l1', { status: 'draft' }), lesson('l2', { number: 2 })]);
    const h = harness({ now: msk(`${TODAY}T08:00`) });
    const plan = h.state.replan(current);
    assert.equal(plan.warnings[0]?.skippedLessonId, 'l1');
    h.setNow(msk(`${TODAY}T09:05`));
    startAuto(h, current, 'l2');
    h.state.autoStarted('l2', MOSCOW);
    h.setNow(msk(`${TODAY}T10:20`));
    h.state.replan(current);
    assert.deepEqual(
      h.state.view().warnings.map((w) => w.skippedLessonId),
      ['l1'],
    );
    h.setNow(msk('2026-12-02T07:00'));
    h.state.replan(current);
    assert.deepEqual(h.state.view().warnings, []);
  });

  void test('V5: a failed automatic end backs off 1, 2, 4 minutes and is given up once the next lesson is due', () => {
    const current = context([lesson('l1'), lesson('l2', { number: 2, online: true })]);
    const h = harness({ now: msk(`${TODAY}T08:20`), patches: [PATCH_END_BACKOFF] });
    startAuto(h, current, 'l1');
    const call = h.state.running;
    assert.ok(call);
    const end: CallAction = { kind: 'end', lessonId: 'l1', at: msk(`${TODAY}T08:50`) };
    const pauses: (number | null | undefined)[] = [];
    for (const at of ['08:50', '08:52', '08:55']) {
      h.setNow(msk(`${TODAY}T${at}`));
      h.state.autoEndFailed(call, end, 'VkError: 10', current);
      const failure = h.state.view().endFailure;
      pauses.push(
        failure?.retryAt === null ? null : (failure?.retryAt ?? 0) - msk(`${TODAY}T${at}`),
      );
    }
    assert.deepEqual(pauses, [MINUTE, 2 * MINUTE, 4 * MINUTE]);
    assert.equal(h.state.running?.callKey, call.callKey, 'the call still runs while retried');
    // The next lesson's start (20 minutes before 09:25) is due: the call is given up.
    h.setNow(msk(`${TODAY}T09:06`));
    h.state.autoEndFailed(call, end, 'VkError: 10', current);
    assert.equal(h.state.running, null);
    assert.equal(h.state.view().endFailure?.gaveUp, true);
    const abandoned = h.decisions.find((d) => d.kind === 'endAbandoned');
    assert.equal(abandoned?.reason, 'nextLessonDue');
  });

  void test('V5: the call that ended in Sferum is taken as over and the page says who ended it', () => {
    const current = context([lesson('l1')]);
    const h = harness({ now: msk(`${TODAY}T08:20`) });
    startAuto(h, current, 'l1');
    const call = h.state.running;
    assert.ok(call);
    h.setNow(msk(`${TODAY}T08:40`));
    h.state.endedOnPlatform(call, 'event-1');
    assert.equal(h.state.running, null);
    assert.equal(h.state.view().lastEnded?.endedBy, 'platform');
    assert.equal(h.state.interrupted, true, 'the sleeping loop wakes to re-plan');
    assert.deepEqual(h.state.carried().calledLessonIds, ['l1']);
    assert.equal(h.decisions.at(-1)?.kind, 'endedInSferum');
  });

  void test('V5: a call started by hand after its lesson’s automatic end has none, under its patch', () => {
    const current = context([lesson('l1')]);
    for (const [patches, expectEnd] of [
      [[PATCH_NO_PAST_AUTO_END], false],
      [[], true],
    ] as const) {
      const h = harness({ now: msk(`${TODAY}T09:40`), patches });
      const call = h.state.started({
        callKey: h.state.nextKey('l1'),
        lessonId: 'l1',
        actor: { staffId: 't1' },
        current,
        result,
        dueAt: undefined,
      });
      assert.equal(call.autoEndAt !== null, expectEnd, `patches: ${patches.join(',')}`);
    }
  });

  void test('V3: a legacy run’s hand-over carries its call, its sequence and its called lessons to the successor', () => {
    const current = context([lesson('l1')]);
    const legacy = harness({ now: msk(`${TODAY}T08:20`) });
    startAuto(legacy, current, 'l1');
    const carried = legacy.state.handOver();
    assert.equal(legacy.state.handedOver, true);
    const successor = harness({ now: msk(`${TODAY}T08:21`) });
    successor.state.takeOver(carried);
    successor.state.adoptTakeOvers();
    assert.deepEqual(successor.state.carried(), carried);
    assert.notEqual(successor.state.nextKey('l1'), carried.running?.callKey);
  });

  void test('search attributes are written only when they change, asking the patch only then (replay order)', () => {
    const current = context([lesson('l1')]);
    const h = harness({ now: msk(`${TODAY}T07:00`), patches: [PATCH_PUBLISH_CHANGES_ONLY] });
    h.state.replan(current);
    assert.deepEqual(h.state.searchAttributes(), { state: 'idle', nextAt: msk(`${TODAY}T08:10`) });
    assert.ok(!h.patchesAsked.includes(PATCH_PUBLISH_CHANGES_ONLY));
    assert.equal(h.state.searchAttributes(), null);
    assert.ok(h.patchesAsked.includes(PATCH_PUBLISH_CHANGES_ONLY));
  });
});
