import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ratio, withinBound } from '../../bench/support/report';

void test('bench report: a ratio is value over bound, held against the bound or its allowance', () => {
  const time = { metric: 'time', value: 0.463, unit: 's', bound: 0.4 };
  assert.equal(ratio(time)?.toFixed(2), '1.16');
  assert.equal(withinBound(time), false, 'over a bare floor is outside');
  assert.equal(withinBound({ ...time, allowance: 1.25 }), true, 'issue 9 allows 1.25× here');
  assert.equal(withinBound({ ...time, value: 0.52, allowance: 1.25 }), false);
  const rate = { metric: 'rate', value: 14.7, unit: '/s', bound: 50, kind: 'atLeast' as const };
  assert.equal(withinBound(rate), false, 'a throughput below its bound is outside');
  assert.equal(
    withinBound({ metric: 'p50', value: 3, unit: 'ms' }),
    undefined,
    'no bound, no verdict',
  );
});
