import type { Db, Document } from 'mongodb';
import {
  schoolSchema,
  type Journal,
  type Lesson,
  type LessonStatus,
  type PersonKind,
  type RosterSnapshot,
  type School,
  type Template,
} from '../contracts/roster';
import { hiddenFields, parseStored, personCollections, rosterDb } from './roster-docs';
import {
  getSchool,
  getState,
  lessonsAt,
  loadRosterWithState,
  readAll,
  readOne,
  templatesAt,
  type RosterState,
} from './roster-reads';
import { editInPlace, replaceRoster, type ReplaceRosterArgs } from './roster-writes';

/**
 * The roster in MongoDB, written as versioned snapshots so an import never leaves a half-written
 * roster, without multi-document transactions (FerretDB has none):
 *
 * - every roster document carries `{ schoolId, version }`; readers only see the version named by
 *   `schools.currentVersion`;
 * - an import takes a fresh version number, writes all of its documents, then flips
 *   `currentVersion` with one single-document compare-and-set on the version it started from;
 * - after the flip every older version of the school is deleted, which also sweeps the leftovers
 *   of an import that died half-way (they carry a version that never became current).
 *
 * Small in-place edits (a lesson's online switch, a VK ID link) touch the current version's
 * document and then bump `schools.revision` with a compare-and-set on the same version. If an
 * import flipped meanwhile the edit is redone on the new version; a change set built from the
 * roster before the edit refuses to flip because the revision moved. So an edit is only ever
 * overwritten by a full snapshot that flips after it, and a snapshot is the school system's word.
 *
 * Reading a whole roster record by record is slow on FerretDB's SQLite backend (no filter
 * pushdown: some 65 µs per document, a quarter of a second for a large school), and every sync
 * run and change set reads it whole. So each version is also kept packed, in one gzip-compressed
 * document of `roster_snapshots`, tagged with how many in-place edits it includes. The records
 * stay the source of truth: a packed copy is used only while `schools.versionEdits` (in-place
 * edits since the flip) equals its tag, and a reader that had to read the records packs them again.
 */

export {
  ROSTER_SNAPSHOTS,
  SCHOOLS,
  ensureRosterIndexes,
  rosterCollectionNames,
} from './roster-docs';
export type { RosterState } from './roster-reads';
export type { ReplaceRosterArgs, WriteProgress } from './roster-writes';

export interface JournalPlanInputs {
  readonly school: School;
  readonly journal: Journal | null;
  readonly lessons: Lesson[];
  readonly templates: Template[];
}

export interface RosterStore {
  getSchool(schoolId: string): Promise<School | null>;
  getState(schoolId: string): Promise<RosterState | null>;
  /** The whole current roster, every document validated; null before the first import. */
  loadRoster(schoolId: string): Promise<RosterSnapshot | null>;
  /** The current version's journals only: cheaper than the whole roster when that is all it takes. */
  listJournals(schoolId: string): Promise<Journal[]>;
  /** Every lesson of the current version, all journals and dates. */
  listSchoolLessons(schoolId: string): Promise<Lesson[]>;
  /** The roster and the state it was read at, for building a change set on top of it. */
  loadRosterWithState(
    schoolId: string,
  ): Promise<{ snapshot: RosterSnapshot; state: RosterState } | null>;
  getJournal(args: { schoolId: string; journalId: string }): Promise<Journal | null>;
  /** The journal's lessons on the given dates, by date and lesson number. */
  listLessons(args: {
    schoolId: string;
    journalId: string;
    dates: readonly string[];
  }): Promise<Lesson[]>;
  getLesson(args: { schoolId: string; lessonId: string }): Promise<Lesson | null>;
  listTemplates(schoolId: string): Promise<Template[]>;
  /**
   * What a journal's calls are planned from, read at one roster version: the school, the journal
   * (null if the roster has no such journal), its lessons on the dates `dates` picks in the
   * school's time zone, and the school's templates. Null before the school's first import.
   */
  journalPlanInputs(args: {
    schoolId: string;
    journalId: string;
    dates: (timeZone: string) => readonly string[];
  }): Promise<JournalPlanInputs | null>;
  /**
   * The template that governs the journal: one with an entry for it (preferring those sent to the
   * portal, then the latest start), else the portal template so V7 can say what it lacks.
   */
  getTemplateForJournal(args: { schoolId: string; journalId: string }): Promise<Template | null>;
  /** Switches a lesson online or changes its status in place; null if there is no such lesson. */
  updateLesson(args: {
    schoolId: string;
    lessonId: string;
    patch: { online?: boolean; status?: LessonStatus };
  }): Promise<Lesson | null>;
  /** Links (a number) or unlinks (null) a person's VK ID in place; null if there is no such person. */
  setPersonVkId(args: {
    schoolId: string;
    personKind: PersonKind;
    personId: string;
    vkId: number | null;
  }): Promise<{ previousVkId: number | null } | null>;
  /** Writes a new version and makes it current; returns the version it replaced. */
  replaceRoster(
    args: ReplaceRosterArgs,
  ): Promise<{ version: number; previousVersion: number | null }>;
}

export function createRosterStore({ db }: { db: Db }): RosterStore {
  const ctx = rosterDb(db);
  return {
    getSchool: (schoolId) => getSchool(ctx, schoolId),
    getState: (schoolId) => getState(ctx, schoolId),
    loadRosterWithState: (schoolId) => loadRosterWithState(ctx, schoolId),
    async loadRoster(schoolId) {
      return (await loadRosterWithState(ctx, schoolId))?.snapshot ?? null;
    },
    async listJournals(schoolId) {
      const state = await getState(ctx, schoolId);
      return state ? readAll(ctx, 'journals', schoolId, state.version) : [];
    },
    async listSchoolLessons(schoolId) {
      const state = await getState(ctx, schoolId);
      return state ? readAll(ctx, 'lessons', schoolId, state.version) : [];
    },
    getJournal: ({ schoolId, journalId }) => readOne(ctx, 'journals', schoolId, { id: journalId }),
    getLesson: ({ schoolId, lessonId }) => readOne(ctx, 'lessons', schoolId, { id: lessonId }),
    async listLessons({ schoolId, journalId, dates }) {
      const state = await getState(ctx, schoolId);
      return state ? lessonsAt(ctx, { schoolId, version: state.version, journalId, dates }) : [];
    },
    async listTemplates(schoolId) {
      const state = await getState(ctx, schoolId);
      return state ? templatesAt(ctx, schoolId, state.version) : [];
    },
    async journalPlanInputs({ schoolId, journalId, dates }) {
      const doc = await ctx.schools.findOne({ _id: schoolId });
      if (typeof doc?.currentVersion !== 'number') return null;
      const version = doc.currentVersion;
      const school = schoolSchema.parse({ id: doc._id, name: doc.name, timeZone: doc.timeZone });
      const [journal, lessons, templates] = await Promise.all([
        ctx
          .col('journals')
          .findOne({ schoolId, version, id: journalId }, { projection: hiddenFields })
          .then((found) => (found ? parseStored('journals', found) : null)),
        lessonsAt(ctx, { schoolId, version, journalId, dates: dates(school.timeZone) }),
        templatesAt(ctx, schoolId, version),
      ]);
      return { school, journal, lessons, templates };
    },
    async getTemplateForJournal({ schoolId, journalId }) {
      const state = await getState(ctx, schoolId);
      if (!state) return null;
      const templates = await readAll(ctx, 'templates', schoolId, state.version);
      const rank = (t: Template): [number, string] => [t.sendToPortal ? 1 : 0, t.validFrom ?? ''];
      const better = (a: Template, b: Template): number => {
        const [pa, fa] = rank(a);
        const [pb, fb] = rank(b);
        return pb - pa || (fb < fa ? -1 : fb > fa ? 1 : 0);
      };
      const withJournal = templates
        .filter((t) => t.entries.some((e) => e.journalId === journalId))
        .sort(better);
      return withJournal[0] ?? templates.filter((t) => t.sendToPortal).sort(better)[0] ?? null;
    },
    async updateLesson({ schoolId, lessonId, patch }) {
      const set: Document = {};
      if (patch.online !== undefined) set.online = patch.online;
      if (patch.status !== undefined) set.status = patch.status;
      if (Object.keys(set).length === 0) return readOne(ctx, 'lessons', schoolId, { id: lessonId });
      const edited = await editInPlace(ctx, 'lessons', schoolId, lessonId, set);
      return edited?.after ?? null;
    },
    async setPersonVkId({ schoolId, personKind, personId, vkId }) {
      const edited = await editInPlace(ctx, personCollections[personKind], schoolId, personId, {
        vkId,
      });
      return edited ? { previousVkId: edited.before.vkId } : null;
    },
    replaceRoster: (args) => replaceRoster(ctx, args),
  };
}
