import type { Db } from 'mongodb';
import {
  applyVkLinkEvent,
  importChangeSet,
  importSnapshot,
  type RosterEvents,
} from '../store/roster-import';
import { createRosterStore } from '../store/roster-store';
import { createSyncStore } from '../store/sync-store';
import type { WorkflowGateway } from '../client/workflow-gateway';
import type { PlanPort, RosterPort } from './ports';

/** The API's roster port over the MongoDB roster store; imports signal the school's sync workflow. */
export function createRosterPort({
  db,
  gateway,
}: {
  db: Db;
  gateway: WorkflowGateway;
}): RosterPort {
  const store = createRosterStore({ db });
  const events: RosterEvents = { rosterChanged: (args) => gateway.rosterChanged(args) };
  return {
    getSchool: (schoolId) => store.getSchool(schoolId),
    getJournal: (args) => store.getJournal(args),
    listLessons: (args) => store.listLessons(args),
    getLesson: (args) => store.getLesson(args),
    updateLesson: (args) => store.updateLesson(args),
    listTemplates: (schoolId) => store.listTemplates(schoolId),
    loadRoster: (schoolId) => store.loadRoster(schoolId),
    importSnapshot: ({ input }) => importSnapshot({ db, input, events }),
    importChangeSet: ({ input }) => importChangeSet({ db, input, events }),
    applyVkLinkEvent: ({ schoolId, input }) => applyVkLinkEvent({ db, schoolId, input, events }),
  };
}

/** Plans as the sync stores them, with dates as ISO strings for the wire. */
export function createPlanPort({ db }: { db: Db }): PlanPort {
  const store = createSyncStore(db);
  return {
    async getPlan({ schoolId, planId }) {
      const plan = await store.getPlan(schoolId, planId);
      if (plan === null) return null;
      const { _id, createdAt, ...rest } = plan;
      return { planId: _id, ...rest, createdAt: createdAt.toISOString() };
    },
    async approve({ schoolId, planId, approvedBy }) {
      if (await store.approvePlan(schoolId, planId, approvedBy)) return 'approved';
      return (await store.getPlan(schoolId, planId)) === null ? 'missing' : 'notHeld';
    },
  };
}
