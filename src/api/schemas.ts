import { z } from 'zod';
import { refusalReasons } from './call-texts';
import { idSchema, lessonSchema, lessonStatuses } from '../contracts/roster';
import { publicSchoolSettingsSchema } from '../contracts/settings';
import {
  heldPlanSchema,
  runSummarySchema,
  syncBlockSchema,
  syncPeriodSchema,
} from '../contracts/sync-records';
import { rosterWarningCodes } from '../domain/roster-issues';
import { gridGapKinds, templateDefects } from '../domain/template-check';

/**
 * Reply and parameter schemas of the HTTP API. They are the wire form: dates are ISO strings or
 * epoch milliseconds, and nothing here can hold a secret (the settings reply has only flags).
 */

export const schoolParams = z.object({ id: idSchema });
export const journalParams = z.object({ id: idSchema });
export const lessonParams = z.object({ id: idSchema });
export const planParams = z.object({ id: idSchema, planId: idSchema });

export const okSchema = z.object({ ok: z.literal(true) });

export const callsUnavailableSchema = z.enum(['callsNotAvailable', 'noSubjectChat']);

const callActorSchema = z.union([z.literal('auto'), z.object({ staffId: z.string() })]);

export const runningCallSchema = z
  .object({
    lessonId: z.string(),
    lessonIds: z.array(z.string()),
    joinLink: z.string(),
    startedAt: z.number(),
    startedBy: callActorSchema,
    autoEndAt: z.number().nullable(),
  })
  .meta({ id: 'RunningCall' });

/** V4: where the e-diary stands with a lesson's link: its latest event and that event's delivery. */
export const diaryLinkSchema = z
  .object({
    lessonId: z.string(),
    kind: z.enum(['linkPublished', 'linkChanged', 'linkWithdrawn']),
    /** `feedOnly`: the school has no webhook; the portal reads the feed. */
    state: z.enum(['pending', 'delivered', 'failing', 'rejected', 'feedOnly']),
    lastError: z.string().nullable(),
    failingSince: z.number().nullable(),
    deliveredAt: z.number().nullable(),
  })
  .meta({ id: 'DiaryLink' });

export const journalCallStateSchema = z
  .object({
    journalId: z.string(),
    /** False until the journal's workflow has started (on its first message). */
    workflowStarted: z.boolean(),
    running: runningCallSchema.nullable(),
    next: z
      .object({ kind: z.enum(['start', 'end', 'carryOver']), lessonId: z.string(), at: z.number() })
      .nullable(),
    manualOnly: z
      .object({
        reasons: z.array(z.enum(templateDefects)),
        /** V7: the lesson numbers whose grid rows lack times, and what each lacks. */
        gridGaps: z.array(z.object({ number: z.number(), lacks: z.enum(gridGapKinds) })),
      })
      .nullable(),
    callsUnavailable: callsUnavailableSchema.nullable().meta({
      description:
        'V1, C2: set when the journal has no online switch and no calls (not general-education, or no subject chat).',
    }),
    warnings: z
      .array(
        z.object({
          kind: z.literal('earlierUnpublished'),
          skippedLessonId: z.string(),
          chosenLessonId: z.string(),
        }),
      )
      .meta({
        description:
          "V3: an earlier online lesson left unpublished while a later one got the call; kept while that call runs and until the school day's end.",
      }),
    diary: z.array(diaryLinkSchema).meta({
      description:
        "V4: whether the e-diary has the running call's link, per lesson of the call (empty with no call).",
    }),
    tooLateForAutoStart: z.array(z.string()).meta({
      description:
        "V2: today's online lessons published (or switched online) more than 20 min after their start: no automatic start, start them by hand.",
    }),
    endFailure: z
      .object({
        lessonId: z.string(),
        lessonIds: z.array(z.string()),
        error: z.string(),
        failures: z.number(),
        retryAt: z.number().nullable(),
        gaveUp: z.boolean(),
      })
      .nullable()
      .meta({
        description:
          'V5: the automatic end failed: retried at `retryAt` (growing pauses up to 15 min); `gaveUp` once the journal took the call as over (its day ended, or the next lesson was due).',
      }),
    lastEnded: z
      .object({
        lessonId: z.string(),
        lessonIds: z.array(z.string()),
        endedBy: z.enum(['auto', 'teacher', 'platform']),
        at: z.number(),
      })
      .nullable()
      .meta({
        description:
          'V5: how the last call ended: `platform` when it was ended in Sferum (the platform told us), `teacher` by the button, `auto` at its automatic end.',
      }),
    lastError: z.string().nullable(),
  })
  .meta({ id: 'JournalCallState' });

/** V1, C2: the online switch refused, with the reason. */
export const onlineRefusedSchema = z
  .object({ accepted: z.literal(false), reason: callsUnavailableSchema })
  .meta({ id: 'OnlineSwitchRefused' });

export const startCallBody = z.strictObject({ lessonId: idSchema });

/** A route that takes no body accepts none or `{}`; anything inside is an unknown field. */
export const noBody = z.strictObject({}).nullish();

export const startAcceptedSchema = z
  .object({
    accepted: z.literal(true),
    lessonId: z.string(),
    joinLink: z.string(),
    linkPublished: z.boolean(),
  })
  .meta({ id: 'StartCallAccepted' });

export const endAcceptedSchema = z
  .object({ accepted: z.literal(true), lessonId: z.string(), alreadyEnded: z.boolean() })
  .meta({ id: 'EndCallAccepted' });

export const refusedSchema = z
  .object({
    accepted: z.literal(false),
    reason: z.enum(refusalReasons),
    /** The lesson whose call is running, when that is why the start was refused (V3). */
    runningLessonId: z.string().optional(),
  })
  .meta({ id: 'CallRefused' });

export const lessonViewSchema = lessonSchema
  .extend({
    /** Wall-clock times in the school's zone, from the timetable grid; null when it has none. */
    start: z.string().nullable(),
    end: z.string().nullable(),
  })
  .meta({ id: 'Lesson' });

export const journalLessonsSchema = z
  .object({
    journalId: z.string(),
    subject: z.string(),
    subjectChat: z.boolean(),
    /** V1, C2: why the journal has no online switch and no calls; null when it has them. */
    callsUnavailable: callsUnavailableSchema.nullable(),
    timeZone: z.string(),
    today: z.string(),
    tomorrow: z.string(),
    lessons: z.array(lessonViewSchema),
  })
  .meta({ id: 'JournalLessons' });

export const lessonPatchBody = z
  .object({ online: z.boolean().optional(), status: z.enum(lessonStatuses).optional() })
  .strict()
  .refine((p) => p.online !== undefined || p.status !== undefined, {
    error: 'give online, status, or both',
    path: ['online'],
  });

export const publicSettingsSchema = publicSchoolSettingsSchema.meta({ id: 'SchoolSettings' });

export const importOutcomeSchema = z
  .object({
    changeId: z.string(),
    version: z.number(),
    counts: z.record(z.string(), z.number()),
    /** Accepted but changed or left out: a moved subgroup student (C3), an impossible online switch (V1). */
    warnings: z
      .array(z.object({ code: z.enum(rosterWarningCodes), path: z.string(), message: z.string() }))
      .readonly(),
  })
  .meta({ id: 'ImportOutcome' });

export const runIdSchema = z.object({ runId: z.string() });

export const approveResultSchema = z.union([
  z.object({ accepted: z.literal(true), runId: z.string() }),
  z.object({ accepted: z.literal(false), reason: z.string() }),
]);

export const planSchema = z.looseObject({}).meta({
  id: 'Plan',
  description: 'A stored sync plan: chats, member and admin changes, skipped people, by ID.',
});

export const syncStatusSchema = z
  .object({
    schoolId: z.string(),
    workflowStarted: z.boolean(),
    period: syncPeriodSchema.nullable(),
    state: z.enum(['idle', 'running', 'held', 'blocked']).nullable(),
    currentRunId: z.string().nullable(),
    lastRun: runSummarySchema.nullable(),
    nextRunAt: z.string().nullable(),
    heldPlan: heldPlanSchema.nullable(),
    lastError: z.string().nullable(),
    blocked: syncBlockSchema.nullable(),
    pendingChanges: z.number(),
  })
  .meta({ id: 'SyncStatus' });

export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.object({ mongodb: z.boolean(), temporal: z.boolean() }),
});
