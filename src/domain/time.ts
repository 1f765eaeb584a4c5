/**
 * Calendar and wall-clock arithmetic in a named IANA time zone.
 *
 * This module runs inside Temporal's workflow sandbox, so it never asks the process for its time
 * zone or the current time: every instant is an epoch in milliseconds passed in by the caller, and
 * every conversion names its zone explicitly through `Intl.DateTimeFormat`, which the sandbox
 * provides. Calendar dates are plain 'YYYY-MM-DD' strings, handled as UTC dates so that no zone
 * can shift them.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^(\d{2}):(\d{2})$/;

interface DateParts {
  year: number;
  month: number;
  day: number;
}

function parseDate(date: string): DateParts {
  const match = DATE_RE.exec(date);
  if (match === null) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  const [, year, month, day] = match;
  const parts = { year: Number(year), month: Number(month), day: Number(day) };
  // Date.UTC silently rolls 2026-02-30 over into March; a roster date like that is a data error.
  if (formatUtcDate(Date.UTC(parts.year, parts.month - 1, parts.day)) !== date) {
    throw new RangeError(`no such calendar date: ${date}`);
  }
  return parts;
}

function parseTime(time: string): { hour: number; minute: number } {
  const match = TIME_RE.exec(time);
  if (match !== null) {
    const hour = Number(match[1]);
    const minute = Number(match[2]);
    if (hour <= 23 && minute <= 59) return { hour, minute };
  }
  throw new RangeError(`not an HH:MM time: ${time}`);
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function formatUtcDate(epoch: number): string {
  const d = new Date(epoch);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

// Building a formatter is far costlier than using one, and the planner converts many instants
// per call; formatters are stateless, so sharing them cannot leak between workflow runs.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      // h23, not hour12: false, which some ICU versions render as "24" at midnight.
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

interface WallClock extends DateParts {
  hour: number;
  minute: number;
  second: number;
}

function wallClockAt(epoch: number, timeZone: string): WallClock {
  const fields: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of formatterFor(timeZone).formatToParts(epoch)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? Number.NaN,
    month: fields.month ?? Number.NaN,
    day: fields.day ?? Number.NaN,
    hour: (fields.hour ?? Number.NaN) % 24,
    minute: fields.minute ?? Number.NaN,
    second: fields.second ?? Number.NaN,
  };
}

/** The zone's UTC offset at an instant, in ms (east of Greenwich is positive). */
function offsetAt(epoch: number, timeZone: string): number {
  const wall = wallClockAt(epoch, timeZone);
  const wallAsUtc = Date.UTC(
    wall.year,
    wall.month - 1,
    wall.day,
    wall.hour,
    wall.minute,
    wall.second,
  );
  // The formatter drops milliseconds, so compare against the instant truncated to the second.
  return wallAsUtc - Math.floor(epoch / 1000) * 1000;
}

/**
 * The instant at which the wall clock in `timeZone` shows `date` `time`.
 *
 * Around a DST change a wall time can occur twice (clocks go back) or not at all (clocks go
 * forward). We resolve both the way Temporal's and the ECMAScript Temporal API's 'compatible'
 * disambiguation does: a repeated time means its first occurrence, and a skipped time is moved
 * forward by the length of the gap (02:30 on a spring-forward night becomes 03:30).
 */
export function zonedDateTimeToEpoch({
  date,
  time,
  timeZone,
}: {
  date: string;
  time: string;
  timeZone: string;
}): number {
  const { year, month, day } = parseDate(date);
  const { hour, minute } = parseTime(time);
  const wallAsUtc = Date.UTC(year, month - 1, day, hour, minute);
  // Zones change offset at most once in any two days, so the offsets a day either side are the
  // only ones this wall time can be read with.
  const offsetBefore = offsetAt(wallAsUtc - DAY_MS, timeZone);
  const offsetAfter = offsetAt(wallAsUtc + DAY_MS, timeZone);
  const candidates = [wallAsUtc - offsetBefore, wallAsUtc - offsetAfter].sort((a, b) => a - b);
  const exact = candidates.find((epoch) => epoch + offsetAt(epoch, timeZone) === wallAsUtc);
  return exact ?? wallAsUtc - offsetBefore;
}

/** The calendar date ('YYYY-MM-DD') in `timeZone` at an instant. */
export function epochToZonedDate(epoch: number, timeZone: string): string {
  const { year, month, day } = wallClockAt(epoch, timeZone);
  return `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}`;
}

/** The wall-clock time ('HH:MM') in `timeZone` at an instant. */
export function formatZonedTime(epoch: number, timeZone: string): string {
  const { hour, minute } = wallClockAt(epoch, timeZone);
  return `${pad2(hour)}:${pad2(minute)}`;
}

/** ISO weekday of a calendar date: 1 = Monday … 7 = Sunday, as in the timetable template. */
export function isoWeekday(date: string): number {
  const { year, month, day } = parseDate(date);
  const sundayFirst = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return sundayFirst === 0 ? 7 : sundayFirst;
}

/** The calendar date `days` days after `date` (negative goes back). */
export function addDays(date: string, days: number): string {
  const { year, month, day } = parseDate(date);
  return formatUtcDate(Date.UTC(year, month - 1, day + days));
}

/**
 * The first instant of the calendar day after the one `epoch` falls on, in `timeZone`. Where a
 * zone skips midnight for DST, this is the first wall time that does exist that morning.
 */
export function nextZonedMidnight(epoch: number, timeZone: string): number {
  const tomorrow = addDays(epochToZonedDate(epoch, timeZone), 1);
  return zonedDateTimeToEpoch({ date: tomorrow, time: '00:00', timeZone });
}

/** Russia's time zones, west to east (UTC+2 … UTC+12); none observes DST. */
export const RUSSIAN_TIME_ZONES = [
  'Europe/Kaliningrad',
  'Europe/Moscow',
  'Europe/Samara',
  'Asia/Yekaterinburg',
  'Asia/Omsk',
  'Asia/Novosibirsk',
  'Asia/Irkutsk',
  'Asia/Yakutsk',
  'Asia/Vladivostok',
  'Asia/Magadan',
  'Asia/Kamchatka',
] as const;

/**
 * The Russian zone whose wall clock is nearest noon at `epoch`: a school there has hours either
 * side before its midnight, which generated schools (the demo, tests, drills) made "now" need.
 */
export function daytimeZone(epoch: number): string {
  const fromNoon = (timeZone: string): number => {
    const { hour, minute } = wallClockAt(epoch, timeZone);
    return Math.abs(hour * 60 + minute - 12 * 60);
  };
  let best: string = RUSSIAN_TIME_ZONES[0];
  for (const zone of RUSSIAN_TIME_ZONES) if (fromNoon(zone) < fromNoon(best)) best = zone;
  return best;
}
