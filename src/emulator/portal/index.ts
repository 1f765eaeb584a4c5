/**
 * The city portal emulator: stands in for the e-diary that receives our diary events. It imports
 * only the contract we publish to portals (`src/diary/events.ts`).
 */
export {
  WEBHOOK_PATH,
  createPortalEmulator,
  type CreatePortalEmulatorArgs,
  type PortalEmulator,
  type PortalFaults,
  type PortalState,
  type ReceivedDelivery,
  type Rejection,
} from './server';
export { runPortalEmulatorCli, type PortalEmulatorCliArgs } from './cli';
