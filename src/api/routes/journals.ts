import { z } from 'zod';
import type { Lesson, Template } from '../../contracts/roster';
import { callsUnavailableReason } from '../../domain/call-plan';
import { gridTimes, selectTemplate } from '../../domain/template-check';
import { addDays, epochToZonedDate } from '../../domain/time';
import { actorOf, requireJournalAccess } from '../auth';
import type { RouteContext, ZodApp } from '../context';
import { createDiaryOutbox } from '../../store/diary-outbox';
import { ApiError, errorReplies, notFound } from '../errors';
import {
  endAcceptedSchema,
  journalCallStateSchema,
  journalLessonsSchema,
  journalParams,
  lessonParams,
  lessonPatchBody,
  lessonViewSchema,
  noBody,
  onlineRefusedSchema,
  refusedSchema,
  startAcceptedSchema,
  startCallBody,
} from '../schemas';

const AUTH_ERRORS = [400, 401, 403, 404, 429] as const;

type LessonView = z.infer<typeof lessonViewSchema>;

function viewLesson(lesson: Lesson, templates: readonly Template[]): LessonView {
  const { template } = selectTemplate({
    templates,
    journalId: lesson.journalId,
    date: lesson.date,
  });
  const times = template === null ? null : gridTimes(template, lesson.number);
  return { ...lesson, start: times?.start ?? null, end: times?.end ?? null };
}

function byDateAndNumber(a: Lesson, b: Lesson): number {
  if (a.date !== b.date) return a.date < b.date ? -1 : 1;
  return a.number - b.number;
}

/** The e-diary delivery of each lesson's link, for the journal's views (V4). */
function diaryViewFor(ctx: RouteContext) {
  const outbox = createDiaryOutbox(ctx.db);
  return async (schoolId: string, lessonIds: readonly string[]) =>
    (await outbox.latestForLessons({ schoolId, lessonIds })).map(({ event, delivery }) => ({
      lessonId: event.lessonId,
      kind: event.kind,
      state: delivery.state,
      lastError: delivery.lastError,
      failingSince: delivery.failingSince?.getTime() ?? null,
      deliveredAt: delivery.deliveredAt?.getTime() ?? null,
    }));
}

async function schoolTimeZone(roster: RouteContext['roster'], schoolId: string): Promise<string> {
  const school = await roster.getSchool(schoolId);
  if (school === null) throw notFound('school');
  return school.timeZone;
}

/** Every journal and lesson route. */
export function registerJournalRoutes(app: ZodApp, ctx: RouteContext): void {
  registerViewRoutes(app, ctx);
  registerCallButtonRoutes(app, ctx);
  registerLessonRoutes(app, ctx);
}

/** The journal's lessons and its call, as the teacher's page shows them (V1–V7). */
function registerViewRoutes(app: ZodApp, ctx: RouteContext): void {
  const { roster, gateway } = ctx;
  const diaryView = diaryViewFor(ctx);
  const auth = { onRequest: ctx.authenticate };
  app.get(
    '/journals/:id/lessons',
    {
      ...auth,
      schema: {
        tags: ['journals'],
        summary:
          "Today's and tomorrow's lessons of the journal, in the school's time zone (V1, V2)",
        security: [{ bearer: [] }],
        params: journalParams,
        response: { 200: journalLessonsSchema, ...errorReplies(...AUTH_ERRORS) },
      },
    },
    async (request) => {
      const { principal, journal } = await requireJournalAccess(request, roster, request.params.id);
      const timeZone = await schoolTimeZone(roster, principal.schoolId);
      const today = epochToZonedDate(ctx.clock(), timeZone);
      const tomorrow = addDays(today, 1);
      const [lessons, templates] = await Promise.all([
        roster.listLessons({
          schoolId: principal.schoolId,
          journalId: journal.id,
          dates: [today, tomorrow],
        }),
        roster.listTemplates(principal.schoolId),
      ]);
      return {
        journalId: journal.id,
        subject: journal.subject,
        subjectChat: journal.subjectChat,
        callsUnavailable: callsUnavailableReason(journal),
        timeZone,
        today,
        tomorrow,
        lessons: [...lessons].sort(byDateAndNumber).map((l) => viewLesson(l, templates)),
      };
    },
  );

  app.get(
    '/journals/:id/call',
    {
      ...auth,
      schema: {
        tags: ['journals'],
        summary:
          'The journal call state: running call and join link (V6), next automatic action, manual-only reasons (V7), warnings (V3)',
        security: [{ bearer: [] }],
        params: journalParams,
        response: { 200: journalCallStateSchema, ...errorReplies(...AUTH_ERRORS) },
      },
    },
    async (request) => {
      const { principal, journal } = await requireJournalAccess(request, roster, request.params.id);
      const state = await gateway.callState({
        schoolId: principal.schoolId,
        journalId: journal.id,
      });
      if (state === null) {
        return {
          journalId: journal.id,
          workflowStarted: false,
          running: null,
          next: null,
          manualOnly: null,
          callsUnavailable: callsUnavailableReason(journal),
          warnings: [],
          diary: [],
          tooLateForAutoStart: [],
          endFailure: null,
          lastEnded: null,
          lastError: null,
        };
      }
      return {
        journalId: journal.id,
        workflowStarted: true,
        running: state.running
          ? { ...state.running, lessonIds: [...state.running.lessonIds] }
          : null,
        next: state.next ? { ...state.next } : null,
        manualOnly: state.manualOnly
          ? {
              reasons: [...state.manualOnly.reasons],
              gridGaps: state.manualOnly.gridGaps.map((g) => ({ ...g })),
            }
          : null,
        // The roster is the truth for the switch: the workflow learns of a change on its next load.
        callsUnavailable: callsUnavailableReason(journal),
        warnings: [...state.warnings],
        // After an end, the ended call's lessons: the page shows their links withdrawn.
        diary: await diaryView(
          principal.schoolId,
          state.running?.lessonIds ?? state.lastEnded?.lessonIds ?? [],
        ),
        tooLateForAutoStart: [...state.tooLateForAutoStart],
        endFailure: state.endFailure && {
          lessonId: state.endFailure.lessonId,
          lessonIds: [...state.endFailure.lessonIds],
          error: state.endFailure.error,
          failures: state.endFailure.failures,
          retryAt: state.endFailure.retryAt,
          gaveUp: state.endFailure.gaveUp,
        },
        lastEnded: state.lastEnded
          ? { ...state.lastEnded, lessonIds: [...state.lastEnded.lessonIds] }
          : null,
        lastError: state.lastError,
      };
    },
  );
}

/** The teacher presses start or end (V2, V5). */
function registerCallButtonRoutes(app: ZodApp, ctx: RouteContext): void {
  const { roster, gateway } = ctx;
  const auth = { onRequest: ctx.authenticate };
  app.post(
    '/journals/:id/call/start',
    {
      ...auth,
      schema: {
        tags: ['journals'],
        summary: 'Start the video lesson for a lesson (V2, the journal button)',
        description:
          'Sent to the journal workflow as an update. 200 when the workflow accepted the start (the join ' +
          'link is in the reply); 409 with the reason when it refused (for example another call is running, V3).',
        security: [{ bearer: [] }],
        params: journalParams,
        body: startCallBody,
        response: {
          200: startAcceptedSchema,
          409: refusedSchema,
          ...errorReplies(...AUTH_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const { principal, journal } = await requireJournalAccess(request, roster, request.params.id);
      const result = await gateway.startCall({
        schoolId: principal.schoolId,
        journalId: journal.id,
        lessonId: request.body.lessonId,
        requestedBy: actorOf(principal),
      });
      if (!result.accepted) {
        return reply.status(409).send({
          accepted: false as const,
          reason: result.reason,
          ...(result.runningLessonId === undefined
            ? {}
            : { runningLessonId: result.runningLessonId }),
        });
      }
      return reply.status(200).send(result);
    },
  );

  app.post(
    '/journals/:id/call/end',
    {
      ...auth,
      schema: {
        tags: ['journals'],
        summary: 'End the running video lesson (V5, the journal button)',
        description:
          '200 when ended (or already ended); 409 with the reason when the workflow refused.',
        security: [{ bearer: [] }],
        params: journalParams,
        body: noBody,
        response: { 200: endAcceptedSchema, 409: refusedSchema, ...errorReplies(...AUTH_ERRORS) },
      },
    },
    async (request, reply) => {
      const { principal, journal } = await requireJournalAccess(request, roster, request.params.id);
      const result = await gateway.endCall({
        schoolId: principal.schoolId,
        journalId: journal.id,
        requestedBy: actorOf(principal),
      });
      if (!result.accepted)
        return reply.status(409).send({ accepted: false as const, reason: result.reason });
      return reply.status(200).send(result);
    },
  );
}

/** A lesson switched online or its status changed (V1). */
function registerLessonRoutes(app: ZodApp, ctx: RouteContext): void {
  const { roster, gateway } = ctx;
  const auth = { onRequest: ctx.authenticate };
  app.patch(
    '/lessons/:id',
    {
      ...auth,
      schema: {
        tags: ['lessons'],
        summary:
          'Switch a lesson online or change its status (V1); the journal workflow replans at once',
        description:
          'Switching a lesson online is refused with a 409 and the reason in journals that have no ' +
          'calls (V1, C2): `callsNotAvailable` (not general-education) or `noSubjectChat`.',
        security: [{ bearer: [] }],
        params: lessonParams,
        body: lessonPatchBody,
        response: {
          200: lessonViewSchema,
          409: onlineRefusedSchema,
          ...errorReplies(...AUTH_ERRORS, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (principal === null) throw new ApiError('unauthorized', 'authentication required');
      const lesson = await roster.getLesson({
        schoolId: principal.schoolId,
        lessonId: request.params.id,
      });
      // A teacher learns nothing about lessons outside their journals: the same 403 either way.
      if (lesson === null && principal.kind === 'teacher')
        throw new ApiError('forbidden', 'not allowed');
      if (lesson === null) throw notFound('lesson');
      const { journal } = await requireJournalAccess(request, roster, lesson.journalId);
      const refused = request.body.online === true ? callsUnavailableReason(journal) : null;
      if (refused !== null)
        return reply.status(409).send({ accepted: false as const, reason: refused });
      const patch = {
        ...(request.body.online === undefined ? {} : { online: request.body.online }),
        ...(request.body.status === undefined ? {} : { status: request.body.status }),
      };
      const updated = await roster.updateLesson({
        schoolId: principal.schoolId,
        lessonId: lesson.id,
        patch,
      });
      if (updated === null) throw notFound('lesson');
      try {
        await gateway.lessonsChanged({
          schoolId: principal.schoolId,
          journalId: journal.id,
          lessonIds: [lesson.id],
        });
      } catch (error) {
        request.log.warn(
          { err: error, journalId: journal.id },
          'lesson saved but the journal workflow was not signalled',
        );
        throw new ApiError(
          'unavailable',
          'the lesson was saved, but the call schedule could not be updated; repeat the request',
        );
      }
      return viewLesson(updated, await roster.listTemplates(principal.schoolId));
    },
  );
}
