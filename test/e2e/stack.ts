import { randomBytes, randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildApi } from '../../src/api/server';
import type { ZodApp } from '../../src/api/context';
import type { RosterSnapshot } from '../../src/contracts/roster';
import { demoRoster } from '../../src/dev/demo';
import { addDays, epochToZonedDate, zonedDateTimeToEpoch } from '../../src/domain/time';
import { issueAdminKey, issueTeacherToken } from '../../src/store/auth-store';
import { importSnapshot } from '../../src/store/roster-import';
import { createSecretBox, DEV_SECRETS_KEY } from '../../src/store/secrets';
import { startTestServices, type TestServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';

/** What the browser tests need: the real system behind the journal and school pages. */
export interface E2eStack {
  readonly stack: Stack;
  readonly baseUrl: string;
  readonly schoolId: string;
  readonly journalId: string;
  /** The demo's online lesson, starting 22 minutes after the roster was made. */
  readonly lessonId: string;
  readonly communityId: number;
  /** A teacher token of the journal's assigned teacher. */
  readonly teacherToken: string;
  readonly teacherId: string;
  readonly adminKey: string;
  readonly roster: RosterSnapshot;
  stop(): Promise<void>;
}

/**
 * The services `npm test` passes in the environment, or this file's own (with the Web UI). Not
 * `useServices()`: on Node 20 root-level `before` hooks run concurrently, so a second hook could
 * not wait for its services.
 */
export async function acquireServices(): Promise<TestServices & { stop(): Promise<void> }> {
  const address = process.env.SFERUM_TEST_TEMPORAL_ADDRESS;
  const mongoUri = process.env.MONGODB_URI;
  if (address && mongoUri) {
    return {
      mongoUri,
      temporalAddress: address,
      temporalUiUrl: process.env.SFERUM_TEST_TEMPORAL_UI_URL || undefined,
      stop: () => Promise.resolve(),
    };
  }
  return startTestServices({ ui: true });
}

/**
 * The demo lesson starts 22 minutes after the time given and lasts 45; its call ends 20 minutes
 * later. Late in the Moscow evening that would cross midnight while the lesson is dated today, so
 * then the demo is made as of tomorrow 07:38, and its lesson starts tomorrow at 08:00.
 */
function demoClock(now: number): number {
  const zone = 'Europe/Moscow';
  const today = epochToZonedDate(now, zone);
  if (epochToZonedDate(now + 2 * 60 * 60_000, zone) === today) return now;
  return zonedDateTimeToEpoch({ date: addDays(today, 1), time: '07:38', timeZone: zone });
}

/**
 * The demo school with every ID that names a workflow made unique, so tests sharing one Temporal
 * server (`npm test`) never meet each other's `school-sync-…` or `journal-calls-…` workflows.
 */
export function uniqueDemoRoster(now: number, suffix: string) {
  const demo = demoRoster(demoClock(now));
  const journal = (id: string): string => `${id}-${suffix}`;
  const roster: RosterSnapshot = {
    ...demo.roster,
    school: { ...demo.roster.school, id: `e2e-${suffix}` },
    journals: demo.roster.journals.map((j) => ({ ...j, id: journal(j.id) })),
    lessons: demo.roster.lessons.map((l) => ({ ...l, journalId: journal(l.journalId) })),
    templates: demo.roster.templates.map((t) => ({
      ...t,
      entries: t.entries.map((e) => ({ ...e, journalId: journal(e.journalId) })),
    })),
  };
  return { roster, journalId: journal(demo.journalId), lessonId: demo.lessonId };
}

/**
 * The real stack (Temporal dev server, FerretDB/MongoDB, the VK API emulator, a worker with the
 * production activities) with the HTTP API over it: the demo school imported, its community
 * configured, an admin key and the journal teacher's token issued.
 */
export async function startE2eStack(
  services: TestServices,
  opts: { removalThreshold?: number } = {},
): Promise<E2eStack> {
  const stack = await startStack({ services });
  let api: ZodApp | undefined;
  const suffix = randomBytes(4).toString('hex');
  const { roster, journalId, lessonId } = uniqueDemoRoster(Date.now(), suffix);
  const schoolId = roster.school.id;
  const stop = async (): Promise<void> => {
    await api?.close();
    await terminateSchoolWorkflows(stack, schoolId);
    await stack.stop();
  };
  try {
    await stack.startWorker();
    const communityId = randomInt(100_000, 1_000_000);
    const communityToken = `e2e-${randomBytes(16).toString('hex')}`;
    stack.emulator.addCommunity(communityId, communityToken);
    await stack.settings.save({
      schoolId,
      input: {
        communityId,
        token: communityToken,
        period: '30',
        enabled: true,
        ...(opts.removalThreshold === undefined ? {} : { removalThreshold: opts.removalThreshold }),
      },
    });
    await importSnapshot({
      db: stack.db,
      input: roster,
      events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
    });
    const teacherId = roster.journals.find((j) => j.id === journalId)?.teacherIds[0];
    if (!teacherId) throw new Error('the demo journal has no teacher');
    const teacherToken = (await issueTeacherToken({ db: stack.db, schoolId, staffId: teacherId }))
      .secret;
    const adminKey = (await issueAdminKey({ db: stack.db, schoolId })).secret;

    api = await buildApi({
      db: stack.db,
      gateway: stack.gateway,
      settings: stack.settings,
      logger: stack.logger,
      secretsBox: createSecretBox(DEV_SECRETS_KEY),
      readiness: {
        temporal: async () => {
          try {
            await stack.client.connection.workflowService.getSystemInfo({});
            return true;
          } catch {
            return false;
          }
        },
      },
    });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const { port } = api.server.address() as AddressInfo;
    return {
      stack,
      baseUrl: `http://127.0.0.1:${port}`,
      schoolId,
      journalId,
      lessonId,
      communityId,
      teacherToken,
      teacherId,
      adminKey,
      roster,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** The worker goes away with the stack: terminate what it ran, so nothing lingers on a shared server. */
export async function terminateSchoolWorkflows(stack: Stack, schoolId: string): Promise<void> {
  try {
    const query = `SchoolId="${schoolId}" AND ExecutionStatus="Running"`;
    for await (const wf of stack.client.workflow.list({ query })) {
      await stack.client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('end-to-end test finished')
        .catch(() => undefined);
    }
  } catch {
    // Visibility may lag or be unavailable; the workflows' IDs are unique to this test anyway.
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails with `what` at the deadline. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
