import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';

/** An emulator's state on disk: loaded once at start, written back soon after each change. */

/** Loads a state file; a missing file is `empty()`, a corrupt one is an error (never silently wiped). */
export async function loadStateFile<S extends z.ZodType>(
  path: string,
  schema: S,
  empty: () => z.output<S>,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty();
    throw err;
  }
  return schema.parse(JSON.parse(text));
}

/**
 * Writes the state at most once per `delayMs` after a change, through a temp file and a rename so
 * a crash mid-write leaves the previous state intact.
 */
export class StatePersister {
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly read: () => unknown,
    private readonly delayMs = 100,
  ) {}

  changed(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, this.delayMs);
  }

  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#write();
    }
    await this.#writing;
  }

  #write(): Promise<void> {
    const snapshot = JSON.stringify(this.read(), null, 2);
    const tmp = `${this.path}.${process.pid}.tmp`;
    this.#writing = this.#writing
      .then(async () => {
        await mkdir(dirname(this.path), { recursive: true });
        await writeFile(tmp, snapshot);
        await rename(tmp, this.path);
      })
      .catch((err: unknown) => {
        process.emitWarning(`emulator: could not write state file: ${String(err)}`);
      });
    return this.#writing;
  }
}
