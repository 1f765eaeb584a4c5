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
export async function runPortalEmulatorCli(args: PortalEmulatorCliArgs): Promise<void> {
  const log = args.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const portal = await createPortalEmulator({
    port: args.port,
    ...(args.host === undefined ? {} : { host: args.host }),
    ...(args.schools === undefined ? {} : { schools: args.schools }),
  });
  log(
    `City portal emulator listening on ${portal.url} (webhook: ${portal.url}${WEBHOOK_PATH}, controls: ${portal.url}/__portal/state)`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await portal.close();
  log('City portal emulator stopped');
}
