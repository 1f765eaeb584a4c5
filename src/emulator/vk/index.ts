/**
 * The VK API emulator: stands in for the VK API (methods, `execute`, the Bots Long Poll and the
 * Callback API) in the demo, the tests and the benchmarks. It imports nothing of the product.
 */
export {
  createEmulator,
  noFaults,
  type CreateEmulatorArgs,
  type Emulator,
  type EmulatorFaults,
  type EmulatorStats,
  type StateDump,
  type StrikeFault,
  type StruckRequest,
} from './server';
export type { CallEndSignalMode } from './events';
export type { LongPollDown, LongPollFault } from './long-poll';
export { PEER_CHAT_OFFSET } from './methods';
export { defaultEmulatorOptions, type EmulatorOptions } from './options';
export { runEmulatorCli, type EmulatorCliArgs } from './cli';
