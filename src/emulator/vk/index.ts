export {
  createEmulator,
  noFaults,
  type CreateEmulatorArgs,
  type Emulator,
  type EmulatorFaults,
  type EmulatorStats,
  type StateDump,
} from './server';
export type { CallEndSignalMode } from './events';
export type { LongPollDown, LongPollFault } from './long-poll';
export { defaultEmulatorOptions, type EmulatorOptions } from './methods';
export { runEmulatorCli, type EmulatorCliArgs } from './cli';
