import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Db } from 'mongodb';
import { journalOfWorkflowId } from '../contracts/ids';
import { addDays, zonedDateTimeToEpoch } from '../domain/time';
import { createRosterStore } from '../store/roster-store';
import { createDiaryOutbox } from '../store/diary-outbox';
import { createHistoryArchive } from '../store/history-archive';
import { journalRunsQuery } from '../client/archive-histories';
import { replayBuild } from './replay-build';
import type { PoolInput } from './replay-pool';
import { auditReplays } from './stored-replays';
import { explainLessons, type AuditRow } from './explain';
import type { Incident } from './incidents';
import {
  outcomeOf,
  replayEach,
  type ReplayFailure,
  type ReplayInput,
  type ReplayOutcome,
  type ReplayWorkflowSource,
  type RunReplay,
} from './replay-runs';

export type { ReplayFailure, ReplayInput, ReplayOutcome, ReplayWorkflowSource };

export type AuditProgress = (done: number, total: number) => void;

/**
 * Replays histories in this process with the decision sink enabled during replay, so the
 * decisions come from the code that made them, and reports each history that no longer replays.
 * Histories are consumed lazily, one at a time: an audit of thousands of runs never holds them all.
 */
export async function replayDecisions(args: {
  workflows: ReplayWorkflowSource;
  histories: AsyncIterable<ReplayInput> | Iterable<ReplayInput>;
  total?: number;
  onProgress?: AuditProgress;
}): Promise<ReplayOutcome> {
  const runs: RunReplay[] = [];
  for await (const run of replayEach(args)) {
    runs.push(run);
    args.onProgress?.(runs.length, args.total ?? runs.length);
  }
  return outcomeOf(runs);
}

export interface AuditReport {
  readonly schoolId: string;
  readonly journalId: string | null;
  readonly from: string;
  readonly to: string;
  readonly timeZone: string;
  readonly rows: AuditRow[];
  /** Outages inside the range, oldest first, with their reasons. */
  readonly incidents: Incident[];
  readonly histories: number;
  /** Of the histories, those answered from their stored replay by this build, not replayed now. */
  readonly storedReplays: number;
  readonly failures: ReplayFailure[];
}

/** Run-time slack around the date range: a lesson is planned the day before and ended after it. */
const SLACK_DAYS = 2;

function datesBetween(from: string, to: string): string[] {
  const dates: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) dates.push(d);
  return dates;
}

/**
 * The audit: which online lessons of a school (or one journal) between two dates got a call, how
 * it started and ended, and why the others got none. Reads the history archive; with a client it
 * also takes open runs fresh from the server (their archived copy may be a pass behind).
 */
export async function runAudit(args: {
  db: Db;
  client?: Client;
  schoolId: string;
  journalId?: string;
  from: string;
  to: string;
  workflows: ReplayWorkflowSource;
  onProgress?: AuditProgress;
}): Promise<AuditReport> {
  const { db, schoolId, from, to } = args;
  if (to < from) throw new RangeError(`the range ends (${to}) before it starts (${from})`);
  const roster = createRosterStore({ db });
  const school = await roster.getSchool(schoolId);
  const timeZone = school?.timeZone ?? 'Europe/Moscow';
  const rangeStart = zonedDateTimeToEpoch({
    date: addDays(from, -SLACK_DAYS),
    time: '00:00',
    timeZone,
  });
  const rangeEnd = zonedDateTimeToEpoch({ date: addDays(to, SLACK_DAYS), time: '00:00', timeZone });

  const archive = createHistoryArchive(db);
  const runs = await archive.list({
    schoolId,
    ...(args.journalId ? { journalId: args.journalId } : {}),
    from: new Date(rangeStart),
    to: new Date(rangeEnd),
  });
  const fresh = args.client
    ? await openRunsFromServer({
        client: args.client,
        schoolId,
        journalId: args.journalId,
        archivedOpen: runs.filter((r) => !r.closed),
      })
    : new Map<string, PoolInput>();
  const archivedKeys = new Set(runs.map((r) => `${r.workflowId}/${r.runId}`));
  const extra = [...fresh.values()].filter((r) => !archivedKeys.has(`${r.workflowId}/${r.runId}`));
  const { outcome, stored } = await auditReplays({
    archive,
    build: await replayBuild(args.workflows),
    runs,
    fresh,
    extra,
    ...(args.onProgress ? { onProgress: args.onProgress } : {}),
  });

  const journalIds = args.journalId
    ? [args.journalId]
    : ((await roster.loadRoster(schoolId))?.journals.map((j) => j.id) ?? []);
  const dates = datesBetween(from, to);
  const lessons = (
    await Promise.all(
      journalIds.map((journalId) => roster.listLessons({ schoolId, journalId, dates })),
    )
  ).flat();
  const templates = await roster.listTemplates(schoolId);
  const decisions = [...outcome.decisions.values()].flat();
  const rangeOpen = zonedDateTimeToEpoch({ date: from, time: '00:00', timeZone });
  const rangeClose = zonedDateTimeToEpoch({ date: addDays(to, 1), time: '00:00', timeZone });
  const incidents = outcome.incidents
    .filter((i) => i.at >= rangeOpen && i.at < rangeClose)
    .sort((a, b) => a.at - b.at);
  return {
    schoolId,
    journalId: args.journalId ?? null,
    from,
    to,
    timeZone,
    rows: await withDiary(
      db,
      schoolId,
      explainLessons({ lessons, templates, timeZone, decisions, incidents }),
    ),
    incidents,
    histories: outcome.replayed,
    storedReplays: stored,
    failures: outcome.failures,
  };
}

/**
 * Open runs as the server has them now. Lists them through visibility; a server without it (the
 * time-skipping test server) still refreshes the archived open runs by their IDs.
 */
async function openRunsFromServer(args: {
  client: Client;
  schoolId: string;
  journalId: string | undefined;
  archivedOpen: readonly { workflowId: string; runId: string }[];
}): Promise<Map<string, PoolInput>> {
  const wanted: { workflowId: string; runId: string }[] = [...args.archivedOpen];
  try {
    const query = `${journalRunsQuery(args.schoolId)} AND ExecutionStatus = 'Running'`;
    for await (const info of args.client.workflow.list({ query })) {
      if (args.journalId && journalOfWorkflowId(info.workflowId) !== args.journalId) continue;
      wanted.push({ workflowId: info.workflowId, runId: info.runId });
    }
  } catch {
    // No visibility on this server: the archived open runs are all we know of.
  }
  const fresh = new Map<string, PoolInput>();
  for (const { workflowId, runId } of wanted) {
    const key = `${workflowId}/${runId}`;
    if (fresh.has(key)) continue;
    try {
      const history = await args.client.workflow.getHandle(workflowId, runId).fetchHistory();
      fresh.set(key, { workflowId, runId, json: historyToJSON(history) });
    } catch {
      // Gone from the server (closed and past retention): the archived copy stands.
    }
  }
  return fresh;
}

/** V4: each lesson's link as the e-diary got it: the delivery of its publication (or change). */
async function withDiary(db: Db, schoolId: string, rows: AuditRow[]): Promise<AuditRow[]> {
  const events = await createDiaryOutbox(db).linkEventsOf({
    schoolId,
    lessonIds: rows.filter((r) => r.started).map((r) => r.lessonId),
  });
  const published = new Map(
    events
      .filter((e) => e.event.kind !== 'linkWithdrawn')
      .map((e) => [e.event.lessonId, e.delivery]),
  );
  return rows.map((row) => {
    const d = published.get(row.lessonId);
    return d
      ? {
          ...row,
          diary: {
            state: d.state,
            lastError: d.lastError,
            failingSince: d.failingSince?.getTime() ?? null,
            deliveredAt: d.deliveredAt?.getTime() ?? null,
          },
        }
      : row;
  });
}
