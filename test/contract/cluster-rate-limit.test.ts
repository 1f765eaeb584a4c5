import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Db } from 'mongodb';
import { ClusterLimiter } from '../../src/messenger/cluster-limiter';
import {
  SlidingWindowLimiter,
  limiterKey,
  type RateLimiter,
} from '../../src/messenger/rate-limiter';
import { createVkMessenger } from '../../src/messenger/vk-client';
import { createRateSlots } from '../../src/store/rate-slots';
import { openTestDb, useServices } from '../support/services';
import { startPlatform } from './vk-harness';

/**
 * Several worker processes send for the same community; VK counts the token's requests whoever
 * sends them. Each "process" here is a limiter of its own (a private local limiter), the
 * deployment's share is the MongoDB-compatible store, as in `npm run cluster`.
 */
let opened: Awaited<ReturnType<typeof openTestDb>> | undefined;
// Registered before the services' hooks, so the database is dropped before they stop its server.
after(async () => {
  await opened?.drop();
});
const services = useServices();

/** Opened on first use: the services' own hook has run by the time a test does. */
async function testDb(): Promise<Db> {
  opened ??= await openTestDb(services().mongoUri);
  return opened.db;
}

const LIMIT = 18;

async function processLimiter(key: string): Promise<RateLimiter> {
  return new ClusterLimiter({
    local: new SlidingWindowLimiter(LIMIT),
    slots: createRateSlots(await testDb()),
    key,
    limitPerSecond: LIMIT,
  });
}

/** The most departures any sliding second holds. */
function busiestSecond(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] ?? 0) - (sorted[j] ?? 0) >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

async function departures(limiters: readonly RateLimiter[], each: number): Promise<number[]> {
  const times: number[] = [];
  await Promise.all(
    limiters.flatMap((limiter) =>
      Array.from({ length: each }, async () => {
        const answered = await limiter.acquire();
        times.push(Date.now());
        answered();
      }),
    ),
  );
  return times;
}

void test('two processes with a limiter each would send a token 36 requests in one second', async () => {
  const times = await departures(
    [new SlidingWindowLimiter(LIMIT), new SlidingWindowLimiter(LIMIT)],
    18,
  );
  assert.ok(
    busiestSecond(times) >= 36,
    'the per-process limit alone does not hold across processes',
  );
});

void test('sharing the request slots, two processes keep every sliding second of a token at 19 or fewer (VK allows 20)', async () => {
  const times = await departures(
    [await processLimiter('token-a'), await processLimiter('token-a')],
    27,
  );
  assert.equal(times.length, 54);
  assert.ok(busiestSecond(times) <= LIMIT + 1, `busiest second: ${busiestSecond(times)}`);
});

void test('request slots are per token: another community is not held up by the first one', async () => {
  const [b, c] = [await processLimiter('token-b'), await processLimiter('token-c')];
  const busy = departures([b], 36);
  const other = await departures([c], 1);
  assert.equal(other.length, 1);
  const first = Math.min(...(await busy));
  assert.ok((other[0] ?? 0) - first < 1000, 'the other token went out at once');
});

void test('two processes sending for one community through the emulator (20/s) meet no error 6', async () => {
  const p = await startPlatform({}, { rateLimitPerSecond: LIMIT });
  const key = limiterKey(p.settings);
  const messengers = [
    createVkMessenger(p.settings, { limiter: await processLimiter(key) }),
    createVkMessenger(p.settings, { limiter: await processLimiter(key) }),
  ];
  try {
    await Promise.all(messengers.flatMap((m) => Array.from({ length: 30 }, () => m.listChats())));
    assert.equal(p.emulator.stats.requests, 60);
    assert.equal(p.emulator.stats.errors['6'] ?? 0, 0);
  } finally {
    await Promise.all(messengers.map((m) => m.close()));
    await p.emulator.close();
  }
});
