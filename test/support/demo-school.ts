import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { demoRoster } from '../../src/dev/demo';
import { importSnapshot } from '../../src/store/roster-import';
import type { Stack } from './stack';

export interface DemoJournal {
  readonly schoolId: string;
  readonly journalId: string;
  readonly lessonId: string;
  readonly teacherId: string;
}

/**
 * The demo school under a fresh school ID on a stack: a community of its own in the emulator, its
 * settings, and its roster, whose journal has an online lesson 22 minutes from now. The import
 * signals nobody: the test drives the workflows it needs.
 */
export async function seedDemoJournal(
  stack: Stack,
  prefix: string,
  opts: { rosterNow?: number } = {},
): Promise<DemoJournal> {
  // The lesson starts 22 minutes after `rosterNow`: an earlier one puts it in the past.
  const demo = demoRoster(opts.rosterNow ?? Date.now());
  const schoolId = `${prefix}-${randomBytes(4).toString('hex')}`;
  const token = `community-token-${randomBytes(12).toString('hex')}`;
  const communityId = randomInt(100_000, 1_000_000);
  stack.emulator.addCommunity(communityId, token);
  await stack.settings.save({
    schoolId,
    input: { communityId, token, period: '30', enabled: true },
  });
  await importSnapshot({
    db: stack.db,
    input: { ...demo.roster, school: { ...demo.roster.school, id: schoolId } },
    events: { rosterChanged: () => Promise.resolve() },
  });
  const teacherId = demo.roster.journals.find((j) => j.id === demo.journalId)?.teacherIds[0];
  assert.ok(teacherId, 'the demo journal has a teacher');
  return { schoolId, journalId: demo.journalId, lessonId: demo.lessonId, teacherId };
}

export { until } from './until';
