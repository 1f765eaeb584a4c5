import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../src/dev/processes';
import type { StateDump } from '../../src/emulator/vk';

/**
 * The VK API emulator in a process of its own, as the platform is to the worker: its work does not
 * queue behind the worker's on one event loop, and the time it stamps on a call (`startedAt`, taken
 * as the request is handled) is the moment the platform received `calls.start`.
 */
export interface EmulatorProcess {
  readonly url: string;
  addCommunity(args: { communityId: number; token: string }): Promise<void>;
  /** A chat the community owns, as if the sync had created it; returns its chat ID. */
  createChat(args: { communityId: number; title: string }): Promise<number>;
  state(): Promise<StateDump>;
  stop(): Promise<void>;
}

async function control<T>(url: string, init?: { body: unknown }): Promise<T> {
  const res = await fetch(
    url,
    init
      ? {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(init.body),
        }
      : {},
  );
  if (!res.ok) throw new Error(`emulator ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '../../src/emulator/vk/main.ts'), '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}: ${output}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async addCommunity(body) {
      await control(`${url}/__emulator/communities`, { body });
    },
    async createChat(body) {
      return (await control<{ chatId: number }>(`${url}/__emulator/chats`, { body })).chatId;
    },
    state: () => control<StateDump>(`${url}/__emulator/state`),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
