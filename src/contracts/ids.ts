/**
 * The one place workflow IDs and per-school record keys are made. Operators type workflow IDs into
 * the Web UI, so they stay short, readable and free of personal data (the school system's opaque
 * IDs only). The school system's IDs are unique only within one school, so everything kept per
 * journal or lesson carries its school too; `@` and `/` cannot occur in those IDs
 * (contracts/roster.ts), so no two (school, ID) pairs make the same key.
 */
/** The workflow types the worker registers (workflows/index.ts), as clients and queries name them. */
export const SCHOOL_SYNC_WORKFLOW = 'schoolSyncWorkflow';
export const JOURNAL_CALLS_WORKFLOW = 'journalCallsWorkflow';
export const DIARY_DELIVERY_WORKFLOW = 'diaryDeliveryWorkflow';
export const PLATFORM_EVENTS_WORKFLOW = 'platformEventsWorkflow';

export const workflowIds = {
  schoolSync: (schoolId: string): string => `school-sync-${schoolId}`,
  journalCalls: ({ schoolId, journalId }: JournalRef): string =>
    `journal-calls-${journalId}@${schoolId}`,
  /**
   * The ID journal workflows had before it carried the school. Their archived histories keep it,
   * and a worker hands a run still open under it over to its school-qualified successor.
   */
  legacyJournalCalls: (journalId: string): string => `journal-calls-${journalId}`,
  diaryDelivery: (schoolId: string): string => `diary-delivery-${schoolId}`,
  platformEvents: (schoolId: string): string => `platform-events-${schoolId}`,
  historyArchiver: (): string => 'history-archiver',
} as const;

/**
 * The journal a journal workflow ID names, under either form (the audit reads archived histories
 * of both); null for any other workflow.
 */
export function journalOfWorkflowId(workflowId: string): string | null {
  const prefix = 'journal-calls-';
  if (!workflowId.startsWith(prefix)) return null;
  const rest = workflowId.slice(prefix.length);
  const at = rest.lastIndexOf('@');
  return at === -1 ? rest : rest.slice(0, at);
}

export interface JournalRef {
  readonly schoolId: string;
  readonly journalId: string;
}

/** MongoDB `_id`s of per-school records that are keyed by a school system's ID. */
export const recordIds = {
  call: ({ schoolId, callKey }: { schoolId: string; callKey: string }): string =>
    `${schoolId}/${callKey}`,
  lessonLink: ({ schoolId, lessonId }: { schoolId: string; lessonId: string }): string =>
    `${schoolId}/${lessonId}`,
} as const;

export const TASK_QUEUE = 'sferum';
