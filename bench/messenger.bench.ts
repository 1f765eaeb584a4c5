import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { createEmulator } from '../src/emulator';
import type { MemberOp } from '../src/messenger/port';
import { createVkMessenger } from '../src/messenger/vk-client';

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

async function scenario(latencyMs: number): Promise<void> {
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
    console.log(
      `messenger add ${MEMBERS} members across ${CHATS} chats (latency ${latencyMs} ms): ` +
        `${requests} requests vs floor ${requestFloor} = ${(requests / requestFloor).toFixed(2)}×; ` +
        `${seconds.toFixed(2)} s vs rate-limit floor ${timeFloor.toFixed(2)} s (${requests}/${RATE} per s) = ${(seconds / timeFloor).toFixed(2)}× ` +
        `(${(seconds / Math.max(burstFloor, 1e-9)).toFixed(2)}× of ${burstFloor.toFixed(2)} s after the first burst); ` +
        `${added} members on the platform, ${failed} failed items, ${emulator.stats.errors['6'] ?? 0} error 6`,
    );
  } finally {
    await messenger.close();
    await emulator.close();
  }
}

export async function run(): Promise<void> {
  await scenario(0);
  await scenario(50);
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
