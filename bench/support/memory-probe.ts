import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

/**
 * Loaded first into a measured process: on SIGWINCH it writes the main thread's memory figures to `SFERUM_MEMORY_PROBE_FILE`, so a benchmark
 * can say how much of the process's RSS is the main JavaScript heap and how much lies elsewhere
 * (workflow threads, the SDK's Rust core, code). The production code knows nothing of it.
 * SIGWINCH because it is ignored by default and free: the Temporal runtime shuts the worker down
 * on SIGUSR2 (and SIGINT, SIGTERM, SIGQUIT).
 */
const file = process.env.SFERUM_MEMORY_PROBE_FILE;
if (file) {
  process.on('SIGWINCH', () => {
    const heap = getHeapStatistics();
    writeFileSync(
      file,
      JSON.stringify({
        at: Date.now(),
        ...process.memoryUsage(),
        heapSizeLimit: heap.heap_size_limit,
      }),
    );
  });
}
