import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BSON, type Db, type MongoClient } from 'mongodb';

import { ErrorType, TypedError } from '../../src/contracts/errors';
import { rosterCollections, type RosterSnapshot } from '../../src/contracts/roster';
import { freePort } from '../../src/dev/processes';
import { startMongo, type MongoServer } from '../../src/dev/services';
import { generateRoster } from '../../src/demo/roster-generator';
import { validateSnapshot } from '../../src/domain/roster-validation';
import { connectMongo, ensureIndexes } from '../../src/store/db';
import { listRosterChanges } from '../../src/store/roster-changes';
import {
  applyVkLinkEvent,
  importChangeSet,
  importSnapshot,
  type RosterEvents,
} from '../../src/store/roster-import';
import {
  createRosterStore,
  ROSTER_SNAPSHOTS,
  rosterCollectionNames,
} from '../../src/store/roster-store';
import { getStudyProfile } from '../../src/store/study-profiles';

let mongoUri = '';
let mongo: MongoServer | undefined;
let dataDir: string | undefined;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sferum-roster-'));
  mongo = await startMongo({
    port: await freePort(),
    dataDir,
    logFile: join(dataDir, 'mongo.log'),
    externalUri: process.env.MONGODB_URI,
    progress: () => undefined,
  });
  mongoUri = mongo.uri;
});

after(async () => {
  await mongo?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function withDb(fn: (db: Db, dbName: string) => Promise<void>): Promise<void> {
  const dbName = `test_roster_${randomBytes(5).toString('hex')}`;
  const { client, db }: { client: MongoClient; db: Db } = await connectMongo(mongoUri, dbName);
  try {
    await ensureIndexes(db);
    await fn(db, dbName);
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

function recordingEvents(): RosterEvents & { calls: { schoolId: string; changeId: string }[] } {
  const calls: { schoolId: string; changeId: string }[] = [];
  return {
    calls,
    rosterChanged(args) {
      calls.push(args);
      return Promise.resolve();
    },
  };
}

const noEvents: RosterEvents = { rosterChanged: () => Promise.resolve() };

function valid(roster: RosterSnapshot): RosterSnapshot {
  const result = validateSnapshot(roster);
  assert.ok(result.ok);
  return result.value;
}

/** Every collection, every document and every index, in a canonical text form. */
async function dump(db: Db): Promise<string> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .sort();
  const parts: string[] = [];
  for (const name of names) {
    const docs = await db
      .collection(name)
      .find({}, { sort: { _id: 1 } })
      .toArray();
    const indexes = await db.collection(name).listIndexes().toArray();
    parts.push(
      `${name}\n${BSON.EJSON.stringify(indexes, { relaxed: false })}\n${BSON.EJSON.stringify(docs, { relaxed: false })}`,
    );
  }
  return parts.join('\n');
}

async function rejection(promise: Promise<unknown>): Promise<TypedError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TypedError, String(error));
    return error;
  }
  assert.fail('expected the import to be rejected');
}

function errorPaths(error: TypedError): string[] {
  const errors = error.details?.errors as { path: string; message: string }[];
  assert.ok(Array.isArray(errors));
  for (const e of errors) assert.ok(e.message.length > 0);
  return errors.map((e) => e.path).sort();
}

/** The versions any roster document or packed copy of the school carries. */
async function versionsPresent(db: Db, schoolId: string): Promise<number[]> {
  const versions = new Set<number>();
  const names = [...rosterCollections.map((c) => rosterCollectionNames[c]), ROSTER_SNAPSHOTS];
  for (const name of names) {
    const found = (await db.collection(name).distinct('version', { schoolId })) as number[];
    for (const v of found) versions.add(v);
  }
  return [...versions].sort((a, b) => a - b);
}

void test('a snapshot import is stored, read back validated, logged and announced', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 1, size: 'small', today: '2026-12-01' }));
    const events = recordingEvents();
    const summary = await importSnapshot({ db, input: roster, events });
    assert.equal(summary.kind, 'snapshot');
    assert.equal(summary.changes.students.added, roster.students.length);
    assert.deepEqual(events.calls, [{ schoolId: roster.school.id, changeId: summary.changeId }]);

    const store = createRosterStore({ db });
    assert.deepEqual(await store.loadRoster(roster.school.id), roster);
    const [logged] = await listRosterChanges(db, { schoolId: roster.school.id });
    assert.equal(logged?.id, summary.changeId);
    assert.equal(logged?.collections.students?.added, roster.students.length);
    assert.doesNotMatch(JSON.stringify(logged), new RegExp(roster.students[0]!.lastName));

    const again = await importSnapshot({ db, input: roster, events });
    assert.ok(again.version > summary.version);
    assert.deepEqual(Object.values(again.counts), [0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(await versionsPresent(db, roster.school.id), [again.version]);
  });
});

void test('a whole roster is read from its packed copy until an in-place edit, then from the records, which are packed again', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 'packed', size: 'small', today: '2026-12-01' }));
    const schoolId = roster.school.id;
    const { version } = await importSnapshot({ db, input: roster, events: noEvents });
    const packed = db.collection<{ version: number; edits: number }>(ROSTER_SNAPSHOTS);
    const packedCopies = async (): Promise<number[][]> =>
      (await packed.find({ schoolId }).toArray()).map((d) => [d.version, d.edits]);
    assert.deepEqual(await packedCopies(), [[version, 0]]);
    const store = createRosterStore({ db });

    // The parents' records removed behind the store's back: a read that still has them came from
    // the packed copy.
    const parents = db.collection(rosterCollectionNames.parents);
    const parentDocs = await parents.find({ schoolId }).toArray();
    const loadWithoutRecords = async (): Promise<unknown> => {
      await parents.deleteMany({ schoolId });
      try {
        return await store.loadRoster(schoolId);
      } finally {
        await parents.insertMany(parentDocs);
      }
    };
    assert.deepEqual(await loadWithoutRecords(), roster);

    const staff = roster.staff[1]!;
    await store.setPersonVkId({ schoolId, personKind: 'staff', personId: staff.id, vkId: 777_001 });
    const edited = {
      ...roster,
      staff: roster.staff.map((s) => (s.id === staff.id ? { ...s, vkId: 777_001 } : s)),
    };
    assert.deepEqual(await store.loadRoster(schoolId), edited, 'the stale packed copy is not used');
    assert.deepEqual(await packedCopies(), [[version, 1]]);
    assert.deepEqual(await loadWithoutRecords(), edited, 'read from the repacked copy');

    const next = await importChangeSet({
      db,
      input: { schoolId, upsert: { students: [{ ...roster.students[0]!, active: false }] } },
      events: noEvents,
    });
    assert.deepEqual(await versionsPresent(db, schoolId), [next.version]);
    assert.equal((await store.loadRoster(schoolId))?.students[0]?.active, false);
  });
});

void test('reads: journal, lessons by date, the template governing a journal', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 2, size: 'small', today: '2026-12-01' }));
    await importSnapshot({ db, input: roster, events: noEvents });
    const store = createRosterStore({ db });
    const schoolId = roster.school.id;
    const lesson = roster.lessons.find((l) => l.online)!;
    assert.deepEqual(
      await store.getJournal({ schoolId, journalId: lesson.journalId }),
      roster.journals.find((j) => j.id === lesson.journalId),
    );
    const lessons = await store.listLessons({
      schoolId,
      journalId: lesson.journalId,
      dates: ['2026-12-01', '2026-12-02'],
    });
    assert.deepEqual(
      lessons,
      roster.lessons.filter((l) => l.journalId === lesson.journalId),
    );
    assert.equal(
      (await store.getTemplateForJournal({ schoolId, journalId: lesson.journalId }))?.id,
      'tpl-main',
    );
    assert.equal(await store.getJournal({ schoolId, journalId: 'jr-none' }), null);
    assert.equal(await store.loadRoster('another-school'), null);
  });
});

void test('V2, V7: a journal’s plan inputs come from one version, and a template change set is read at once by a store that read the old one', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 5, size: 'small', today: '2026-12-01' }));
    await importSnapshot({ db, input: roster, events: noEvents });
    const store = createRosterStore({ db });
    const schoolId = roster.school.id;
    const journalId = roster.lessons.find((l) => l.online)!.journalId;
    const zones: string[] = [];
    const dates = (timeZone: string): string[] => {
      zones.push(timeZone);
      return ['2026-12-01'];
    };
    const inputs = await store.journalPlanInputs({ schoolId, journalId, dates });
    assert.deepEqual(zones, [roster.school.timeZone], 'the dates are picked in the school’s zone');
    assert.deepEqual(inputs, {
      school: roster.school,
      journal: roster.journals.find((j) => j.id === journalId),
      lessons: roster.lessons.filter((l) => l.journalId === journalId && l.date === '2026-12-01'),
      templates: roster.templates,
    });
    const [template] = roster.templates;
    assert.ok(template);
    const moved = { ...template, grid: template.grid.map((r) => ({ ...r, start: '07:55' })) };
    // The grid's row times must stay in order for the template to be valid.
    moved.grid = moved.grid.slice(0, 1);
    moved.entries = moved.entries.filter((e) => e.number === moved.grid[0]!.number);
    await importChangeSet({
      db,
      input: { schoolId, upsert: { templates: [moved] } },
      events: noEvents,
    });
    const after = await store.journalPlanInputs({ schoolId, journalId, dates });
    assert.deepEqual(
      after?.templates.find((t) => t.id === template.id),
      moved,
      'the store’s cached templates belong to the version they were read at',
    );
    assert.equal(
      await store.journalPlanInputs({ schoolId: 'another-school', journalId, dates }),
      null,
    );
    assert.equal(
      (await store.journalPlanInputs({ schoolId, journalId: 'jr-none', dates }))?.journal,
      null,
    );
  });
});

void test('V1: a lesson switched online in place is seen by the next read and survives a change set', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 3, size: 'small', today: '2026-12-01' }));
    // V1: only a journal that can have calls has the switch (a change set stores any other as offline).
    const withCalls = new Set(
      roster.journals.filter((j) => j.kind === 'general' && j.subjectChat).map((j) => j.id),
    );
    const lesson = {
      ...roster.lessons.find((l) => withCalls.has(l.journalId))!,
      online: false,
      status: 'draft' as const,
    };
    roster.lessons = roster.lessons.map((l) => (l.id === lesson.id ? lesson : l));
    await importSnapshot({ db, input: roster, events: noEvents });
    const store = createRosterStore({ db });
    const schoolId = roster.school.id;
    const updated = await store.updateLesson({
      schoolId,
      lessonId: lesson.id,
      patch: { online: true, status: 'published' },
    });
    assert.deepEqual(updated, { ...lesson, online: true, status: 'published' });
    assert.deepEqual(await store.getLesson({ schoolId, lessonId: lesson.id }), updated);
    assert.equal(
      await store.updateLesson({ schoolId, lessonId: 'les-none', patch: { online: true } }),
      null,
    );

    const student = roster.students[0]!;
    await importChangeSet({
      db,
      input: { schoolId, upsert: { students: [{ ...student, active: false }] } },
      events: noEvents,
    });
    assert.deepEqual(await store.getLesson({ schoolId, lessonId: lesson.id }), updated);
  });
});

void test('V1, C3: an import answers with its warnings; an online lesson of a journal without calls is stored as not online', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 5, size: 'small', today: '2026-12-01' }));
    const noCalls = roster.journals.find((j) => j.kind !== 'general' || !j.subjectChat)!;
    const lesson = { ...roster.lessons[0]!, journalId: noCalls.id, online: true };
    const input = { ...roster, lessons: [lesson, ...roster.lessons.slice(1)] };
    const summary = await importSnapshot({ db, input, events: noEvents });
    assert.deepEqual(
      summary.warnings.map((w) => [w.code, w.path]),
      [['onlineLessonWithoutCalls', 'lessons[0].online']],
    );
    const store = createRosterStore({ db });
    const schoolId = roster.school.id;
    assert.equal((await store.getLesson({ schoolId, lessonId: lesson.id }))?.online, false);

    const subgroup = { ...roster.journals[0]!, studentIds: [roster.students[0]!.id] };
    const moved = { ...roster.students[0]!, classId: 'cls-elsewhere' };
    const changes = await importChangeSet({
      db,
      input: {
        schoolId,
        upsert: {
          classes: [{ id: 'cls-elsewhere', name: '9Я', classTeacherId: null }],
          journals: [subgroup],
          students: [moved],
        },
      },
      events: noEvents,
    });
    // The generated school has a subgroup of its own with the same student: warned at the stored journal.
    assert.ok(
      changes.warnings.some(
        (w) =>
          w.code === 'subgroupStudentOutsideClass' && w.path === 'upsert.journals[0].studentIds[0]',
      ),
      JSON.stringify(changes.warnings),
    );
    assert.ok(changes.warnings.every((w) => w.code === 'subgroupStudentOutsideClass'));
  });
});

void test('C3: a change set becomes a new version with its changes logged by ID', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 4, size: 'small', today: '2026-12-01' }));
    const first = await importSnapshot({ db, input: roster, events: noEvents });
    const events = recordingEvents();
    const moved = { ...roster.students[1]!, active: false };
    const lesson = roster.lessons[0]!;
    const summary = await importChangeSet({
      db,
      input: {
        schoolId: roster.school.id,
        upsert: { students: [moved] },
        remove: { lessons: [lesson.id] },
      },
      events,
    });
    assert.ok(summary.version > first.version);
    assert.deepEqual(summary.changes.students, { added: 0, changed: 1, removed: 0 });
    assert.deepEqual(summary.changes.lessons, { added: 0, changed: 0, removed: 1 });
    assert.equal(events.calls.length, 1);
    const loaded = await createRosterStore({ db }).loadRoster(roster.school.id);
    assert.equal(loaded?.students.find((s) => s.id === moved.id)?.active, false);
    assert.ok(!loaded?.lessons.some((l) => l.id === lesson.id));
    const [logged] = await listRosterChanges(db, { schoolId: roster.school.id });
    assert.deepEqual(logged?.collections.students?.changedIds, [moved.id]);
    assert.deepEqual(await versionsPresent(db, roster.school.id), [summary.version]);
  });
});

void test('P1, P2: link stores the study profile and the VK ID; unlink clears both', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 5, size: 'small', today: '2026-12-01' }));
    await importSnapshot({ db, input: roster, events: noEvents });
    const schoolId = roster.school.id;
    const parent = roster.parents[0]!;
    const events = recordingEvents();
    const profile = {
      firstName: 'Анна',
      lastName: 'Петрова',
      birthday: '1985-04-12',
      gender: 'female' as const,
    };

    const linked = await applyVkLinkEvent({
      db,
      schoolId,
      input: {
        action: 'link',
        personKind: 'parent',
        personId: parent.id,
        vkId: 777_000_001,
        profile,
      },
      events,
    });
    assert.equal(linked.kind, 'link');
    const store = createRosterStore({ db });
    assert.equal(
      (await store.loadRoster(schoolId))?.parents.find((p) => p.id === parent.id)?.vkId,
      777_000_001,
    );
    assert.deepEqual(
      (await getStudyProfile(db, { schoolId, personKind: 'parent', personId: parent.id }))?.profile,
      profile,
    );

    await applyVkLinkEvent({
      db,
      schoolId,
      input: { action: 'unlink', personKind: 'parent', personId: parent.id },
      events,
    });
    assert.equal(
      (await store.loadRoster(schoolId))?.parents.find((p) => p.id === parent.id)?.vkId,
      null,
    );
    assert.equal(
      await getStudyProfile(db, { schoolId, personKind: 'parent', personId: parent.id }),
      null,
    );
    assert.equal(events.calls.length, 2);
    const kinds = (await listRosterChanges(db, { schoolId })).map((c) => c.kind);
    assert.deepEqual(kinds.slice(0, 2).sort(), ['link', 'unlink']);

    const bad = await rejection(
      applyVkLinkEvent({
        db,
        schoolId,
        input: { action: 'link', personKind: 'parent', personId: parent.id, vkId: -1, profile: {} },
        events,
      }),
    );
    assert.equal(bad.type, ErrorType.InvalidInput);
    assert.deepEqual(errorPaths(bad), [
      'profile.birthday',
      'profile.firstName',
      'profile.gender',
      'profile.lastName',
      'vkId',
    ]);
    const missing = await rejection(
      applyVkLinkEvent({
        db,
        schoolId,
        input: { action: 'unlink', personKind: 'student', personId: 'stu-none' },
        events,
      }),
    );
    assert.equal(missing.type, ErrorType.NotFound);
  });
});

void test('a malformed roster is rejected with every error and its path, and the database is byte-for-byte unchanged', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 6, size: 'small', today: '2026-12-01' }));
    await importSnapshot({ db, input: roster, events: noEvents });
    const before = await dump(db);
    const events = recordingEvents();

    const broken = structuredClone(roster) as unknown as Record<string, Record<string, unknown>[]>;
    broken.students![3]!.classId = 'cls-nope';
    broken.students![5]!.vkId = 'vk123';
    broken.parents![0]!.childIds = ['stu-nope'];
    broken.lessons![0]!.status = 'finished';
    broken.journals![1]!.teacherIds = ['stf-nope'];
    const snapshotError = await rejection(importSnapshot({ db, input: broken, events }));
    assert.equal(snapshotError.type, ErrorType.InvalidInput);
    assert.deepEqual(errorPaths(snapshotError), [
      'journals[1].teacherIds[0]',
      'lessons[0].status',
      'parents[0].childIds[0]',
      'students[3].classId',
      'students[5].vkId',
    ]);

    const changeSetError = await rejection(
      importChangeSet({
        db,
        input: {
          schoolId: roster.school.id,
          upsert: { students: [{ ...roster.students[0], classId: 'cls-nope' }] },
          remove: { classes: [roster.classes[0]!.id] },
        },
        events,
      }),
    );
    assert.equal(changeSetError.type, ErrorType.InvalidInput);
    assert.ok(errorPaths(changeSetError).includes('upsert.students[0].classId'));
    assert.ok(errorPaths(changeSetError).includes('remove.classes[0]'));

    assert.deepEqual(events.calls, []);
    assert.equal(await dump(db), before);
  });
});

/** Runs the child importer and resolves once it reports being paused mid-write. */
function startPausedImport(
  dbName: string,
  pauseAfter: number,
): Promise<{ kill(): Promise<void>; line: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'roster-import-child.ts')],
    {
      env: {
        ...process.env,
        MONGODB_URI: mongoUri,
        TEST_DB_NAME: dbName,
        PAUSE_AFTER: String(pauseAfter),
        ROSTER_SEED: 'second',
      },
      cwd: join(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('paused')) return;
      resolve({
        line: out.trim(),
        async kill() {
          child.kill('SIGKILL');
          assert.equal(await exited, 'SIGKILL');
        },
      });
    });
    void exited.then((how) => {
      if (!out.includes('paused'))
        reject(new Error(`importer exited (${String(how)}) before pausing: ${err}`));
    });
  });
}

void test('an import killed with SIGKILL mid-write leaves the previous roster complete; the next import cleans up', async () => {
  await withDb(async (db, dbName) => {
    const first = valid(generateRoster({ seed: 'first', size: 'large', today: '2026-12-01' }));
    const schoolId = first.school.id;
    const committed = await importSnapshot({ db, input: first, events: noEvents });

    const importer = await startPausedImport(dbName, 2000);
    assert.match(importer.line, /paused version=\d+ written=\d+/);
    await importer.kill();

    const store = createRosterStore({ db });
    assert.deepEqual(await store.loadRoster(schoolId), first);
    assert.equal((await store.getState(schoolId))?.version, committed.version);
    const leftover = await versionsPresent(db, schoolId);
    assert.equal(leftover.length, 2, 'the killed import left its half-written version behind');
    assert.ok(leftover[1]! > committed.version);

    const third = valid(generateRoster({ seed: 'third', size: 'large', today: '2026-12-01' }));
    const next = await importSnapshot({ db, input: third, events: noEvents });
    assert.ok(next.version > leftover[1]!);
    assert.deepEqual(await store.loadRoster(schoolId), third);
    assert.deepEqual(await versionsPresent(db, schoolId), [next.version]);
  });
});

void test('of two overlapping snapshot imports the first to flip wins; the other is refused and leaves nothing', async () => {
  await withDb(async (db) => {
    const base = valid(generateRoster({ seed: 'a', size: 'small', today: '2026-12-01' }));
    const winner = valid(generateRoster({ seed: 'b', size: 'small', today: '2026-12-01' }));
    const loser = valid(generateRoster({ seed: 'c', size: 'small', today: '2026-12-01' }));
    await importSnapshot({ db, input: base, events: noEvents });

    let won: number | undefined;
    const refused = await rejection(
      importSnapshot({
        db,
        input: loser,
        events: noEvents,
        onProgress: async () => {
          won ??= (await importSnapshot({ db, input: winner, events: noEvents })).version;
        },
      }),
    );
    assert.equal(refused.details?.reason, 'concurrentImport');
    assert.deepEqual(await createRosterStore({ db }).loadRoster(base.school.id), winner);
    assert.deepEqual(await versionsPresent(db, base.school.id), [won]);
  });
});

void test('P1: a change set read before a VK ID link is refused, so the link is not lost', async () => {
  await withDb(async (db) => {
    const roster = valid(generateRoster({ seed: 'd', size: 'small', today: '2026-12-01' }));
    const schoolId = roster.school.id;
    await importSnapshot({ db, input: roster, events: noEvents });
    const staff = roster.staff[2]!;
    const profile = {
      firstName: 'Ольга',
      lastName: 'Иванова',
      birthday: '1980-01-02',
      gender: 'female' as const,
    };
    const store = createRosterStore({ db });

    const refused = await rejection(
      importChangeSet({
        db,
        input: { schoolId, upsert: { lessons: [{ ...roster.lessons[0]!, online: true }] } },
        events: noEvents,
        onProgress: async () => {
          await applyVkLinkEvent({
            db,
            schoolId,
            input: {
              action: 'link',
              personKind: 'staff',
              personId: staff.id,
              vkId: 555_000_111,
              profile,
            },
            events: noEvents,
          });
        },
      }),
    );
    assert.equal(refused.details?.reason, 'concurrentImport');
    const loaded = await store.loadRoster(schoolId);
    assert.equal(loaded?.staff.find((s) => s.id === staff.id)?.vkId, 555_000_111);
    assert.deepEqual(loaded?.lessons[0], roster.lessons[0]);
    assert.equal((await versionsPresent(db, schoolId)).length, 1);
  });
});
