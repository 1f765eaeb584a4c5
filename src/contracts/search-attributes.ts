import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, registered with the server at start (see src/dev/services.ts) so
 * operators can filter in the Web UI. Opaque IDs and states only: search attributes are stored
 * in plain text.
 */
export const SchoolIdKey = defineSearchAttributeKey('SchoolId', SearchAttributeType.KEYWORD);
export const JournalIdKey = defineSearchAttributeKey('JournalId', SearchAttributeType.KEYWORD);
export const CallStateKey = defineSearchAttributeKey('CallState', SearchAttributeType.KEYWORD);
export const NextActionAtKey = defineSearchAttributeKey(
  'NextActionAt',
  SearchAttributeType.DATETIME,
);
export const SyncStateKey = defineSearchAttributeKey('SyncState', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [
  SchoolIdKey,
  JournalIdKey,
  CallStateKey,
  NextActionAtKey,
  SyncStateKey,
] as const;
