import type { EndFailure, RunningCall } from '../../src/contracts/journal-calls';
import { epochToZonedDate } from '../../src/domain/time';
import { END_RETRY_FIRST_MS, END_RETRY_MAX_MS } from './rules';

/**
 * V5: a failed automatic end as it stands after one more failure. It is retried after 1, 2, 4, 8
 * and then every 15 minutes, since the platform may come back or the call may end in Sferum
 * meanwhile; it is given up once the lesson's school day is over, or at once when the next
 * lesson's start is due (`nextStartAt`).
 */
export function nextEndFailure(args: {
  call: RunningCall;
  previous: EndFailure | null;
  error: string;
  now: number;
  timeZone: string;
  nextStartAt: number | null;
}): EndFailure {
  const { call, previous, error, now, timeZone, nextStartAt } = args;
  const today = epochToZonedDate(now, timeZone);
  const failures = (previous?.callKey === call.callKey ? previous.failures : 0) + 1;
  const dayOver = epochToZonedDate(call.startedAt, timeZone) < today;
  const gaveUp = dayOver || (nextStartAt !== null && nextStartAt <= now);
  const pause = Math.min(END_RETRY_FIRST_MS * 2 ** (failures - 1), END_RETRY_MAX_MS);
  return {
    callKey: call.callKey,
    lessonId: call.lessonId,
    lessonIds: call.lessonIds,
    error,
    failures,
    retryAt: gaveUp ? null : now + pause,
    gaveUp,
    date: today,
  };
}

/** V5: why a call was given up: its day is over, or the next lesson's start is due. */
export function abandonReason(
  call: RunningCall,
  failure: EndFailure,
  timeZone: string,
): 'dayOver' | 'nextLessonDue' {
  return epochToZonedDate(call.startedAt, timeZone) < failure.date ? 'dayOver' : 'nextLessonDue';
}
