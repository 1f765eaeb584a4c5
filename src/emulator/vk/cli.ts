import { runUntilStopped } from '../kit/cli';
import type { EmulatorOptions } from './options';
import { createEmulator } from './server';

export interface EmulatorCliArgs {
  readonly port: number;
  readonly host?: string;
  readonly stateFile?: string;
  readonly options?: Partial<EmulatorOptions>;
  /** Where the one-line startup notice goes; the CLI passes its logger. */
  readonly log?: (line: string) => void;
}

/**
 * Runs the emulator until SIGINT/SIGTERM, then flushes the state file and resolves. The state
 * file is written on every change, so a killed process loses at most the last ~100 ms.
 */
export function runEmulatorCli(args: EmulatorCliArgs): Promise<void> {
  return runUntilStopped({
    start: () =>
      createEmulator({
        port: args.port,
        ...(args.host === undefined ? {} : { host: args.host }),
        ...(args.stateFile === undefined ? {} : { stateFile: args.stateFile }),
        ...(args.options === undefined ? {} : { options: args.options }),
      }),
    started: (emulator) =>
      `VK API emulator listening on ${emulator.url} (API: ${emulator.url}/method/<name>, controls: ${emulator.url}/__emulator/state, a person in the app: ${emulator.url}/__emulator/person/..., call end signal ${emulator.options.callEndSignal})` +
      (args.stateFile === undefined ? '' : `, state file ${args.stateFile}`),
    stopped: 'VK API emulator stopped',
    log: args.log,
  });
}
