import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets a heap grow past what its last full collection kept before it collects again,
 * for every isolate of the process (the main thread and the workflow threads). Left to itself V8
 * sizes that step from the machine's memory, not the worker's budget: on a 24 GiB machine a worker
 * holding 3,000 sleeping journals sat at 994 MiB RSS, most of it garbage the workflow thread had not
 * collected yet, and at 424 MiB with 10 % (docs/benchmarks.md, "scale"). Node accepts the flag
 * only on the command line or here, not in NODE_OPTIONS; it takes effect at each isolate's next
 * collection, and the workflow threads are created after it is set. 0 leaves V8's own rule.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
