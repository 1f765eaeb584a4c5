import { epochToZonedDate, formatZonedTime } from '../domain/time';
import { describeReason, type AuditRow } from './explain';
import { describeIncident, type Incident } from './incidents';
import type { AuditReport } from './replay-audit';

/**
 * The audit report in the three shapes the CLI and the API offer: a plain text table for people,
 * CSV for spreadsheets, JSON for programs. Opaque IDs only: lesson, journal and staff IDs, never
 * names, so a report can be passed around without leaking personal data.
 */
export type ReportFormat = 'text' | 'csv' | 'json';

const COLUMNS = [
  'date',
  'journal',
  'no',
  'lesson',
  'planned',
  'online',
  'status',
  'started',
  'ended',
  'missed',
  'cause',
  'diary',
] as const;

function cells(row: AuditRow, timeZone: string): Record<(typeof COLUMNS)[number], string> {
  const time = (at: number): string => formatZonedTime(at, timeZone);
  const late = (ms: number | null): string =>
    ms === null ? '' : ` (${Math.round(ms / 60_000)} min late)`;
  const started = row.started
    ? `${row.started.how === 'carriedOver' ? 'carried over' : row.started.how} ${time(row.started.at)}` +
      `${row.started.how === 'manual' ? ` by ${row.started.by}` : ''}${late(row.started.lateMs)}`
    : '';
  const ended = row.ended
    ? `${row.ended.how === 'inSferum' ? 'in Sferum' : row.ended.how} ${time(row.ended.at)}` +
      `${row.ended.how === 'manual' ? ` by ${row.ended.by}` : ''}${late(row.ended.lateMs)}`
    : '';
  return {
    date: row.date,
    journal: row.journalId,
    no: String(row.number),
    lesson: row.lessonId,
    planned: row.plannedStart && row.plannedEnd ? `${row.plannedStart}-${row.plannedEnd}` : '',
    online: row.online ? 'yes' : 'no',
    status: row.status,
    started,
    ended,
    missed: row.missed ? describeReason(row.missed) : '',
    cause: describeCauses(row.causes),
    diary: describeDiary(row.diary, time),
  };
}

/** V4: whether the e-diary got the link, and what the portal answered while it did not. */
function describeDiary(diary: AuditRow['diary'], time: (at: number) => string): string {
  if (diary === null) return '';
  switch (diary.state) {
    case 'delivered':
      return diary.deliveredAt === null ? 'delivered' : `delivered ${time(diary.deliveredAt)}`;
    case 'feedOnly':
      return 'in the feed (no webhook)';
    case 'rejected':
      return `rejected by the portal: ${diary.lastError ?? ''}`;
    case 'pending':
      return 'not delivered yet';
    case 'failing':
      return `diary not updated: ${diary.lastError ?? 'no answer'}${diary.failingSince === null ? '' : ` since ${time(diary.failingSince)}`}`;
  }
}

/** A start the workflow retried every minute fails the same way each time: once, with a count. */
function describeCauses(causes: readonly Incident[]): string {
  const groups = new Map<string, { first: Incident; count: number }>();
  for (const c of causes) {
    const key = `${c.kind}|${c.subject}|${c.reason}`;
    const group = groups.get(key);
    if (group) group.count += 1;
    else groups.set(key, { first: c, count: 1 });
  }
  return [...groups.values()]
    .map(({ first, count }) => `${describeIncident(first)}${count > 1 ? ` (${count}×)` : ''}`)
    .join('; ');
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function formatText(report: AuditReport): string {
  const header = Object.fromEntries(COLUMNS.map((c) => [c, c])) as Record<
    (typeof COLUMNS)[number],
    string
  >;
  const table = [header, ...report.rows.map((r) => cells(r, report.timeZone))];
  const widths = COLUMNS.map((c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) =>
    COLUMNS.map((c, i) => (i === COLUMNS.length - 1 ? row[c] : row[c].padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  const missed = report.rows.filter((r) => r.missed !== null).length;
  const scope = report.journalId ? `journal ${report.journalId}` : `school ${report.schoolId}`;
  const summary = [
    `Audit of ${scope}, ${report.from} to ${report.to} (times in ${report.timeZone}): ` +
      `${report.rows.length} online lessons, ${report.rows.length - missed} with a call, ${missed} missed; ` +
      `${report.histories} histories replayed.` +
      (report.storedReplays > 0
        ? ` ${report.storedReplays} of them read from their stored replay by this build.`
        : ''),
  ];
  if (report.incidents.length > 0) {
    summary.push('', `Incidents (${report.incidents.length}):`);
    for (const i of report.incidents)
      summary.push(
        `  ${epochToZonedDate(i.at, report.timeZone)} ${formatZonedTime(i.at, report.timeZone)} ${i.workflowId}: ${describeIncident(i)}`,
      );
  }
  if (report.failures.length > 0) {
    summary.push(
      `REPLAY FAILED for ${report.failures.length} run(s): the workflow code no longer matches them.`,
    );
    for (const f of report.failures)
      summary.push(`  ${f.workflowId}/${f.runId}: ${f.errorType}: ${firstLine(f.message)}`);
  }
  return `${[...lines, '', ...summary].join('\n')}\n`;
}

export function formatCsv(report: AuditReport): string {
  const lines = [COLUMNS.join(',')];
  for (const row of report.rows) {
    const c = cells(row, report.timeZone);
    lines.push(COLUMNS.map((k) => csvField(c[k])).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** JSON keeps instants as ISO strings and the reason both as data and in words. */
export function toJson(report: AuditReport): unknown {
  const iso = (at: number): string => new Date(at).toISOString();
  return {
    ...report,
    rows: report.rows.map((row) => ({
      ...row,
      started: row.started && { ...row.started, at: iso(row.started.at) },
      ended: row.ended && { ...row.ended, at: iso(row.ended.at) },
      missed: row.missed && { ...row.missed, text: describeReason(row.missed) },
      causes: row.causes.map((i) => ({ ...i, at: iso(i.at), text: describeIncident(i) })),
    })),
    incidents: report.incidents.map((i) => ({ ...i, at: iso(i.at), text: describeIncident(i) })),
  };
}

export function formatReport(report: AuditReport, format: ReportFormat): string {
  switch (format) {
    case 'text':
      return formatText(report);
    case 'csv':
      return formatCsv(report);
    case 'json':
      return `${JSON.stringify(toJson(report), null, 2)}\n`;
  }
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/**
 * Progress on stderr: a redrawn bar when stderr is a terminal, else a plain line every `every`
 * histories (and at the end), so logs of a long audit stay readable.
 */
export function progressReporter(
  stream: NodeJS.WriteStream,
  opts: { every?: number } = {},
): (done: number, total: number) => void {
  const every = opts.every ?? 100;
  if (stream.isTTY) {
    return (done, total) => {
      const width = 30;
      const filled = total > 0 ? Math.round((done / total) * width) : width;
      stream.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} histories replayed`,
      );
      if (done >= total) stream.write('\n');
    };
  }
  return (done, total) => {
    if (done % every === 0 || done >= total) stream.write(`replayed ${done}/${total} histories\n`);
  };
}
