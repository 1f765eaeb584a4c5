import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ReplayInput } from '../../src/audit/replay-runs';
import type { FixtureEntry } from './record-fixtures';

/** The committed histories (test/fixtures/histories) as JSON text, with their manifest entries. */
export const FIXTURES = resolve(__dirname, '..', 'fixtures', 'histories');

export interface FixtureHistory {
  readonly entry: FixtureEntry;
  readonly json: string;
}

export async function fixtureHistories(
  filter: (entry: FixtureEntry) => boolean = () => true,
): Promise<FixtureHistory[]> {
  const manifest = JSON.parse(
    await readFile(join(FIXTURES, 'manifest.json'), 'utf8'),
  ) as FixtureEntry[];
  const out: FixtureHistory[] = [];
  for (const entry of manifest.filter(filter))
    out.push({ entry, json: await readFile(join(FIXTURES, entry.file), 'utf8') });
  return out;
}

export function asInput(workflowId: string, runId: string, json: string): ReplayInput {
  return { workflowId, runId, history: JSON.parse(json) as unknown };
}

/**
 * The history with its first scheduled activity renamed: the code schedules another activity
 * there, which the replay must report as nondeterminism (what a changed workflow would do).
 */
export function tampered(json: string): string {
  const history = JSON.parse(json) as {
    events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[];
  };
  const scheduled = history.events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType,
  );
  const type = scheduled?.activityTaskScheduledEventAttributes?.activityType;
  if (!type) throw new Error('the history schedules no activity');
  type.name = `${type.name ?? ''}Renamed`;
  return JSON.stringify(history);
}

/** The history as if the run had been terminated after its last event: a closed run to archive. */
export function closedCopy(json: string): string {
  const history = JSON.parse(json) as {
    events: { eventId: string | number; eventTime?: string }[];
  };
  const last = history.events[history.events.length - 1];
  if (!last) throw new Error('an empty history');
  history.events.push({
    eventId: String(Number(last.eventId) + 1),
    ...(last.eventTime ? { eventTime: last.eventTime } : {}),
    eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED',
    workflowExecutionTerminatedEventAttributes: { reason: 'closed for the test', identity: 'test' },
  } as { eventId: string; eventTime?: string });
  return JSON.stringify(history);
}
