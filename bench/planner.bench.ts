import { performance } from 'node:perf_hooks';

import { planChats } from '../src/domain/chat-plan';
import { generateRoster } from '../src/domain/roster-generator';

/** The bound: the planner must handle a large school "in well under a second". */
const BOUND_MS = 1000;
const WARM_UP = 3;
const ITERATIONS = 15;

export async function run(): Promise<void> {
  const roster = generateRoster({ seed: 'bench', size: 'large', today: '2026-12-01' });
  for (let i = 0; i < WARM_UP; i++) planChats(roster);

  const samples: number[] = [];
  let chats = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    chats = planChats(roster).chats.length;
    samples.push(performance.now() - started);
    // Yield between runs so a shared machine's other work does not pile onto one sample.
    await new Promise((resolve) => setImmediate(resolve));
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)] ?? Number.NaN;
  const people = roster.staff.length + roster.students.length + roster.parents.length;
  console.log(
    `planner large school (${people} people, ${roster.journals.length} journals, ${chats} chats): ` +
      `${median.toFixed(1)} ms median of ${ITERATIONS}, ${(median / BOUND_MS).toFixed(3)}× of the ${BOUND_MS} ms bound`,
  );
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
