import { parseArgs } from 'node:util';
import { runEmulatorCli } from './cli';

/** `tsx src/emulator/main.ts --port 8999 [--state file]`: the emulator alone, without the project CLI. */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', default: process.env.EMULATOR_PORT ?? '8999' },
      host: { type: 'string', default: '127.0.0.1' },
      state: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0..65535, got ${values.port}`);
  await runEmulatorCli({
    port,
    host: values.host,
    ...(values.state === undefined ? {} : { stateFile: values.state }),
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
