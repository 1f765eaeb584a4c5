/** What one pass of the history archiver did (workflows/archiver.ts, activities/archive.ts). */
export interface ArchiveSummary {
  readonly archived: number;
  readonly unchanged: number;
  readonly failed: number;
  /** Closed runs replayed by this pass and their replay stored (src/audit/stored-replays.ts). */
  readonly replayed?: number;
  /** Of those, runs that no longer replay against this build. */
  readonly replayFailed?: number;
  /** Closed runs still without a replay by this build, for the next pass. */
  readonly replayPending?: number;
}

export interface ArchiveActivities {
  /** Copies every journal workflow run the server still holds into MongoDB (idempotent). */
  archiveHistories(args: { schoolId?: string }): Promise<ArchiveSummary>;
}
