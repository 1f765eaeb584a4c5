/** Running an emulator as a process: started, announced, and closed at SIGINT or SIGTERM. */

/** Resolves at the first SIGINT or SIGTERM, then stops listening for them. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Starts what `start` makes, logs `started(it)`, and at a stop signal closes it and logs `stopped`. */
export async function runUntilStopped<T extends { close(): Promise<void> }>(args: {
  readonly start: () => Promise<T>;
  readonly started: (running: T) => string;
  readonly stopped: string;
  /** Where the notices go; stdout, a line each, by default. */
  readonly log: ((line: string) => void) | undefined;
}): Promise<void> {
  const log = args.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const running = await args.start();
  log(args.started(running));
  await untilStopSignal();
  await running.close();
  log(args.stopped);
}
