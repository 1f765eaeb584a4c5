import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm run bench`: every `bench/*.bench.ts`, one after another (they measure against the machine,
 * so they never share it). Each prints its figures as ratios against a stated bound.
 * `npm run bench -- planner` runs only the benchmarks whose file name contains "planner".
 */
async function main(): Promise<void> {
  const filter = process.argv[2];
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
    .sort();
  for (const file of files) {
    process.stdout.write(`\n== ${file}\n`);
    const mod = (await import(join(__dirname, file))) as { run?: () => Promise<void> };
    if (typeof mod.run !== 'function') throw new Error(`${file} exports no run()`);
    await mod.run();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
