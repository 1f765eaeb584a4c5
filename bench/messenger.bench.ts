import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

import { createEmulator } from '../src/emulator/vk';
import type { MemberOp } from '../src/messenger/port';
import { createVkMessenger } from '../src/messenger/vk-client';
import { report, type Measure } from './support/report';

/**
 * Adds 1,000 members across 40 chats through the VK client against the emulator and compares the
 * cost with the platform's own limits: requests against ceil(calls / 25) (the execute floor), and
 * wall time against requests / rate (the rate-limit floor). Run once without and once with network
 * latency, because with latency the client's requests in flight, not the limiter, set the pace.
 */
const MEMBERS = 1000;
const CHATS = 40;
const RATE = 20;
const COMMUNITY = 1;

interface Variant {
  readonly measures: Measure[];
  readonly summary: string;
}

async function scenario(latencyMs: number): Promise<Variant> {
  const token = `vk1.a.${randomBytes(24).toString('base64url')}`;
  const emulator = await createEmulator({
    communities: [{ communityId: COMMUNITY, token }],
    options: { rateLimitPerSecond: RATE },
  });
  const messenger = createVkMessenger({
    communityId: COMMUNITY,
    token,
    baseUrl: emulator.url,
    apiVersion: '5.199',
    rateLimitPerSecond: RATE,
  });
  try {
    // The chats are set up on the platform side so the timed part starts with a fresh rate window.
    const chatIds: number[] = [];
    for (let i = 0; i < CHATS; i++) {
      const res = await fetch(`${emulator.url}/__emulator/chats`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ communityId: COMMUNITY, title: `Класс ${i + 1}` }),
      });
      chatIds.push(((await res.json()) as { chatId: number }).chatId);
    }
    const ops: MemberOp[] = Array.from({ length: MEMBERS }, (_, i) => ({
      chatId: chatIds[i % CHATS] ?? 0,
      userId: 100_000 + i,
    }));
    emulator.setFaults({ latencyMs });
    const before = emulator.stats.requests;

    const started = performance.now();
    const results = await messenger.addMembers({ ops });
    const seconds = (performance.now() - started) / 1000;

    const requests = emulator.stats.requests - before;
    const failed = results.filter((r) => !r.ok).length;
    const added = emulator.snapshot().chats.reduce((n, c) => n + c.members.length - 1, 0);
    const requestFloor = Math.ceil(MEMBERS / 25);
    const timeFloor = requests / RATE;
    // A sliding window lets the first RATE requests out at once; only the rest must wait.
    const burstFloor = Math.max(0, requests - RATE) / RATE;
    const at = `latency ${latencyMs} ms`;
    return {
      summary: `${at}: ${added} members on the platform, ${seconds.toFixed(2)} s (the rate-limit floor after the first burst is ${burstFloor.toFixed(2)} s)`,
      measures: [
        {
          metric: `requests, ${at}`,
          value: requests,
          unit: 'requests',
          bound: requestFloor,
          kind: 'atMost',
          boundSource: `ceil(${MEMBERS} / 25), the execute floor`,
        },
        {
          metric: `wall time, ${at}`,
          value: Number(seconds.toFixed(2)),
          unit: 's',
          bound: Number(timeFloor.toFixed(2)),
          kind: 'atMost',
          boundSource: `${requests} requests / ${RATE} per s`,
        },
        {
          metric: `failed items, ${at}`,
          value: failed,
          unit: 'items',
          bound: 0,
          kind: 'atMost',
        },
        {
          metric: `error 6 (too many requests), ${at}`,
          value: emulator.stats.errors['6'] ?? 0,
          unit: 'errors',
          bound: 0,
          kind: 'atMost',
        },
      ],
    };
  } finally {
    await messenger.close();
    await emulator.close();
  }
}

export async function run(): Promise<void> {
  const started = performance.now();
  const variants = [await scenario(0), await scenario(50)];
  report({
    scenario: 'messenger',
    description:
      `VK client adds ${MEMBERS} members across ${CHATS} chats on the emulator (rate limit ` +
      `${RATE}/s), once without and once with network latency; ` +
      `${variants.map((v) => v.summary).join('; ')}; load average ${(loadavg()[0] ?? 0).toFixed(1)}`,
    measures: variants.flatMap((v) => v.measures),
    seconds: (performance.now() - started) / 1000,
  });
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
