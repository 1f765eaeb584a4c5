import { test } from 'node:test';
import assert from 'node:assert/strict';

import { demoRoster } from '../../src/dev/demo';
import { daytimeZone, formatZonedTime, zonedDateTimeToEpoch } from '../../src/domain/time';
import { validateSnapshot } from '../../src/domain/roster-validation';

const MINUTE = 60_000;

void test('the demo school is valid whenever `start` runs, late Moscow evenings included', () => {
  const midnight = zonedDateTimeToEpoch({
    date: '2026-11-28',
    time: '00:00',
    timeZone: 'Europe/Moscow',
  });
  for (let at = midnight; at < midnight + 24 * 60 * MINUTE; at += 7 * MINUTE) {
    const demo = demoRoster(at);
    const result = validateSnapshot(demo.roster);
    assert.ok(result.ok, `${new Date(at).toISOString()}: ${JSON.stringify(result)}`);
    const zone = demo.roster.school.timeZone;
    assert.equal(demo.lessonStart, `${formatZonedTime(at + 22 * MINUTE, zone)} ${zone}`);
  }
});

void test('the demo school stays in Moscow while its lesson and call fit in the Moscow day', () => {
  const noon = zonedDateTimeToEpoch({
    date: '2026-11-28',
    time: '12:00',
    timeZone: 'Europe/Moscow',
  });
  assert.equal(demoRoster(noon).roster.school.timeZone, 'Europe/Moscow');
  const lateEvening = noon + 11 * 60 * MINUTE + 27 * MINUTE;
  assert.notEqual(demoRoster(lateEvening).roster.school.timeZone, 'Europe/Moscow');
});

void test('daytimeZone picks the Russian zone whose clock is nearest noon', () => {
  assert.equal(daytimeZone(Date.parse('2026-11-28T09:00:00Z')), 'Europe/Moscow');
  assert.equal(daytimeZone(Date.parse('2026-11-28T05:00:00Z')), 'Asia/Novosibirsk');
  // Russia spans UTC+2 … UTC+12: at 20:27 UTC the nearest to noon is Kamchatka's 08:27.
  assert.equal(daytimeZone(Date.parse('2026-11-28T20:27:00Z')), 'Asia/Kamchatka');
});
