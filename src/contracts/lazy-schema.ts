import type { z } from 'zod';

/**
 * A schema built on its first use, for the workflow code's update and signal validators. Every
 * module the workflow code imports is evaluated again for each run a worker caches, and a zod 4
 * schema carries its own copy of every method: built at import, a validator's schema would weigh
 * on every sleeping journal (docs/benchmarks.md, "scale"); built on first use, only on the runs
 * that are sent one.
 */
export function lazySchema<T extends z.ZodType>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}
