import { createHash } from 'node:crypto';
import type { Journal, Lesson, Template } from '../../src/contracts/roster';
import type { SyncActivities } from '../../src/contracts/sync-activities';
import { mapInLanes } from '../../src/domain/lanes';
import type { RosterStore } from '../../src/store/roster-store';
import type { SettingsStore } from '../../src/store/settings-store';
import type { SyncStore } from '../../src/store/sync-store';
import type { WorkflowGateway } from '../../src/client/workflow-gateway';

/** Journal workflows started or signalled at once after a run. */
const JOURNAL_LANES = 8;

export interface JournalsDeps {
  readonly roster: Pick<
    RosterStore,
    'getState' | 'getSchool' | 'listJournals' | 'listSchoolLessons' | 'listTemplates'
  >;
  readonly settings: Pick<SettingsStore, 'getPublic'>;
  readonly sync: Pick<SyncStore, 'getJournalsNotified' | 'setJournalsNotified'>;
  readonly gateway: Pick<
    WorkflowGateway,
    'ensureJournalCalls' | 'lessonsChanged' | 'ensurePlatformEvents'
  >;
}

/** `ensureJournalWorkflows`: every subject-chat journal has its calls workflow, re-planned on change. */
export function createEnsureJournalWorkflows(
  deps: JournalsDeps,
): SyncActivities['ensureJournalWorkflows'] {
  const { sync } = deps;
  return async ({ schoolId }) => {
    // Without settings no call can be made; the run after the first save brings them up.
    if (!(await deps.settings.getPublic(schoolId))) return { journals: 0 };
    // The school's platform events listener comes up with its journals (V5, C3), if it is not up.
    await deps.gateway.ensurePlatformEvents({ schoolId });
    const state = await deps.roster.getState(schoolId);
    const journals = (await deps.roster.listJournals(schoolId)).filter(
      (j) => j.subjectChat && j.kind === 'general',
    );
    // A new roster version may have published, moved or switched lessons: a journal whose
    // lessons, timetable entries or own record changed in it re-plans once (lessonsChanged).
    // The others, and every journal while the version stays, get a plain start that adopts the
    // running workflow without waking it: a change set about one student wakes no journal.
    const notified = await sync.getJournalsNotified(schoolId);
    const rosterMoved = state !== null && state.version !== notified?.version;
    const fingerprints = rosterMoved
      ? journalFingerprints({
          journals,
          timeZone: (await deps.roster.getSchool(schoolId))?.timeZone ?? null,
          lessons: await deps.roster.listSchoolLessons(schoolId),
          templates: await deps.roster.listTemplates(schoolId),
        })
      : null;
    const replan = (journalId: string): boolean =>
      fingerprints !== null && notified?.fingerprints[journalId] !== fingerprints[journalId];
    const ensure = async (journalId: string): Promise<void> => {
      if (replan(journalId)) await deps.gateway.lessonsChanged({ schoolId, journalId });
      else await deps.gateway.ensureJournalCalls({ schoolId, journalId });
    };
    // A few at a time: each is a round trip to the Temporal server, and a school has a hundred.
    await mapInLanes(journals, JOURNAL_LANES, (journal) => ensure(journal.id));
    if (rosterMoved && fingerprints) {
      await sync.setJournalsNotified(schoolId, { version: state.version, fingerprints });
    }
    return { journals: journals.length };
  };
}

/**
 * Per journal, a digest of what its calls workflow plans from (`loadJournalContext`): the school's
 * time zone, the journal, its lessons and the templates with its entries. Nothing else in a roster
 * changes a journal's calls, so a journal whose digest stayed needs no re-plan.
 */
export function journalFingerprints(inputs: {
  readonly journals: readonly Journal[];
  readonly timeZone: string | null;
  readonly lessons: readonly Lesson[];
  readonly templates: readonly Template[];
}): Record<string, string> {
  const lessonsOf = new Map<string, Lesson[]>();
  const byId = [...inputs.lessons].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const lesson of byId) {
    const list = lessonsOf.get(lesson.journalId);
    if (list) list.push(lesson);
    else lessonsOf.set(lesson.journalId, [lesson]);
  }
  const fingerprints: Record<string, string> = {};
  for (const journal of inputs.journals) {
    const planInputs = {
      timeZone: inputs.timeZone,
      journal,
      lessons: lessonsOf.get(journal.id) ?? [],
      templates: inputs.templates.map((t) => ({
        ...t,
        entries: t.entries.filter((e) => e.journalId === journal.id),
      })),
    };
    fingerprints[journal.id] = createHash('sha256')
      .update(JSON.stringify(planInputs))
      .digest('base64url');
  }
  return fingerprints;
}
