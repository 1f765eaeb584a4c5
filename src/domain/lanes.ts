/**
 * Runs `fn` over `items` with at most `limit` in flight, keeping the results in order. Pure (no
 * timers, no I/O of its own), so workflows use it as well as activities.
 */
export async function mapInLanes<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
