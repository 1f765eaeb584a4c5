/** One API call to run inside `execute`. Values follow the wire rules: arrays become CSV, booleans 1/0. */
export interface InnerCall {
  readonly method: string;
  readonly params: Readonly<Record<string, string | number | boolean | readonly number[]>>;
}

/** VK's documented cap on API calls inside one `execute`. */
export const MAX_EXECUTE_CALLS = 25;

const methodName = /^[a-z]+\.[a-zA-Z]+$/;

export function wireValue(value: string | number | boolean | readonly number[]): string | number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return value;
  return value.join(',');
}

/**
 * VKScript for a list of independent calls: `return [API.a.b({...}), ...];`. The result array is
 * positional, so the caller maps each entry (and each `false` + `execute_errors` entry) back to its
 * call. Params are JSON literals, which VKScript reads as object literals; strings are escaped by
 * JSON.stringify, so message text cannot break out of the literal.
 */
export function buildExecuteCode(calls: readonly InnerCall[]): string {
  if (calls.length === 0) throw new RangeError('execute needs at least one call');
  if (calls.length > MAX_EXECUTE_CALLS) {
    throw new RangeError(`execute allows at most ${MAX_EXECUTE_CALLS} calls, got ${calls.length}`);
  }
  const parts = calls.map((call) => {
    if (!methodName.test(call.method)) throw new RangeError(`not a VK method name: ${call.method}`);
    const args: Record<string, string | number> = {};
    for (const [key, value] of Object.entries(call.params)) args[key] = wireValue(value);
    return `API.${call.method}(${JSON.stringify(args)})`;
  });
  return `return [${parts.join(',')}];`;
}
