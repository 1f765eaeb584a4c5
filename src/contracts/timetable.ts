/**
 * The words the call planner and the template check use for why a journal's calls are manual
 * only or unavailable (V7, C2): shared by the domain that finds them, the workflow state and the
 * API that show them.
 */

/**
 * V7: automatic start and end of a journal's calls work only when its timetable template is
 * complete. These are the ways it can fall short, in the order the manual lists them, so the
 * journal can say exactly why its calls are manual only.
 */
export const templateDefects = [
  /** The school has no timetable template at all. */
  'noTemplate',
  /** The template has no start date ("Дата начала"). Both date defects are listed when both are empty. */
  'noStartDate',
  /** The template has no end date ("Дата окончания"). */
  'noEndDate',
  /** The lesson's date lies outside the template's validity (only checked for a given date). */
  'notValidOnDate',
  /** "Send to the portal by default" is not set to Yes. */
  'notSentToPortal',
  /** No row of the lesson grid has both a start and an end time (an empty grid among them). */
  'gridWithoutTimes',
  /** A lesson number this journal's entries use has no row in the grid; `gridGaps` names it. */
  'lessonNotInGrid',
  /** A grid row this journal's entries use lacks a time or ends before it starts; `gridGaps` says which. */
  'lessonWithoutTimes',
  /** The template has no lesson of this journal on any weekday. */
  'noEntryForJournal',
] as const;

export type TemplateDefect = (typeof templateDefects)[number];

/**
 * Defects that earlier versions recorded in decisions (`details.missing`) and no longer report:
 * `noValidityDates` stood for "the start or the end date is empty", before the two were told apart.
 * The audit still reads them from archived decisions.
 */
export const retiredTemplateDefects = ['noValidityDates'] as const;
export type RetiredTemplateDefect = (typeof retiredTemplateDefects)[number];

/** What a grid row used by this journal lacks. */
export const gridGapKinds = ['row', 'start', 'end', 'startAndEnd', 'endNotAfterStart'] as const;
export type GridGapKind = (typeof gridGapKinds)[number];

/** One lesson number of this journal's entries whose grid row gives no usable times. */
export interface GridGap {
  number: number;
  lacks: GridGapKind;
}

/** V1, C2: why a journal has no calls at all. */
export type CallsUnavailableReason = 'callsNotAvailable' | 'noSubjectChat';
