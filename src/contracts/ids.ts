/**
 * The one place workflow IDs are made. Operators type these into the Web UI, so they stay short,
 * readable and free of personal data (the school system's opaque IDs only).
 */
export const workflowIds = {
  schoolSync: (schoolId: string): string => `school-sync-${schoolId}`,
  journalCalls: (journalId: string): string => `journal-calls-${journalId}`,
  historyArchiver: (): string => 'history-archiver',
  hello: (name: string): string => `hello-${name}`,
} as const;

export const TASK_QUEUE = 'sferum';
