import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeResults } from './support/report';
import { stopBenchServices } from './support/services';

/**
 * `npm run bench`: every `bench/*.bench.ts`, one after another (they measure against the machine,
 * so they never share it). Each prints its scenarios as tables of measured value, bound and ratio;
 * the run ends by writing them all to `bench/results/latest.json` and `latest.md`.
 * `npm run bench -- planner` runs only the benchmarks whose file name contains "planner".
 */
async function main(): Promise<void> {
  const filter = process.argv[2];
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
    .sort();
  const startedAt = new Date();
  const started = performance.now();
  try {
    for (const file of files) {
      process.stdout.write(`\n== ${file}\n`);
      const mod = (await import(join(__dirname, file))) as { run?: () => Promise<void> };
      if (typeof mod.run !== 'function') throw new Error(`${file} exports no run()`);
      await mod.run();
    }
  } finally {
    await stopBenchServices();
  }
  const seconds = (performance.now() - started) / 1000;
  const written = writeResults(join(__dirname, 'results'), { startedAt, seconds });
  process.stdout.write(
    `\nbench: ${files.length} files in ${seconds.toFixed(0)} s; results in ${written.join(', ')}\n`,
  );
}

main().then(
  // Benchmarks leave Temporal's native runtime and sockets behind; the run is over.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
