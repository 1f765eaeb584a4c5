import type { School } from '../contracts/roster';
import type { PlannerRoster } from '../domain/chat-plan';
import type { RosterWarning } from '../domain/roster-issues';
import type { RosterStore } from '../store/roster-store';

/**
 * What the HTTP API needs from the roster and the plan stores. The API depends on these small
 * ports rather than on the stores' full surface, so the stores can grow without touching the
 * routes, and the adapters in `roster-port.ts` are the one place that knows their signatures.
 */

export interface ImportOutcome {
  /** Identifies this import in provenance and in the `rosterChanged` signal. */
  readonly changeId: string;
  /** The roster version readers now see. */
  readonly version: number;
  /** Records written or removed per collection; numbers only, never personal data. */
  readonly counts: Readonly<Record<string, number>>;
  /** What the import accepted but changed or left out, by path; IDs only, never names. */
  readonly warnings: readonly RosterWarning[];
}

/** The roster store's reads and lesson switch, under the store's own signatures, plus the imports. */
export interface RosterPort extends Pick<
  RosterStore,
  'getSchool' | 'getJournal' | 'listLessons' | 'getLesson' | 'updateLesson' | 'listTemplates'
> {
  /** The parts of the roster the chat planner reads, for the school page's "no VK ID" lists. */
  loadRoster(schoolId: string): Promise<(PlannerRoster & { readonly school: School }) | null>;
  /**
   * Validates and applies; bad input throws TypedError InvalidInput with `details.errors`, and
   * nothing is written. The port emits `rosterChanged` itself once the data is in place.
   */
  importSnapshot(args: { input: unknown }): Promise<ImportOutcome>;
  importChangeSet(args: { input: unknown }): Promise<ImportOutcome>;
  applyVkLinkEvent(args: { schoolId: string; input: unknown }): Promise<ImportOutcome>;
}

export interface PlanPort {
  /** A stored plan as readable JSON (IDs and counts, no names), or null. */
  getPlan(args: { schoolId: string; planId: string }): Promise<Record<string, unknown> | null>;
  /**
   * Marks a held plan approved in the store, which is what the sync's planning activity applies
   * once the workflow accepts the approval. `missing` when there is no such plan, `notHeld` when
   * it was never held (or was already applied).
   */
  approve(args: {
    schoolId: string;
    planId: string;
    approvedBy: string;
  }): Promise<'approved' | 'missing' | 'notHeld'>;
}
