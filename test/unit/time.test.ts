import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDays,
  epochToZonedDate,
  formatZonedTime,
  isoWeekday,
  nextZonedMidnight,
  zonedDateTimeToEpoch,
} from '../../src/domain/time';

const utc = (iso: string): number => Date.parse(iso);

/** Runs `fn` with the process time zone set to each of `zones` (Node re-reads TZ on assignment). */
function underProcessZones(zones: readonly string[], fn: () => void): void {
  const saved = process.env.TZ;
  try {
    for (const zone of zones) {
      process.env.TZ = zone;
      fn();
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

void describe('zonedDateTimeToEpoch', () => {
  void test('reads the wall time in the named zone (Asia/Yekaterinburg is UTC+5)', () => {
    // 2026-03-02 09:00 in Yekaterinburg is 04:00 UTC.
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-03-02', time: '09:00', timeZone: 'Asia/Yekaterinburg' }),
      1772424000000,
    );
  });

  void test('ignores the process time zone', () => {
    underProcessZones(['UTC', 'Pacific/Kiritimati', 'America/Los_Angeles', 'Asia/Kolkata'], () => {
      assert.equal(new Date(0).getTimezoneOffset() === 0, process.env.TZ === 'UTC');
      assert.equal(
        zonedDateTimeToEpoch({ date: '2026-03-02', time: '09:00', timeZone: 'Asia/Yekaterinburg' }),
        1772424000000,
      );
      assert.equal(epochToZonedDate(1772424000000, 'Asia/Vladivostok'), '2026-03-02');
      assert.equal(formatZonedTime(1772424000000, 'Europe/Moscow'), '07:00');
    });
  });

  void test('uses the summer offset after clocks go forward (America/New_York)', () => {
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-03-07', time: '09:00', timeZone: 'America/New_York' }),
      utc('2026-03-07T14:00:00Z'),
    );
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-03-09', time: '09:00', timeZone: 'America/New_York' }),
      utc('2026-03-09T13:00:00Z'),
    );
  });

  void test('moves a wall time skipped by clocks going forward on by the gap', () => {
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-03-08', time: '02:30', timeZone: 'America/New_York' }),
      utc('2026-03-08T07:30:00Z'),
    );
  });

  void test('takes the first occurrence of a wall time repeated when clocks go back', () => {
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-11-01', time: '01:30', timeZone: 'America/New_York' }),
      utc('2026-11-01T05:30:00Z'),
    );
    assert.equal(
      zonedDateTimeToEpoch({ date: '2026-10-25', time: '02:30', timeZone: 'Europe/Berlin' }),
      utc('2026-10-25T00:30:00Z'),
    );
  });

  void test('follows a zone whose standard offset changed (Europe/Moscow, 2014)', () => {
    assert.equal(
      zonedDateTimeToEpoch({ date: '2014-10-25', time: '09:00', timeZone: 'Europe/Moscow' }),
      utc('2014-10-25T05:00:00Z'),
    );
    assert.equal(
      zonedDateTimeToEpoch({ date: '2014-10-27', time: '09:00', timeZone: 'Europe/Moscow' }),
      utc('2014-10-27T06:00:00Z'),
    );
  });

  void test('rejects malformed dates and times', () => {
    assert.throws(
      () => zonedDateTimeToEpoch({ date: '2026-02-30', time: '09:00', timeZone: 'UTC' }),
      RangeError,
    );
    assert.throws(
      () => zonedDateTimeToEpoch({ date: '2026-03-02', time: '24:00', timeZone: 'UTC' }),
      RangeError,
    );
    assert.throws(
      () => zonedDateTimeToEpoch({ date: '2026-03-02', time: '9:00', timeZone: 'UTC' }),
      RangeError,
    );
  });
});

void describe('epochToZonedDate and formatZonedTime', () => {
  void test('read the calendar date and wall time in the named zone, not in UTC', () => {
    const lateEveningUtc = utc('2026-03-01T23:30:00Z');
    assert.equal(epochToZonedDate(lateEveningUtc, 'Asia/Vladivostok'), '2026-03-02');
    assert.equal(formatZonedTime(lateEveningUtc, 'Asia/Vladivostok'), '09:30');
    assert.equal(epochToZonedDate(lateEveningUtc, 'America/New_York'), '2026-03-01');
    assert.equal(formatZonedTime(lateEveningUtc, 'America/New_York'), '18:30');
  });

  void test('write midnight as 00:00', () => {
    assert.equal(formatZonedTime(utc('2026-03-01T21:00:00Z'), 'Europe/Moscow'), '00:00');
  });
});

void describe('calendar dates', () => {
  void test('isoWeekday numbers Monday 1 through Sunday 7', () => {
    assert.equal(isoWeekday('2026-03-02'), 1);
    assert.equal(isoWeekday('2026-03-07'), 6);
    assert.equal(isoWeekday('2026-03-08'), 7);
  });

  void test('addDays crosses months, years and leap days', () => {
    assert.equal(addDays('2028-02-28', 1), '2028-02-29');
    assert.equal(addDays('2026-02-28', 1), '2026-03-01');
    assert.equal(addDays('2026-12-31', 1), '2027-01-01');
    assert.equal(addDays('2026-03-01', -1), '2026-02-28');
  });

  void test('nextZonedMidnight is the start of the next local day, across DST', () => {
    assert.equal(
      nextZonedMidnight(utc('2026-03-08T06:00:00Z'), 'America/New_York'),
      utc('2026-03-09T04:00:00Z'),
    );
    assert.equal(
      nextZonedMidnight(utc('2026-03-01T23:30:00Z'), 'Asia/Vladivostok'),
      utc('2026-03-02T14:00:00Z'),
    );
    // Santiago skips midnight when summer time starts: the day begins at 01:00.
    assert.equal(
      nextZonedMidnight(utc('2026-09-05T12:00:00Z'), 'America/Santiago'),
      utc('2026-09-06T04:00:00Z'),
    );
  });
});
