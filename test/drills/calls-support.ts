import assert from 'node:assert/strict';
import { until } from '../support/until';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Worker } from '@temporalio/worker';
import { archiveFromVisibility } from '../../src/client/archive-histories';
import { describeIncident, type Incident } from '../../src/audit/incidents';
import { runAudit, type AuditReport } from '../../src/audit/replay-audit';
import { workflowIds } from '../../src/contracts/ids';
import type { RosterSnapshot } from '../../src/contracts/roster';
import { chatKeys } from '../../src/domain/chat-plan';
import { AUTO_START_LEAD_MS } from '../../src/domain/call-plan';
import {
  addDays,
  daytimeZone,
  epochToZonedDate,
  formatZonedTime,
  isoWeekday,
} from '../../src/domain/time';
import type { Emulator } from '../../src/emulator/vk';
import { createCallStore, type CallDoc } from '../../src/store/call-store';
import { importSnapshot } from '../../src/store/roster-import';
import { createSyncStore } from '../../src/store/sync-store';
import { workflowBundle, type TestServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/**
 * The journal-call drills' common ground: a school whose journals all have a published online
 * lesson due at one whole minute, on a stack of its own (database, emulator, task queue, worker),
 * a watch that samples the emulator for two calls announced in one journal while the drill runs,
 * and the checks every drill ends with: each due lesson got its call and it was ended, no journal
 * ever showed two calls, and the audit, run over the drill's histories, explains what happened.
 */

export const MINUTE = 60_000;
const LESSON_NUMBER = 3;
const COMMUNITY_ID = 7101;

const SUBJECTS = ['Физика', 'Химия', 'Биология', 'История', 'География', 'Информатика'];

export interface DrillJournal {
  readonly journalId: string;
  readonly lessonId: string;
}

export interface DrillSchool {
  readonly schoolId: string;
  readonly teacherId: string;
  readonly timeZone: string;
  readonly date: string;
  /** When every journal's call is due: 20 minutes before the lessons, a whole minute. */
  readonly dueAt: number;
  readonly journals: readonly DrillJournal[];
  readonly roster: RosterSnapshot;
}

/**
 * A school whose `journals` subject-chat journals (six subjects a class) each have one published
 * online lesson starting 20 minutes after `dueAt`. The zone is the one where that is nearest noon,
 * so a drill never straddles the school's midnight and its "today and tomorrow".
 */
export function drillSchool(args: { name: string; journals: number; dueAt: number }): DrillSchool {
  const suffix = randomBytes(3).toString('hex');
  const schoolId = `drill-${args.name}-${suffix}`;
  const lessonStart = args.dueAt + AUTO_START_LEAD_MS;
  const timeZone = daytimeZone(lessonStart);
  const date = epochToZonedDate(lessonStart, timeZone);
  const teacherId = 'stf-teacher';
  const classCount = Math.ceil(args.journals / SUBJECTS.length);
  const classes = Array.from({ length: classCount }, (_, c) => ({
    id: `cls-${c + 1}`,
    name: `${5 + Math.floor(c / 4)}${'АБВГ'[c % 4] ?? ''}`,
    classTeacherId: teacherId,
  }));
  const journals = Array.from({ length: args.journals }, (_, i) => {
    const journalId = `jr-${args.name}-${suffix}-${i + 1}`;
    return {
      journalId,
      lessonId: `les-${journalId}-${date}-${LESSON_NUMBER}`,
      classId: classes[Math.floor(i / SUBJECTS.length)]!.id,
      subject: SUBJECTS[i % SUBJECTS.length]!,
    };
  });
  const roster: RosterSnapshot = {
    school: { id: schoolId, name: 'Школа учений', timeZone },
    staff: [
      {
        id: teacherId,
        lastName: 'Учебная',
        firstName: 'Тревога',
        vkId: 500_001,
        active: true,
        positions: [{ title: 'Учитель', level: 'teacher', active: true }],
        actingHead: false,
        accessRoles: ['teacher'],
      },
    ],
    classes,
    students: classes.flatMap((c, ci) =>
      [1, 2].map((n) => ({
        id: `stu-${ci + 1}-${n}`,
        classId: c.id,
        lastName: `Ученик${ci + 1}${n}`,
        firstName: 'Тест',
        vkId: 600_000 + ci * 10 + n,
        active: true,
      })),
    ),
    parents: [],
    journals: journals.map((j) => ({
      id: j.journalId,
      classId: j.classId,
      subject: j.subject,
      teacherIds: [teacherId],
      kind: 'general' as const,
      subjectChat: true,
    })),
    lessons: journals.map((j) => ({
      id: j.lessonId,
      journalId: j.journalId,
      date,
      number: LESSON_NUMBER,
      online: true,
      status: 'published' as const,
    })),
    templates: [
      {
        id: 'tpl-drill',
        validFrom: addDays(date, -30),
        validTo: addDays(date, 30),
        sendToPortal: true,
        grid: [
          {
            number: LESSON_NUMBER,
            start: formatZonedTime(lessonStart, timeZone),
            end: formatZonedTime(lessonStart + 45 * MINUTE, timeZone),
          },
        ],
        entries: journals.map((j) => ({
          journalId: j.journalId,
          weekday: isoWeekday(date),
          number: LESSON_NUMBER,
        })),
      },
    ],
  };
  return {
    schoolId,
    teacherId,
    timeZone,
    date,
    dueAt: args.dueAt,
    journals: journals.map(({ journalId, lessonId }) => ({ journalId, lessonId })),
    roster,
  };
}

export async function sleepUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  if (ms > 0) await delay(ms);
}

/**
 * Samples the emulator while a drill runs for the one thing a journal must never show: two
 * running calls whose links are both in its subject chat. A call whose `calls.start` answer was
 * lost is running but announced nowhere (the platform limit the README describes); it is counted
 * at the end, not here.
 */
export class CallWatch {
  samples = 0;
  maxAnnouncedInOneChat = 0;
  readonly violations: string[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly emulator: Emulator) {
    this.timer = setInterval(() => this.sample(), 20);
  }

  sample(): void {
    const { calls, messages } = this.emulator.state;
    const perChat = new Map<string, string[]>();
    for (const call of calls) {
      if (call.status !== 'active') continue;
      const chats = new Set(
        messages.filter((m) => m.text.includes(call.joinLink)).map((m) => `chat ${m.chatId}`),
      );
      if (chats.size > 1)
        this.violation(`call ${call.callId} announced in ${[...chats].join(', ')}`);
      for (const chat of chats) perChat.set(chat, [...(perChat.get(chat) ?? []), call.callId]);
    }
    for (const [chat, ids] of perChat) {
      this.maxAnnouncedInOneChat = Math.max(this.maxAnnouncedInOneChat, ids.length);
      if (ids.length > 1) this.violation(`${chat}: running calls ${ids.join(', ')} both announced`);
    }
    this.samples += 1;
  }

  private violation(text: string): void {
    if (this.violations.length < 20) this.violations.push(`${new Date().toISOString()} ${text}`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

let bundleFile: Promise<{ path: string; dir: string }> | undefined;

/** The workflow bundle in a file, once per test process, for worker processes to load. */
function workflowBundleFile(): Promise<{ path: string; dir: string }> {
  bundleFile ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'call-drills-'));
    const path = join(dir, 'workflows.js');
    await writeFile(path, (await workflowBundle()).code);
    return { path, dir };
  })();
  return bundleFile;
}

export async function removeWorkflowBundleFile(): Promise<void> {
  if (bundleFile) await rm((await bundleFile).dir, { recursive: true, force: true });
}

/** How the drill's worker runs: in the test process, or as a process of its own it can SIGKILL. */
export interface DrillWorker {
  start(): Promise<void>;
  /** SIGKILL (a process) or shutdown (in-process), and wait until it is gone. */
  kill(): Promise<void>;
  /** What a worker process wrote to stderr (its tail): why it died, if it did. */
  readonly stderr: () => string;
}

function processWorker(stack: Stack, on: TestServices): DrillWorker {
  let child: ChildProcess | undefined;
  let stderr = '';
  return {
    async start() {
      const { path } = await workflowBundleFile();
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', join(__dirname, '..', 'integration', 'journal-calls-worker.ts')],
        {
          env: {
            ...process.env,
            TASK_QUEUE: stack.taskQueue,
            TEMPORAL_ADDRESS: on.temporalAddress,
            MONGODB_URI: on.mongoUri,
            TEST_DB_NAME: stack.db.databaseName,
            EMULATOR_URL: stack.emulator.url,
            WORKFLOW_BUNDLE_PATH: path,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      proc.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-6_000);
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`worker did not start: ${stderr}`)),
          90_000,
        );
        proc.stdout?.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('worker running')) {
            clearTimeout(timer);
            resolve();
          }
        });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`worker exited with ${code}: ${stderr}`));
        });
      });
      child = proc;
    },
    async kill() {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
    stderr: () => stderr,
  };
}

function inProcessWorker(stack: Stack): DrillWorker {
  let worker: Worker | undefined;
  return {
    async start() {
      worker = await stack.startWorker();
    },
    kill() {
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      worker = undefined;
      return Promise.resolve();
    },
    stderr: () => '',
  };
}

export interface CallDrill {
  readonly stack: Stack;
  readonly school: DrillSchool;
  readonly watch: CallWatch;
  readonly worker: DrillWorker;
  /** Emulator calls.start requests before the due time: what the drill's faults count from. */
  readonly startsBeforeDue: () => number;
}

/**
 * Sets up a drill: its stack on `on`, the worker, a school whose calls are due at the first whole
 * minute at least `leadMs` away, the subject chats made by the school sync (so the faults hit the
 * calls, not the chats), and every journal workflow asleep until the due time. Cleans up after
 * the test, in order: watch, worker, workflows, database, then `cleanup` (the drill's own services).
 */
export async function setUpDrill(
  t: TestContext,
  args: {
    name: string;
    on: TestServices;
    journals: number;
    leadMs: number;
    workerProcess: boolean;
    cleanup?: () => Promise<void>;
  },
): Promise<CallDrill> {
  const stack = await startStack({ services: args.on });
  const worker = args.workerProcess ? processWorker(stack, args.on) : inProcessWorker(stack);
  const live: { watch?: CallWatch; school?: DrillSchool } = {};
  t.after(async () => {
    live.watch?.stop();
    stack.emulator.setFaults({
      errorRate10: 0,
      http502Rate: 0,
      dropAfterRate: 0,
      dropBeforeRate: 0,
      latencyMs: 0,
      rateLimitPerSecond: null,
    });
    await worker.kill();
    const stderr = worker.stderr().trim();
    if (stderr) t.diagnostic(`worker stderr (tail): ${stderr}`);
    const school = live.school;
    const ids = school
      ? [
          workflowIds.schoolSync(school.schoolId),
          ...school.journals.map((j) =>
            workflowIds.journalCalls({ schoolId: school.schoolId, journalId: j.journalId }),
          ),
        ]
      : [];
    await Promise.all(
      ids.map((id) =>
        stack.client.workflow
          .getHandle(id)
          .terminate('drill over')
          .catch(() => undefined),
      ),
    );
    await stack.stop();
    await args.cleanup?.();
  });

  const token = `drill-token-${randomBytes(12).toString('hex')}`;
  stack.emulator.addCommunity(COMMUNITY_ID, token);
  await worker.start();
  const dueAt = Math.ceil((Date.now() + args.leadMs) / MINUTE) * MINUTE;
  const school = drillSchool({ name: args.name, journals: args.journals, dueAt });
  live.school = school;
  await stack.settings.save({
    schoolId: school.schoolId,
    input: { communityId: COMMUNITY_ID, token, period: '30', enabled: true },
  });
  // The production wiring: the import signals the school sync, which makes the subject chats
  // (C2) and then makes sure each journal has its calls workflow.
  await importSnapshot({
    db: stack.db,
    input: school.roster,
    events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
  });
  await untilBellReady({ stack, school, dueAt, chatsBy: dueAt - 5_000, plannedBy: dueAt - 3_000 });
  assert.ok(Date.now() < dueAt, 'the drill was set up before the calls were due');
  const watch = new CallWatch(stack.emulator);
  live.watch = watch;
  let startsBeforeDue: number | undefined;
  void sleepUntil(dueAt).then(() => {
    startsBeforeDue = stack.emulator.stats.byMethod['calls.start'] ?? 0;
  });
  return {
    stack,
    school,
    watch,
    worker,
    startsBeforeDue: () => startsBeforeDue ?? stack.emulator.stats.byMethod['calls.start'] ?? 0,
  };
}

/** The journals' call records, read straight from the database. */
export async function callDocs(drill: CallDrill): Promise<Map<string, CallDoc[]>> {
  const calls = createCallStore(drill.stack.db);
  const out = new Map<string, CallDoc[]>();
  for (const j of drill.school.journals) {
    out.set(
      j.journalId,
      await calls.listCalls({ schoolId: drill.school.schoolId, journalId: j.journalId }),
    );
  }
  return out;
}

export interface AnnouncedCall {
  readonly journalId: string;
  readonly callId: string;
  readonly joinLink: string;
  readonly chatId: number;
  /** When the platform started it. */
  readonly startedAt: number;
}

/** Waits until every journal's link is on its lesson (the e-diary) and in its chat (V4). */
export async function awaitAnnounced(
  drill: CallDrill,
  deadlineAt: number,
): Promise<AnnouncedCall[]> {
  const calls = createCallStore(drill.stack.db);
  const sync = createSyncStore(drill.stack.db);
  const { schoolId, journals } = drill.school;
  return until(
    `every journal's call link on its lesson and in its chat`,
    async () => {
      const out: AnnouncedCall[] = [];
      for (const j of journals) {
        const link = await calls.getLessonLink({
          schoolId: drill.school.schoolId,
          lessonId: j.lessonId,
        });
        const chatId = (await sync.getChat(schoolId, chatKeys.subject(j.journalId)))?.chatId;
        const call = drill.stack.emulator.state.calls.find((c) => c.joinLink === link?.joinLink);
        if (!link || !chatId || !call) return false;
        if (
          !drill.stack.emulator.state.messages.some(
            (m) => m.chatId === chatId && m.text.includes(call.joinLink),
          )
        )
          return false;
        out.push({
          journalId: j.journalId,
          callId: call.callId,
          joinLink: call.joinLink,
          chatId,
          startedAt: call.startedAt,
        });
      }
      return out;
    },
    { deadlineAt: deadlineAt, intervalMs: 250 },
  );
}

export interface DrillOutcome {
  readonly announced: AnnouncedCall[];
  /** Calls running on the platform that no journal announced: a `calls.start` answer lost. */
  readonly orphans: number;
  /** Every call the platform started during the drill. */
  readonly platformCalls: number;
  readonly report: AuditReport;
}

/**
 * Ends every journal's call with the journal's button and checks what every drill must show:
 * each due lesson got exactly one call, announced once in its chat, none before it was due, each
 * ended; the watch never saw two announced calls in a journal; then runs the audit (archive and
 * replay, as the CLI does) over the school's histories and checks its rows: each lesson started
 * automatically and ended by the teacher, none missed.
 */
export async function endAndAudit(
  t: TestContext,
  drill: CallDrill,
  announced: AnnouncedCall[],
): Promise<DrillOutcome> {
  const { stack, school } = drill;
  const ended = await Promise.all(
    school.journals.map((j) =>
      stack.gateway.endCall({
        schoolId: school.schoolId,
        journalId: j.journalId,
        requestedBy: school.teacherId,
      }),
    ),
  );
  ended.forEach((e, i) =>
    assert.equal(e.accepted, true, `${school.journals[i]?.journalId}: ${JSON.stringify(e)}`),
  );
  drill.watch.stop();
  assert.deepEqual(drill.watch.violations, [], 'never two announced calls in one journal (V3)');
  assert.ok(drill.watch.maxAnnouncedInOneChat <= 1);

  const emu = stack.emulator.state;
  const docs = await callDocs(drill);
  for (const a of announced) {
    const own = docs.get(a.journalId) ?? [];
    assert.deepEqual(
      own.map((d) => [d.status, d.callId]),
      [['ended', a.callId]],
      `${a.journalId}: one call recorded, the announced one, ended`,
    );
    assert.equal(
      emu.calls.find((c) => c.callId === a.callId)?.status,
      'finished',
      `${a.journalId}: the platform call is finished`,
    );
    assert.equal(
      emu.messages.filter((m) => m.text.includes(a.joinLink)).length,
      1,
      `${a.journalId}: the link is posted once`,
    );
  }
  for (const c of emu.calls) {
    assert.ok(
      c.startedAt >= school.dueAt - 1_000,
      `no call started before it was due (${c.callId})`,
    );
  }
  const known = new Set(announced.map((a) => a.callId));
  const orphanCalls = emu.calls.filter((c) => !known.has(c.callId));
  for (const c of orphanCalls) {
    assert.ok(
      !emu.messages.some((m) => m.text.includes(c.joinLink)),
      'a call nobody recorded is never announced',
    );
  }
  const orphans = orphanCalls.filter((c) => c.status === 'active').length;

  await archiveFromVisibility({ db: stack.db, client: stack.client, schoolId: school.schoolId });
  const report = await runAudit({
    db: stack.db,
    client: stack.client,
    schoolId: school.schoolId,
    from: school.date,
    to: school.date,
    workflows: { workflowBundle: await workflowBundle() },
  });
  assert.deepEqual(report.failures, [], 'every history replays');
  assert.equal(report.rows.length, school.journals.length, 'one audit row per online lesson');
  for (const row of report.rows) {
    assert.equal(row.missed, null, `${row.lessonId}: not missed`);
    assert.equal(row.started?.how, 'auto', `${row.lessonId}: started automatically`);
    assert.deepEqual(
      [row.ended?.how, row.ended?.by],
      ['manual', school.teacherId],
      `${row.lessonId}: ended by the teacher's button`,
    );
  }
  for (const i of report.incidents) t.diagnostic(`audit: ${i.workflowId}: ${describeIncident(i)}`);
  return { announced, orphans, platformCalls: emu.calls.length, report };
}

/** What the audit row of a journal's lesson names as the causes of its call's delay. */
export function causesOf(report: AuditReport, journalId: string): readonly Incident[] {
  const row = report.rows.find((r) => r.journalId === journalId);
  assert.ok(row, `an audit row for ${journalId}`);
  return row.causes;
}

/** The line each drill ends with: what it checked, in numbers. */
export function checkedLine(drill: CallDrill, outcome: DrillOutcome, audit: string): string {
  const late = outcome.report.rows.map((r) => (r.started ? r.started.at - drill.school.dueAt : 0));
  const maxLate = Math.max(0, ...late);
  return (
    `checked: ${drill.school.journals.length} journals, ${outcome.announced.length} calls started ` +
    `(max ${Math.round(maxLate / 1000)} s late) and ended, 0 journals with two announced calls ` +
    `(${drill.watch.samples} observations), ${outcome.platformCalls} platform calls started, ` +
    `${outcome.orphans} unannounced orphan call(s) left running; ` +
    `audit: ${audit}`
  );
}

/** "openCall retried 3× (MongoServerSelectionError…)"-style counts of the report's incidents. */
export function incidentSummary(incidents: readonly Incident[]): string {
  const counts = new Map<string, { n: number; reason: string }>();
  for (const i of incidents) {
    const key = `${i.subject.startsWith('start call') ? 'start timer' : i.subject} ${i.kind}`;
    const entry = counts.get(key) ?? { n: 0, reason: i.reason };
    entry.n += 1;
    counts.set(key, entry);
  }
  if (counts.size === 0) return 'no incidents';
  return [...counts]
    .map(([key, { n, reason }]) => `${key} ${n}× (${reason.slice(0, 90)})`)
    .join('; ');
}

/**
 * Waits until the school sync has made every subject chat (C2) and every journal workflow has
 * planned its start at the bell: what a drill needs before the bell rings.
 */
export async function untilBellReady(args: {
  stack: Pick<Stack, 'db' | 'gateway'>;
  school: DrillSchool;
  dueAt: number;
  chatsBy: number;
  plannedBy: number;
}): Promise<void> {
  const { stack, school, dueAt } = args;
  const sync = createSyncStore(stack.db);
  await until(
    'the school sync to make every subject chat',
    async () => {
      for (const j of school.journals) {
        if (!(await sync.getChat(school.schoolId, chatKeys.subject(j.journalId)))?.chatId)
          return false;
      }
      return true;
    },
    { deadlineAt: args.chatsBy },
  );
  await until(
    'every journal workflow to plan its start',
    async () => {
      for (const j of school.journals) {
        const state = await stack.gateway.callState({
          schoolId: school.schoolId,
          journalId: j.journalId,
        });
        const next = state?.next;
        if (next?.kind !== 'start' || next.lessonId !== j.lessonId || next.at !== dueAt)
          return false;
      }
      return true;
    },
    { deadlineAt: args.plannedBy },
  );
}
