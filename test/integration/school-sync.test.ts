import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { RosterSnapshot } from '../../src/contracts/roster';
import { generateRoster } from '../../src/demo/roster-generator';
import { applyVkLinkEvent, importChangeSet, importSnapshot } from '../../src/store/roster-import';
import { useServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';
import {
  GENERATED_TODAY,
  converged,
  countEmulatorWrites,
  currentPlan,
  emulatorChats,
  mediumRoster,
  planVsEmulator,
  runFinished,
  until,
} from './school-sync-support';

/**
 * The school sync on the real stack (Temporal dev server, MongoDB-compatible server, the VK API
 * emulator, the production activities): C1–C5 end to end, idempotence of a second run, roster
 * changes within a minute (§6) and the mass-removal guard.
 */

const services = useServices();
const writes = countEmulatorWrites();
/** Chat writes only: journal workflows the sync ensures may start calls of their own. */
const chatWrites = (): number =>
  (writes.byMethod['messages.createChat'] ?? 0) +
  (writes.byMethod['messages.addChatUser'] ?? 0) +
  (writes.byMethod['messages.removeChatUser'] ?? 0) +
  (writes.byMethod['messages.setMemberRole'] ?? 0);

let nextCommunity = 5100;

interface School {
  readonly schoolId: string;
  readonly communityId: number;
}

const events = (stack: Stack) => ({
  rosterChanged: (e: { schoolId: string; changeId: string }) => stack.gateway.rosterChanged(e),
});

/** Settings (period 30, the default), a worker, then the snapshot import whose signal starts the sync. */
async function setUpSchool(stack: Stack, roster: RosterSnapshot): Promise<School> {
  const schoolId = roster.school.id;
  const communityId = nextCommunity++;
  const token = `community-token-${randomBytes(12).toString('hex')}`;
  stack.emulator.addCommunity(communityId, token);
  await stack.settings.save({ schoolId, input: { communityId, token, period: '30' } });
  await stack.startWorker();
  await importSnapshot({ db: stack.db, input: roster, events: events(stack) });
  return { schoolId, communityId };
}

async function withStack(body: (stack: Stack) => Promise<void>): Promise<void> {
  const stack = await startStack({ services: services() });
  try {
    await body(stack);
  } finally {
    await stack.stop();
  }
}

/** A change set that removes these students, and the parents left without a child in the school. */
function removeStudents(roster: RosterSnapshot, ids: ReadonlySet<string>) {
  const parents = roster.parents.filter((p) => p.childIds.some((c) => ids.has(c)));
  const orphaned = parents.filter((p) => p.childIds.every((c) => ids.has(c)));
  const kept = parents
    .filter((p) => !orphaned.includes(p))
    .map((p) => ({ ...p, childIds: p.childIds.filter((c) => !ids.has(c)) }));
  const journals = roster.journals
    .filter((j) => j.studentIds?.some((s) => ids.has(s)))
    .map((j) => ({ ...j, studentIds: (j.studentIds ?? []).filter((s) => !ids.has(s)) }));
  return {
    schoolId: roster.school.id,
    upsert: { parents: kept, journals },
    remove: { students: [...ids], parents: orphaned.map((p) => p.id) },
  };
}

void describe('school sync on the dev server, MongoDB and the emulator', () => {
  void test('C1–C5: a generated small school is synced so every chat, member and admin in the emulator equals the plan; a second run (syncNow) makes zero write requests', async () => {
    await withStack(async (stack) => {
      const roster = generateRoster({
        seed: 'sync-small',
        size: 'small',
        schoolId: 'sync-small',
        today: GENERATED_TODAY,
      });
      const { schoolId, communityId } = await setUpSchool(stack, roster);
      const first = await runFinished(stack, schoolId, { runCountAtLeast: 1 });
      assert.equal(first.lastError, null);
      assert.equal(first.lastRun?.errors, 0);

      assert.deepEqual(await planVsEmulator(stack, schoolId, communityId), []);
      const plan = await currentPlan(stack.db, schoolId);
      const chats = emulatorChats(stack.emulator, communityId);
      assert.equal(chats.length, plan.length);
      assert.equal(first.lastRun?.chatsCreated, plan.length);
      assert.ok(plan.some((c) => c.kind === 'staffRoom') && plan.some((c) => c.kind === 'subject'));
      assert.ok(
        first.lastRun !== null && first.lastRun.skippedNoVkId > 0,
        'S4: people without a VK ID are reported',
      );
      // The community owns every chat it created and is its admin.
      for (const c of stack.emulator
        .snapshot()
        .chats.filter((x) => x.communityId === communityId)) {
        assert.equal(c.ownerId, -communityId);
        assert.ok(c.admins.includes(-communityId));
      }

      writes.reset();
      const before = JSON.stringify(emulatorChats(stack.emulator, communityId));
      const { runId } = await stack.gateway.syncNow({ schoolId, requestedBy: 'test' });
      const second = await runFinished(stack, schoolId, { runId });
      assert.equal(chatWrites(), 0, `the second run wrote: ${JSON.stringify(writes.byMethod)}`);
      assert.equal(JSON.stringify(emulatorChats(stack.emulator, communityId)), before);
      assert.deepEqual(
        {
          created: second.lastRun?.chatsCreated,
          added: second.lastRun?.membersAdded,
          removed: second.lastRun?.membersRemoved,
          admins: second.lastRun?.adminsChanged,
          errors: second.lastRun?.errors,
        },
        { created: 0, added: 0, removed: 0, admins: 0, errors: 0 },
      );
    });
  });

  void test('C1–C5/C3/§6/P2: a medium school equals the plan and a second run writes nothing; a change set (a student moved to another class, a new class teacher) and a parent unlinking are in the emulator within 60 s, without waiting for the 30-minute period', async () => {
    await withStack(async (stack) => {
      const roster = mediumRoster('sync-medium', [5, 6]);
      assert.ok(roster.classes.length >= 4, `medium school has ${roster.classes.length} classes`);
      const { schoolId, communityId } = await setUpSchool(stack, roster);
      const first = await runFinished(stack, schoolId, { runCountAtLeast: 1 }, 180_000);
      assert.equal(first.lastRun?.errors, 0);
      assert.deepEqual(await planVsEmulator(stack, schoolId, communityId), []);
      // Idempotent at this size too: a second run writes nothing.
      writes.reset();
      const again = await stack.gateway.syncNow({ schoolId, requestedBy: 'test' });
      const second = await runFinished(stack, schoolId, { runId: again.runId });
      assert.equal(chatWrites(), 0, `the second run wrote: ${JSON.stringify(writes.byMethod)}`);
      const runsBefore = second.runCount;

      const [classA, classB] = roster.classes;
      assert.ok(classA && classB);
      const student = roster.students.find(
        (s) => s.classId === classA.id && s.active && s.vkId !== null,
      );
      assert.ok(student?.vkId, 'a linked student in the first class');
      const classTeacherIds = new Set(roster.classes.map((c) => c.classTeacherId));
      const newTeacher = roster.staff.find(
        (s) => s.active && s.vkId !== null && !classTeacherIds.has(s.id),
      );
      assert.ok(newTeacher?.vkId, 'a linked staff member who is no class teacher');
      const otherChildren = new Set(
        roster.students.filter((s) => s.id !== student.id).map((s) => s.id),
      );
      const parent = roster.parents.find(
        (p) => p.vkId !== null && p.childIds.every((c) => otherChildren.has(c)),
      );
      assert.ok(parent?.vkId, 'a linked parent of other children');
      const parentClassIds = new Set(
        roster.students.filter((s) => parent.childIds.includes(s.id)).map((s) => s.classId),
      );

      const t0 = Date.now();
      await importChangeSet({
        db: stack.db,
        input: {
          schoolId,
          upsert: {
            students: [{ ...student, classId: classB.id }],
            classes: [{ ...classA, classTeacherId: newTeacher.id }],
            // The moved student leaves the old class's subgroups too.
            journals: roster.journals
              .filter((j) => j.studentIds?.includes(student.id))
              .map((j) => ({ ...j, studentIds: j.studentIds?.filter((id) => id !== student.id) })),
          },
        },
        events: events(stack),
      });
      await applyVkLinkEvent({
        db: stack.db,
        schoolId,
        input: { action: 'unlink', personKind: 'parent', personId: parent.id },
        events: events(stack),
      });
      const took = await converged(stack, schoolId, communityId, 60_000);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 60_000, `reflected after ${elapsed} ms`);

      const chats = new Map(emulatorChats(stack.emulator, communityId).map((c) => [c.title, c]));
      const chat = (title: string) => {
        const c = chats.get(title);
        assert.ok(c, `no chat "${title}"`);
        return c;
      };
      assert.ok(!chat(`${classA.name} — ученики`).members.includes(student.vkId));
      assert.ok(chat(`${classB.name} — ученики`).members.includes(student.vkId));
      for (const title of [`${classA.name} — ученики`, `${classA.name} — родители`]) {
        assert.ok(
          chat(title).admins.includes(newTeacher.vkId),
          `C5: new class teacher admin of ${title}`,
        );
      }
      for (const cls of roster.classes.filter((c) => parentClassIds.has(c.id))) {
        assert.ok(
          !chat(`${cls.name} — родители`).members.includes(parent.vkId),
          'P2: the unlinked parent is out of the parents chat',
        );
      }
      // The change made a run of its own; the periodic one is still half an hour away.
      const s = await runFinished(stack, schoolId, { runCountAtLeast: runsBefore + 1 });
      assert.equal(s.period, '30');
      assert.ok(Date.parse(s.nextRunAt ?? '') - t0 > 25 * 60_000, 'not the periodic run');
      assert.ok(s.lastRun && s.lastRun.membersAdded > 0 && s.lastRun.membersRemoved > 0);
      console.log(
        `medium school: changes reflected ${took} ms after the imports (${elapsed} ms in all)`,
      );
    });
  });

  void test('guard (§6): removing a third of the students holds the plan with nothing removed in the emulator; approvePlan applies it', async () => {
    await withStack(async (stack) => {
      const roster = generateRoster({
        seed: 'sync-guard',
        size: 'small',
        schoolId: 'sync-guard',
        today: GENERATED_TODAY,
      });
      const { schoolId, communityId } = await setUpSchool(stack, roster);
      await runFinished(stack, schoolId, { runCountAtLeast: 1 });
      assert.deepEqual(await planVsEmulator(stack, schoolId, communityId), []);
      const before = JSON.stringify(emulatorChats(stack.emulator, communityId));

      const students = roster.students.filter((s) => s.active);
      const removed = new Set(students.slice(0, Math.ceil(students.length / 3)).map((s) => s.id));
      writes.reset();
      await importChangeSet({
        db: stack.db,
        input: removeStudents(roster, removed),
        events: events(stack),
      });
      const held = await until('the plan is held', async () => {
        const s = await stack.gateway.syncStatus(schoolId);
        return s?.state === 'held' && s.heldPlan ? s : false;
      });
      const heldPlan = held.heldPlan;
      assert.ok(heldPlan);
      assert.equal(heldPlan.reason, 'massRemoval');
      assert.ok(
        heldPlan.removals / heldPlan.managedMembers > 0.1,
        `${heldPlan.removals} of ${heldPlan.managedMembers}`,
      );
      assert.equal(chatWrites(), 0, `a held plan wrote: ${JSON.stringify(writes.byMethod)}`);
      assert.equal(JSON.stringify(emulatorChats(stack.emulator, communityId)), before);
      // Asking again while nothing changed holds the same plan: the ID the admin sees stays valid.
      const again = await stack.gateway.syncNow({ schoolId, requestedBy: 'test' });
      const stillHeld = await runFinished(stack, schoolId, { runCountAtLeast: held.runCount + 1 });
      assert.equal(stillHeld.state, 'held');
      assert.equal(
        stillHeld.heldPlan?.planId,
        heldPlan.planId,
        `run ${again.runId} re-held a new plan`,
      );
      assert.equal(chatWrites(), 0);
      const removedVkIds = roster.students.filter((s) => removed.has(s.id) && s.vkId !== null);
      assert.ok(removedVkIds.length > 0);

      const approved = await stack.gateway.approvePlan({
        schoolId,
        planId: heldPlan.planId,
        approvedBy: 'school-admin',
      });
      assert.equal(approved.accepted, true, JSON.stringify(approved));
      assert.ok(approved.accepted);
      const after = await runFinished(stack, schoolId, { runId: approved.runId });
      assert.equal(after.heldPlan, null);
      assert.equal(after.lastRun?.planId, heldPlan.planId, 'the approved plan itself is applied');
      assert.equal(after.lastRun?.membersRemoved, heldPlan.removals);
      await converged(stack, schoolId, communityId, 30_000);
      const members = new Set(emulatorChats(stack.emulator, communityId).flatMap((c) => c.members));
      for (const s of removedVkIds)
        assert.ok(!members.has(s.vkId ?? 0), `student ${s.id} still in a chat`);
    });
  });

  void test('C3: under the guard only the mass removal waits: a student added in the same change set is in the chats at once, and the status names the chats and removals held', async () => {
    await withStack(async (stack) => {
      const roster = generateRoster({
        seed: 'sync-guard-split',
        size: 'small',
        schoolId: 'sync-guard-split',
        today: GENERATED_TODAY,
      });
      const { schoolId, communityId } = await setUpSchool(stack, roster);
      await runFinished(stack, schoolId, { runCountAtLeast: 1 });
      const students = roster.students.filter((s) => s.active);
      const removed = new Set(students.slice(0, Math.ceil(students.length / 3)).map((s) => s.id));
      const kept = students.find((s) => !removed.has(s.id));
      assert.ok(kept);
      const newcomer = { ...kept, id: 'st-newcomer', vkId: 990_001 };
      const change = removeStudents(roster, removed);
      await importChangeSet({
        db: stack.db,
        input: { ...change, upsert: { ...change.upsert, students: [newcomer] } },
        events: events(stack),
      });
      const held = await until('the plan is held', async () => {
        const s = await stack.gateway.syncStatus(schoolId);
        return s?.state === 'held' && s.heldPlan && s.currentRunId === null ? s : false;
      });
      const heldPlan = held.heldPlan;
      assert.ok(heldPlan?.chats && heldPlan.chats.length > 0);
      assert.equal(heldPlan.reason, 'massRemoval');
      assert.equal(
        heldPlan.chats.reduce((n, c) => n + c.removals, 0),
        heldPlan.removals,
      );
      const chats = emulatorChats(stack.emulator, communityId);
      const classChat = chats.find((c) => c.members.includes(990_001));
      assert.ok(classChat, 'the new student was not added while the removals are held');
      const members = new Set(chats.flatMap((c) => c.members));
      const removedVkIds = roster.students.flatMap((s) =>
        removed.has(s.id) && s.vkId !== null ? [s.vkId] : [],
      );
      assert.ok(removedVkIds.length > 0);
      for (const id of removedVkIds) assert.ok(members.has(id), `held removal ${id} was applied`);
      assert.ok((held.lastRun?.membersAdded ?? 0) > 0, 'the run added nobody');

      const approved = await stack.gateway.approvePlan({
        schoolId,
        planId: heldPlan.planId,
        approvedBy: 'school-admin',
      });
      assert.ok(approved.accepted, JSON.stringify(approved));
      const after = await runFinished(stack, schoolId, { runId: approved.runId });
      assert.equal(after.heldPlan, null);
      assert.equal(after.lastRun?.membersRemoved, heldPlan.removals);
      await converged(stack, schoolId, communityId, 30_000);
    });
  });
});
