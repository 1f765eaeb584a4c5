import { randomBytes } from 'node:crypto';
import type { RosterSnapshot } from '../contracts/roster';
import { generateRoster } from '../demo/roster-generator';
import { daytimeZone, epochToZonedDate, formatZonedTime, isoWeekday } from '../domain/time';
import { issueAdminKey, issueTeacherToken } from '../store/auth-store';
import { importSnapshot } from '../store/roster-import';
import type { App } from '../process/app';
import { WEBHOOK_PATH } from '../emulator/portal';

export const DEMO_SCHOOL_ID = 'demo-school';
export const DEMO_COMMUNITY_ID = 1001;
const DEMO_LESSON_NUMBER = 9;
/** The demo lesson starts this long after start-up, so its call starts by itself two minutes in. */
const DEMO_LESSON_LEAD_MS = 22 * 60_000;
const DEMO_LESSON_LENGTH_MS = 45 * 60_000;
/** The call ends 20 minutes after the lesson: the demo's day must last until then. */
const DEMO_WINDOW_MS = DEMO_LESSON_LEAD_MS + DEMO_LESSON_LENGTH_MS + 20 * 60_000;
const DEMO_TIME_ZONE = 'Europe/Moscow';

export interface DemoSchool {
  readonly schoolId: string;
  readonly journalId: string;
  readonly lessonId: string;
  /** The lesson's local start and the school's zone, e.g. `08:35 Asia/Kamchatka`. */
  readonly lessonStart: string;
  readonly adminKey: string;
  readonly teacherToken: string;
  readonly communityToken: string;
}

/**
 * The demo school `npm start` brings up: a generated small school whose subject-chat journal has
 * an online lesson starting 22 minutes after start-up, so its call starts by itself two minutes in.
 * The school is in Moscow unless the lesson and its call would cross Moscow's midnight (a grid row
 * cannot); then it takes the Russian zone where it is nearest noon.
 */
export function demoRoster(now: number): {
  roster: RosterSnapshot;
  journalId: string;
  lessonId: string;
  lessonStart: string;
} {
  const timeZone =
    epochToZonedDate(now, DEMO_TIME_ZONE) === epochToZonedDate(now + DEMO_WINDOW_MS, DEMO_TIME_ZONE)
      ? DEMO_TIME_ZONE
      : daytimeZone(now + DEMO_LESSON_LEAD_MS);
  const today = epochToZonedDate(now, timeZone);
  const base = generateRoster({ seed: 'demo', size: 'small', schoolId: DEMO_SCHOOL_ID, today });
  const journal = base.journals.find((j) => j.kind === 'general' && j.subjectChat);
  if (!journal) throw new Error('the generated demo school has no subject-chat journal');
  const start = formatZonedTime(now + DEMO_LESSON_LEAD_MS, timeZone);
  const end = formatZonedTime(now + DEMO_LESSON_LEAD_MS + DEMO_LESSON_LENGTH_MS, timeZone);
  const lessonId = `demo-lesson-${today}`;
  const templates = base.templates.map((t, i) =>
    i === 0
      ? {
          ...t,
          grid: [
            ...t.grid.filter((r) => r.number !== DEMO_LESSON_NUMBER),
            { number: DEMO_LESSON_NUMBER, start, end },
          ],
          entries: [
            ...t.entries,
            { journalId: journal.id, weekday: isoWeekday(today), number: DEMO_LESSON_NUMBER },
          ],
        }
      : t,
  );
  const lessons = [
    // The demo lesson is the journal's only lesson that day: its grid row is moved to "in 22
    // minutes", which can put it before the day's earlier-numbered lessons, and the journal's one
    // call must be the demo's.
    ...base.lessons.filter((l) => !(l.journalId === journal.id && l.date === today)),
    {
      id: lessonId,
      journalId: journal.id,
      date: today,
      number: DEMO_LESSON_NUMBER,
      online: true,
      status: 'published' as const,
    },
  ];
  return {
    roster: {
      ...base,
      school: { ...base.school, name: 'Демо-школа №1', timeZone },
      templates,
      lessons,
    },
    journalId: journal.id,
    lessonId,
    lessonStart: `${start} ${timeZone}`,
  };
}

export async function seedDemoSchool(
  app: App,
  args: {
    now: number;
    emulatorUrl: string;
    addCommunity: (communityId: number, token: string) => void;
    /** The city portal emulator: the demo school's e-diary webhook points at it (V4). */
    portalUrl?: string;
  },
): Promise<DemoSchool> {
  const { roster, journalId, lessonId, lessonStart } = demoRoster(args.now);
  const communityToken = `demo-${randomBytes(16).toString('hex')}`;
  args.addCommunity(DEMO_COMMUNITY_ID, communityToken);
  const saved = await app.settings.save({
    schoolId: DEMO_SCHOOL_ID,
    input: { communityId: DEMO_COMMUNITY_ID, token: communityToken, period: '5', enabled: true },
  });
  if (args.portalUrl) await connectDemoDiary(app, args.portalUrl);
  await importSnapshot({
    db: app.db,
    input: roster,
    events: { rosterChanged: (e) => app.gateway.rosterChanged(e) },
  });
  const journal = roster.journals.find((j) => j.id === journalId);
  const teacherId = journal?.teacherIds[0];
  if (!teacherId) throw new Error('the demo journal has no teacher');
  const admin = await issueAdminKey({ db: app.db, schoolId: DEMO_SCHOOL_ID });
  const teacher = await issueTeacherToken({
    db: app.db,
    schoolId: DEMO_SCHOOL_ID,
    staffId: teacherId,
  });
  await app.gateway.settingsChanged({ schoolId: DEMO_SCHOOL_ID, period: saved.period });
  return {
    schoolId: DEMO_SCHOOL_ID,
    journalId,
    lessonId,
    lessonStart,
    adminKey: admin.secret,
    teacherToken: teacher.secret,
    communityToken,
  };
}

/** The portal learns the school's signing secret, and the school pushes its links to the portal. */
async function connectDemoDiary(app: App, portalUrl: string): Promise<void> {
  const secret = randomBytes(32).toString('hex');
  const registered = await fetch(`${portalUrl}/__portal/schools`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ schoolId: DEMO_SCHOOL_ID, secret }),
  });
  if (!registered.ok) throw new Error(`the portal emulator answered ${registered.status}`);
  await app.settings.diary.save({
    schoolId: DEMO_SCHOOL_ID,
    webhookUrl: `${portalUrl}${WEBHOOK_PATH}`,
    secret,
  });
}
