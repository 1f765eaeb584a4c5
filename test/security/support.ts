import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Db } from 'mongodb';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import type { ZodApp } from '../../src/api/context';
import { createAuditPort } from '../../src/audit/port';
import { workflowIds } from '../../src/contracts/ids';
import type { RosterSnapshot } from '../../src/contracts/roster';
import { issueAdminKey, issueTeacherToken } from '../../src/store/auth-store';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import type { TestServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/**
 * The security drills' system: the real API (`buildApi`) over the real stack (Temporal dev
 * server, MongoDB-compatible server, the VK API emulator and a production worker), two schools
 * with credentials, and a record of every response the API gave and every line it logged.
 */

export const MINUTE = 60_000;
const TZ = 'Europe/Moscow';

/** Moscow is UTC+3 all year. */
export const mskDate = (epoch: number): string =>
  new Date(epoch + 3 * 3_600_000).toISOString().slice(0, 10);

/**
 * A school with two subject-chat journals (one teacher each) and one online, published lesson
 * per journal today. The timetable template is not sent to the portal, so calls are manual only
 * (V7): nothing starts or ends by itself while a drill compares before and after.
 */
export function schoolRoster(args: {
  schoolId: string;
  /** Journal IDs; the first belongs to the first teacher, the second to the second. */
  journals: readonly [string, string];
  teachers: readonly [string, string];
  lessons: readonly [string, string];
  vkBase: number;
}): RosterSnapshot {
  const today = mskDate(Date.now());
  const [ja, jb] = args.journals;
  const [ta, tb] = args.teachers;
  const [la, lb] = args.lessons;
  const teacher = (id: string, n: number) => ({
    id,
    lastName: `Учитель${n}`,
    firstName: 'Тест',
    vkId: args.vkBase + n,
    active: true,
    positions: [{ title: 'Учитель', level: 'teacher' as const, active: true }],
    actingHead: false,
    accessRoles: ['teacher'],
  });
  return {
    school: { id: args.schoolId, name: `Школа ${args.schoolId}`, timeZone: TZ },
    staff: [teacher(ta, 1), teacher(tb, 2)],
    classes: [{ id: 'cls-7a', name: '7А', classTeacherId: ta }],
    students: [1, 2].map((n) => ({
      id: `stu-${n}`,
      classId: 'cls-7a',
      lastName: `Ученик${n}`,
      firstName: 'Тест',
      vkId: args.vkBase + 100 + n,
      active: true,
    })),
    parents: [],
    journals: [
      {
        id: ja,
        classId: 'cls-7a',
        subject: 'Алгебра',
        teacherIds: [ta],
        kind: 'general',
        subjectChat: true,
      },
      {
        id: jb,
        classId: 'cls-7a',
        subject: 'Химия',
        teacherIds: [tb],
        kind: 'general',
        subjectChat: true,
      },
    ],
    lessons: [
      { id: la, journalId: ja, date: today, number: 1, online: true, status: 'published' },
      { id: lb, journalId: jb, date: today, number: 2, online: true, status: 'published' },
    ],
    templates: [
      {
        id: 'tpl-1',
        validFrom: null,
        validTo: null,
        sendToPortal: false,
        grid: [
          { number: 1, start: '08:30', end: '09:15' },
          { number: 2, start: '09:30', end: '10:15' },
        ],
        entries: [
          { journalId: ja, weekday: 1, number: 1 },
          { journalId: jb, weekday: 1, number: 2 },
        ],
      },
    ],
  };
}

export interface SchoolCredentials {
  readonly schoolId: string;
  readonly communityId: number;
  /** The community token the emulator knows for this school. */
  readonly token: string;
  readonly admin: string;
  /** Teacher tokens by staff ID. */
  readonly teachers: Readonly<Record<string, string>>;
}

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly body: string;
  readonly headers: string;
}

export interface SecurityHarness {
  readonly stack: Stack;
  readonly app: ZodApp;
  readonly db: Db;
  /** Every line the API logged, as text. */
  logs(): string;
  /** Every response `request` received, in order. */
  readonly responses: Recorded[];
  request(opts: InjectOptions & { key?: string }): Promise<LightMyRequestResponse>;
}

/** A fresh stack and API for one test; everything is stopped afterwards. */
export async function withSecurityApi(
  services: TestServices,
  fn: (h: SecurityHarness) => Promise<void>,
  opts: { vkBaseUrl?: (emulatorUrl: string) => string } = {},
): Promise<void> {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  const stack = await startStack({
    services,
    logger,
    ...(opts.vkBaseUrl ? { vkBaseUrl: opts.vkBaseUrl } : {}),
  });
  try {
    await stack.startWorker();
    const app = await buildApi({
      db: stack.db,
      gateway: stack.gateway,
      settings: stack.settings,
      // The audit replays the open runs too, so what a failure left in a history is reachable.
      audit: createAuditPort({ db: stack.db, client: stack.client }),
      logger,
      secretsBox: createSecretBox(DEV_SECRETS_KEY),
      readiness: { temporal: () => Promise.resolve(true) },
      // The drills send many refused credentials on purpose; the limiter has its own tests.
      authFailureLimit: 1_000_000,
    });
    const responses: Recorded[] = [];
    try {
      await fn({
        stack,
        app,
        db: stack.db,
        logs: () => lines.join(''),
        responses,
        async request({ key, ...inject }) {
          const headers = {
            ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
            ...inject.headers,
          };
          const res = await app.inject({ ...inject, headers });
          responses.push({
            method: inject.method ?? 'GET',
            url: typeof inject.url === 'string' ? inject.url : '',
            status: res.statusCode,
            body: res.body,
            headers: JSON.stringify(res.headers),
          });
          return res;
        },
      });
    } finally {
      await app.close();
    }
  } finally {
    await stack.stop();
  }
}

/** Imports a school's roster, registers its community on the emulator and issues credentials. */
export async function seedSchool(
  h: SecurityHarness,
  args: { roster: RosterSnapshot; communityId: number; token?: string },
): Promise<SchoolCredentials> {
  const schoolId = args.roster.school.id;
  const token = args.token ?? `vk1.a.${randomBytes(24).toString('base64url')}`;
  h.stack.emulator.addCommunity(args.communityId, token);
  await importSnapshot({
    db: h.db,
    input: args.roster,
    events: { rosterChanged: (e) => h.stack.gateway.rosterChanged(e) },
  });
  const admin = (await issueAdminKey({ db: h.db, schoolId })).secret;
  const teachers: Record<string, string> = {};
  for (const s of args.roster.staff) {
    teachers[s.id] = (await issueTeacherToken({ db: h.db, schoolId, staffId: s.id })).secret;
  }
  return { schoolId, communityId: args.communityId, token, admin, teachers };
}

/**
 * Every document of every collection the service writes, as text, so a before/after comparison
 * shows any write. `updatedAt`-style fields are part of it on purpose: a rewrite of the same
 * values is a change too.
 */
export async function dbSnapshot(db: Db): Promise<string> {
  const names = new Set((await db.listCollections().toArray()).map((c) => c.name));
  const parts: Record<string, unknown[]> = {};
  for (const name of [...names].sort()) {
    parts[name] = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
  }
  return JSON.stringify(parts);
}

/** How far each workflow's history has grown: an update, signal or activity adds events. */
export async function historyLengths(
  stack: Stack,
  workflowIdList: readonly string[],
): Promise<Record<string, number | 'absent'>> {
  const out: Record<string, number | 'absent'> = {};
  for (const id of workflowIdList) {
    try {
      const d = await stack.client.workflow.getHandle(id).describe();
      out[id] = d.historyLength;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      out[id] = 'absent';
    }
  }
  return out;
}

export const journalWorkflow = (schoolId: string, journalId: string): string =>
  workflowIds.journalCalls({ schoolId, journalId });
export const schoolWorkflow = (schoolId: string): string => workflowIds.schoolSync(schoolId);

/** What the platform has seen: requests by method, and every chat, call and message. */
export function emulatorFootprint(stack: Stack): string {
  const dump = stack.emulator.snapshot();
  return JSON.stringify({
    requests: dump.stats.requests,
    byMethod: dump.stats.byMethod,
    chats: dump.chats,
    calls: dump.calls,
    messages: dump.messages.length,
  });
}

/**
 * Substrings of a secret that would identify it: the whole and every 10-character window of it,
 * so a body that echoes a truncated secret (as V8's JSON errors do) is caught as well.
 */
export function secretWindows(secret: string, width = 10): string[] {
  const out = new Set([secret]);
  for (let i = 0; i + width <= secret.length; i++) out.add(secret.slice(i, i + width));
  return [...out];
}

/** The first window of any secret found in `text`, or null. */
export function findLeak(
  text: string,
  secrets: Readonly<Record<string, string>>,
): { name: string; window: string } | null {
  for (const [name, secret] of Object.entries(secrets)) {
    for (const window of secretWindows(secret)) if (text.includes(window)) return { name, window };
  }
  return null;
}
