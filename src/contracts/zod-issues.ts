import type { z } from 'zod';

/** How a failed parse is told: the one place zod's issue paths become text. */

/** The path of an issue about the value as a whole, as the HTTP API writes it too. */
export const ROOT = '(root)';

/** An issue's path as `students.3.classId`; `root` when the issue is about the value as a whole. */
export function dottedPath(path: readonly PropertyKey[], root = ROOT): string {
  return path.map(String).join('.') || root;
}

/** zod's path as people write it: `students[3].classId`. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? ROOT : out;
}

/** Each issue as `{ path, message }`, the path dotted. */
export function issueList(
  error: z.ZodError,
  root = ROOT,
): { readonly path: string; readonly message: string }[] {
  return error.issues.map((i) => ({ path: dottedPath(i.path, root), message: i.message }));
}

/** Each issue as `path: message`. */
export function issueLines(error: z.ZodError, root = ROOT): string[] {
  return issueList(error, root).map((i) => `${i.path}: ${i.message}`);
}
