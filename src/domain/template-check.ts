import type { GridRow, Template } from '../contracts/roster';
import type { GridGap, GridGapKind, TemplateDefect } from '../contracts/timetable';

export {
  gridGapKinds,
  retiredTemplateDefects,
  templateDefects,
  type GridGap,
  type GridGapKind,
  type RetiredTemplateDefect,
  type TemplateDefect,
} from '../contracts/timetable';

export interface TemplateCheck {
  complete: boolean;
  /** Every defect found, in the order of `templateDefects`; empty when complete. */
  missing: TemplateDefect[];
  /** The lesson numbers behind `lessonNotInGrid` and `lessonWithoutTimes`, by number; else empty. */
  gridGaps: GridGap[];
}

export interface TemplateSelection extends TemplateCheck {
  /** The template that governs the date for this journal, or its closest candidate; null if none. */
  template: Template | null;
}

/** A grid row gives usable lesson times only with both ends set and the end after the start. */
export function rowHasTimes(row: GridRow): row is GridRow & { start: string; end: string } {
  // 'HH:MM' strings order the same way as the times they name.
  return row.start !== null && row.end !== null && row.start < row.end;
}

/** The grid row for a lesson number, if it gives usable times. */
export function gridTimes(
  template: Template,
  lessonNumber: number,
): { start: string; end: string } | null {
  const row = template.grid.find((r) => r.number === lessonNumber);
  return row !== undefined && rowHasTimes(row) ? { start: row.start, end: row.end } : null;
}

/**
 * Checks one template against V7 for one journal, optionally for one lesson date.
 *
 * The grid counts as having times when at least one row has a start and an end, and every row
 * that this journal's entries point at does too: a journal whose own lesson rows are blank would
 * still have nothing to time its calls by. Rows used only by other journals are not our concern.
 * Entries may sit on any weekday: the manual says one lesson of the journal anywhere in the week
 * is enough, so the weekday of `date` is deliberately not compared.
 */
export function checkTemplate({
  template,
  journalId,
  date,
}: {
  template: Template;
  journalId: string;
  date?: string;
}): TemplateCheck {
  const missing: TemplateDefect[] = [];
  const { validFrom, validTo } = template;
  if (validFrom === null) missing.push('noStartDate');
  if (validTo === null) missing.push('noEndDate');
  // ISO dates compare correctly as strings. A missing bound is already reported above, so only
  // the bounds that exist are held against the date.
  if (
    date !== undefined &&
    ((validFrom !== null && date < validFrom) || (validTo !== null && date > validTo))
  ) {
    missing.push('notValidOnDate');
  }
  if (!template.sendToPortal) missing.push('notSentToPortal');

  const ownEntries = template.entries.filter((e) => e.journalId === journalId);
  const gridGaps = gridGapsOf(template, ownEntries);
  if (!template.grid.some(rowHasTimes)) missing.push('gridWithoutTimes');
  if (gridGaps.some((g) => g.lacks === 'row')) missing.push('lessonNotInGrid');
  if (gridGaps.some((g) => g.lacks !== 'row')) missing.push('lessonWithoutTimes');
  if (ownEntries.length === 0) missing.push('noEntryForJournal');

  return { complete: missing.length === 0, missing, gridGaps };
}

/** The rows this journal's entries point at that give no usable times, once per lesson number. */
function gridGapsOf(template: Template, entries: Template['entries']): GridGap[] {
  const numbers = [...new Set(entries.map((e) => e.number))].sort((a, b) => a - b);
  const gaps: GridGap[] = [];
  for (const number of numbers) {
    const row = template.grid.find((r) => r.number === number);
    const lacks = row === undefined ? 'row' : rowGap(row);
    if (lacks !== null) gaps.push({ number, lacks });
  }
  return gaps;
}

function rowGap(row: GridRow): GridGapKind | null {
  if (row.start === null && row.end === null) return 'startAndEnd';
  if (row.start === null) return 'start';
  if (row.end === null) return 'end';
  return rowHasTimes(row) ? null : 'endNotAfterStart';
}

/**
 * Picks, among the school's templates, the one that governs `date` for this journal: a complete
 * one if any (it then covers the date and has the journal's entries). Otherwise the closest
 * candidate is returned with its defects, so the journal can say what to fix: one that has this
 * journal's entries beats one that covers the date, which beats one with fewer defects. Ties go
 * to the newest (latest `validFrom`), then to the smallest ID, so the choice never depends on the
 * order the roster listed them in.
 */
export function selectTemplate({
  templates,
  journalId,
  date,
}: {
  templates: readonly Template[];
  journalId: string;
  date: string;
}): TemplateSelection {
  let best: { template: Template; check: TemplateCheck; rank: number[] } | null = null;
  for (const template of templates) {
    const check = checkTemplate({ template, journalId, date });
    const rank = [
      check.complete ? 0 : 1,
      check.missing.includes('noEntryForJournal') ? 1 : 0,
      check.missing.includes('notValidOnDate') ? 1 : 0,
      check.missing.length,
    ];
    if (best === null || compareCandidates({ template, rank }, best) < 0) {
      best = { template, check, rank };
    }
  }
  if (best === null) {
    return { template: null, complete: false, missing: ['noTemplate'], gridGaps: [] };
  }
  return { template: best.template, ...best.check };
}

function compareCandidates(
  a: { template: Template; rank: number[] },
  b: { template: Template; rank: number[] },
): number {
  for (let i = 0; i < a.rank.length; i++) {
    const x = a.rank[i] ?? 0;
    const y = b.rank[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  // Newest first: a template with no start date counts as the oldest.
  const fromA = a.template.validFrom ?? '';
  const fromB = b.template.validFrom ?? '';
  if (fromA !== fromB) return fromA > fromB ? -1 : 1;
  if (a.template.id === b.template.id) return 0;
  return a.template.id < b.template.id ? -1 : 1;
}
