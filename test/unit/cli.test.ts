import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { keyHolderRefusal, type KeyHolderLookups } from '../../src/store/key-holder';

const run = promisify(execFile);

function lookups(known: {
  roster?: readonly { id: string; active: boolean }[];
  settings?: boolean;
}): KeyHolderLookups {
  return {
    getSchool: (schoolId) =>
      Promise.resolve(
        known.roster ? { id: schoolId, name: 'Школа', timeZone: 'Europe/Moscow' } : null,
      ),
    hasSettings: () => Promise.resolve(known.settings ?? false),
    listStaff: () => Promise.resolve(known.roster ?? []),
  };
}

void test('§7: issue-key refuses a school that has neither a roster nor settings', async () => {
  const refusal = await keyHolderRefusal({ lookups: lookups({}), schoolId: 'sch-typo' });
  assert.match(refusal ?? '', /school "sch-typo" is unknown/);
});

void test('§7: issue-key issues an admin key for a school known by its settings alone', async () => {
  assert.equal(
    await keyHolderRefusal({ lookups: lookups({ settings: true }), schoolId: 'sch-1' }),
    null,
  );
});

void test('§7: issue-key refuses a teacher token for a staff ID not in the roster, or inactive', async () => {
  const roster = [
    { id: 't-1', active: true },
    { id: 't-old', active: false },
  ];
  const known = lookups({ roster });
  assert.equal(await keyHolderRefusal({ lookups: known, schoolId: 's', staffId: 't-1' }), null);
  assert.match(
    (await keyHolderRefusal({ lookups: known, schoolId: 's', staffId: 't-9' })) ?? '',
    /staff member "t-9" is not in the roster/,
  );
  assert.match(
    (await keyHolderRefusal({ lookups: known, schoolId: 's', staffId: 't-old' })) ?? '',
    /not active/,
  );
  assert.match(
    (await keyHolderRefusal({
      lookups: lookups({ settings: true }),
      schoolId: 's',
      staffId: 't-1',
    })) ?? '',
    /not in the roster/,
  );
});

void test('plan --help offers only options that exist', async () => {
  const { stdout } = await run(process.execPath, [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'plan',
    '--help',
  ]);
  assert.ok(!stdout.includes('--now'), stdout);
  assert.match(stdout, /--json/);
});
