import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { MongoClient, Db } from 'mongodb';
import pino from 'pino';
import { buildApi, type ApiDeps } from '../../src/api/server';
import type { ZodApp } from '../../src/api/context';
import type {
  JournalCallState,
  StartCallResult,
  EndCallResult,
} from '../../src/contracts/journal-calls';
import type { RosterSnapshotInput } from '../../src/contracts/roster';
import type { SyncStatus } from '../../src/contracts/school-sync';
import type { ListenerFact } from '../../src/contracts/platform-listener';
import { freePort } from '../../src/dev/processes';
import { startMongo } from '../../src/dev/services';
import { issueAdminKey, issueTeacherToken } from '../../src/store/auth-store';
import { connectMongo, ensureIndexes } from '../../src/store/db';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox } from '../../src/store/secrets';
import { createSettingsStore } from '../../src/store/settings-store';
import type { WorkflowGateway } from '../../src/client/workflow-gateway';

/** 09:00 in Moscow on a Tuesday: lesson 2 of today (09:30) is 30 minutes away. */
export const NOW = Date.parse('2026-12-01T06:00:00Z');
export const TODAY = '2026-12-01';
export const TOMORROW = '2026-12-02';
export const SCHOOL_ID = 'sch-1';

/** A small school: teacher t-1 owns journal j-1 (subject chat on), teacher t-2 owns j-2 (off). */
export function rosterFixture(): RosterSnapshotInput {
  return {
    school: { id: SCHOOL_ID, name: 'Школа № 1', timeZone: 'Europe/Moscow' },
    staff: [
      {
        id: 't-1',
        lastName: 'Иванова',
        firstName: 'Анна',
        vkId: 101,
        active: true,
        positions: [{ title: 'Учитель', level: 'teacher', active: true }],
      },
      {
        id: 't-2',
        lastName: 'Петров',
        firstName: 'Борис',
        vkId: null,
        active: true,
        positions: [{ title: 'Учитель', level: 'teacher', active: true }],
      },
      {
        id: 'd-1',
        lastName: 'Сидорова',
        firstName: 'Вера',
        vkId: 103,
        active: true,
        positions: [{ title: 'Директор', level: 'head-1', active: true }],
      },
    ],
    classes: [{ id: 'c-5a', name: '5А', classTeacherId: 't-1' }],
    students: [
      { id: 's-1', classId: 'c-5a', lastName: 'Орлов', firstName: 'Глеб', vkId: 201, active: true },
      {
        id: 's-2',
        classId: 'c-5a',
        lastName: 'Зайцева',
        firstName: 'Дарья',
        vkId: null,
        active: true,
      },
    ],
    parents: [{ id: 'p-1', childIds: ['s-1'], lastName: 'Орлова', firstName: 'Елена', vkId: null }],
    journals: [
      {
        id: 'j-1',
        classId: 'c-5a',
        subject: 'Математика',
        teacherIds: ['t-1'],
        kind: 'general',
        subjectChat: true,
      },
      {
        id: 'j-2',
        classId: 'c-5a',
        subject: 'История',
        teacherIds: ['t-2'],
        kind: 'general',
        subjectChat: false,
      },
    ],
    lessons: [
      { id: 'l-1', journalId: 'j-1', date: TODAY, number: 2, online: true, status: 'published' },
      { id: 'l-2', journalId: 'j-1', date: TOMORROW, number: 1, online: false, status: 'draft' },
      { id: 'l-3', journalId: 'j-2', date: TODAY, number: 1, online: false, status: 'published' },
    ],
    templates: [
      {
        id: 'tpl-1',
        validFrom: '2026-09-01',
        validTo: '2027-05-31',
        sendToPortal: true,
        grid: [
          { number: 1, start: '08:30', end: '09:15' },
          { number: 2, start: '09:30', end: '10:15' },
        ],
        entries: [
          { journalId: 'j-1', weekday: 2, number: 2 },
          { journalId: 'j-2', weekday: 2, number: 1 },
        ],
      },
    ],
  };
}

export interface GatewayCall {
  readonly method: keyof WorkflowGateway;
  readonly args: unknown;
}

/**
 * Stands in for Temporal where the workflow is not the point: records every call and keeps one
 * running call per journal, so the page sees start and end take effect.
 */
export function fakeGateway(): WorkflowGateway & {
  calls: GatewayCall[];
  failLessonsChanged: boolean;
} {
  const calls: GatewayCall[] = [];
  const running = new Map<string, { lessonId: string; joinLink: string; startedAt: number }>();
  const record = (method: keyof WorkflowGateway, args: unknown) => calls.push({ method, args });
  const gateway = {
    calls,
    failLessonsChanged: false,
    ensureSchoolSync: (schoolId: string) => (
      record('ensureSchoolSync', { schoolId }),
      Promise.resolve()
    ),
    rosterChanged: (args: { schoolId: string; changeId: string }) => (
      record('rosterChanged', args),
      Promise.resolve()
    ),
    settingsChanged: (args: { schoolId: string }) => (
      record('settingsChanged', args),
      Promise.resolve()
    ),
    syncNow: (args: { schoolId: string; requestedBy: string }) => {
      record('syncNow', args);
      return Promise.resolve({ runId: 'run-1' });
    },
    approvePlan: (args: { schoolId: string; planId: string; approvedBy: string }) => {
      record('approvePlan', args);
      return Promise.resolve({ accepted: false as const, reason: 'plan is not held' });
    },
    syncStatus: (schoolId: string): Promise<SyncStatus | null> => {
      record('syncStatus', { schoolId });
      return Promise.resolve(null);
    },
    ensureJournalCalls: (args: { schoolId: string; journalId: string }) => (
      record('ensureJournalCalls', args),
      Promise.resolve()
    ),
    lessonsChanged(args: { schoolId: string; journalId: string; lessonIds?: string[] }) {
      record('lessonsChanged', args);
      return gateway.failLessonsChanged
        ? Promise.reject(new Error('temporal unavailable'))
        : Promise.resolve();
    },
    startCall(args: {
      schoolId: string;
      journalId: string;
      lessonId: string;
      requestedBy: string;
    }): Promise<StartCallResult> {
      record('startCall', args);
      const current = running.get(args.journalId);
      if (current) {
        return Promise.resolve({
          accepted: false,
          reason: 'anotherCallRunning',
          runningLessonId: current.lessonId,
        });
      }
      const joinLink = `https://vk.com/call/join/${args.journalId}-${args.lessonId}`;
      running.set(args.journalId, { lessonId: args.lessonId, joinLink, startedAt: NOW });
      return Promise.resolve({
        accepted: true,
        lessonId: args.lessonId,
        joinLink,
        linkPublished: true,
      });
    },
    endCall(args: {
      schoolId: string;
      journalId: string;
      requestedBy: string;
    }): Promise<EndCallResult> {
      record('endCall', args);
      const current = running.get(args.journalId);
      if (!current) return Promise.resolve({ accepted: false, reason: 'noCallRunning' });
      running.delete(args.journalId);
      return Promise.resolve({ accepted: true, lessonId: current.lessonId, alreadyEnded: false });
    },
    callState({
      journalId,
    }: {
      schoolId: string;
      journalId: string;
    }): Promise<JournalCallState | null> {
      record('callState', { journalId });
      const current = running.get(journalId);
      const state: JournalCallState = {
        schoolId: SCHOOL_ID,
        journalId,
        running: current
          ? {
              callKey: `${journalId}:1`,
              callId: 'call-1',
              joinLink: current.joinLink,
              lessonId: current.lessonId,
              lessonIds: [current.lessonId],
              startedAt: current.startedAt,
              startedBy: 'auto',
              autoEndAt: null,
              linkPendingLessonIds: [],
            }
          : null,
        next: current ? null : { kind: 'start', lessonId: 'l-1', at: NOW + 10 * 60_000 },
        manualOnly: null,
        callsUnavailable: null,
        warnings: [],
        tooLateForAutoStart: [],
        endFailure: null,
        lastError: null,
      };
      return Promise.resolve(state);
    },
    handOverLegacyJournals: () => Promise.resolve(0),
    diaryEventsAdded: (args: { schoolId: string }) => {
      record('diaryEventsAdded', args);
      return Promise.resolve();
    },
    diaryStatus: () => Promise.resolve(null),
    ensurePlatformEvents: (args: { schoolId: string }) => {
      record('ensurePlatformEvents', args);
      return Promise.resolve();
    },
    eventsSettingsChanged: (args: { schoolId: string }) => {
      record('eventsSettingsChanged', args);
      return Promise.resolve();
    },
    platformFactsReceived: (args: { schoolId: string; facts: ListenerFact[] }) => {
      record('platformFactsReceived', args);
      return Promise.resolve();
    },
    platformEventsStatus: () => Promise.resolve(null),
    callEndedOnPlatform: (args: {
      schoolId: string;
      journalId: string;
      callKey: string;
      eventId: string;
    }) => {
      record('callEndedOnPlatform', args);
      return Promise.resolve();
    },
  };
  return gateway;
}

/** One MongoDB-compatible server per test file: MONGODB_URI if set, else a local one. */
export function mongoServer() {
  let service: Awaited<ReturnType<typeof startMongo>> | undefined;
  let dir: string | undefined;
  return {
    async start(): Promise<void> {
      dir = await mkdtemp(join(tmpdir(), 'sferum-api-'));
      service = await startMongo({
        port: await freePort(),
        dataDir: dir,
        logFile: join(dir, 'mongo.log'),
        externalUri: process.env.MONGODB_URI,
        progress: () => undefined,
      });
    },
    get uri(): string {
      if (!service) throw new Error('mongo not started');
      return service.uri;
    },
    async stop(): Promise<void> {
      await service?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ApiHarness {
  readonly app: ZodApp;
  readonly db: Db;
  readonly gateway: ReturnType<typeof fakeGateway>;
  readonly adminKey: string;
  /** t-1, assigned to j-1. */
  readonly teacher1: string;
  /** t-2, assigned to j-2 only. */
  readonly teacher2: string;
  readonly otherSchoolAdminKey: string;
  /** Every log line the API wrote, as text. */
  readonly logs: () => string;
  readonly temporalReady: { value: boolean };
}

const SECRETS_KEY = 'ab'.repeat(32);

/** A fresh database with the fixture roster imported, an API over it, and credentials. */
export async function withApi(
  mongoUri: string,
  fn: (h: ApiHarness) => Promise<void>,
  opts: Partial<Pick<ApiDeps, 'clock'>> & { seedRoster?: boolean } = {},
): Promise<void> {
  const dbName = `test_api_${randomBytes(5).toString('hex')}`;
  const { client, db }: { client: MongoClient; db: Db } = await connectMongo(mongoUri, dbName);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const gateway = fakeGateway();
  const temporalReady = { value: true };
  const box = createSecretBox(SECRETS_KEY);
  try {
    await ensureIndexes(db);
    if (opts.seedRoster !== false) {
      await importSnapshot({
        db,
        input: rosterFixture(),
        events: { rosterChanged: () => Promise.resolve() },
      });
    }
    const app = await buildApi({
      db,
      gateway,
      settings: createSettingsStore({ db, box }),
      logger,
      secretsBox: box,
      clock: opts.clock ?? (() => NOW),
      readiness: { temporal: () => Promise.resolve(temporalReady.value) },
    });
    const adminKey = (await issueAdminKey({ db, schoolId: SCHOOL_ID })).secret;
    const otherSchoolAdminKey = (await issueAdminKey({ db, schoolId: 'sch-2' })).secret;
    const teacher1 = (await issueTeacherToken({ db, schoolId: SCHOOL_ID, staffId: 't-1' })).secret;
    const teacher2 = (await issueTeacherToken({ db, schoolId: SCHOOL_ID, staffId: 't-2' })).secret;
    try {
      await fn({
        app,
        db,
        gateway,
        adminKey,
        teacher1,
        teacher2,
        otherSchoolAdminKey,
        logs: () => lines.join(''),
        temporalReady,
      });
    } finally {
      await app.close();
    }
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

export const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
