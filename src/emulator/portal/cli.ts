import { runUntilStopped } from '../kit/cli';
import { WEBHOOK_PATH, createPortalEmulator } from './server';

export interface PortalEmulatorCliArgs {
  readonly port: number;
  readonly host?: string;
  /** Schools known from the start; more arrive by `POST /__portal/schools`. */
  readonly schools?: readonly { schoolId: string; secret: string }[];
  /** Where the one-line notices go; the CLI passes its logger. */
  readonly log?: (line: string) => void;
}

/** Runs the city portal emulator until SIGINT/SIGTERM; it keeps nothing on disk. */
export function runPortalEmulatorCli(args: PortalEmulatorCliArgs): Promise<void> {
  return runUntilStopped({
    start: () =>
      createPortalEmulator({
        port: args.port,
        ...(args.host === undefined ? {} : { host: args.host }),
        ...(args.schools === undefined ? {} : { schools: args.schools }),
      }),
    started: (portal) =>
      `City portal emulator listening on ${portal.url} (webhook: ${portal.url}${WEBHOOK_PATH}, controls: ${portal.url}/__portal/state)`,
    stopped: 'City portal emulator stopped',
    log: args.log,
  });
}
