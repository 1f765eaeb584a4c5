import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  continueAsNewLimit,
  continueAsNewOption,
  type ContinueAsNewOption,
} from '../../workflows/support';

void test('the continue-as-new limit is the input option, passed on to the next run as it came', () => {
  assert.equal(continueAsNewLimit({ continueAsNewAfterEvents: 40 }), 40);
  assert.deepEqual(continueAsNewOption(40), { continueAsNewAfterEvents: 40 });
  assert.equal(continueAsNewLimit({}), undefined);
  assert.deepEqual(continueAsNewOption(undefined), {});
});

void test('a history recorded with testHooks keeps its limit, so it replays as it ran', () => {
  // The input as a recorded history hands it to the workflow.
  const recorded = JSON.parse(
    '{"schoolId":"s","testHooks":{"continueAsNewAfterEvents":100}}',
  ) as ContinueAsNewOption;
  assert.equal(continueAsNewLimit(recorded), 100);
  assert.equal(
    continueAsNewLimit({ ...recorded, continueAsNewAfterEvents: 20 }),
    20,
    'the option wins over the recorded hook',
  );
});
