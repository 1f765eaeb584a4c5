import { randomBytes } from 'node:crypto';
import { createEmulator, type CreateEmulatorArgs, type Emulator } from '../../src/emulator/vk';
import type { MessengerSettings } from '../../src/messenger/port';

export const COMMUNITY_ID = 4242;

/** A fresh token per emulator so the process-wide limiter never carries state between tests. */
export function newToken(): string {
  return `vk1.a.${randomBytes(24).toString('base64url')}`;
}

export interface Platform {
  readonly emulator: Emulator;
  readonly token: string;
  readonly settings: MessengerSettings;
}

export async function startPlatform(
  args: CreateEmulatorArgs = {},
  settings: Partial<MessengerSettings> = {},
): Promise<Platform> {
  const token = newToken();
  const emulator = await createEmulator({
    ...args,
    communities: [{ communityId: COMMUNITY_ID, token }, ...(args.communities ?? [])],
  });
  return {
    emulator,
    token,
    settings: {
      communityId: COMMUNITY_ID,
      token,
      baseUrl: emulator.url,
      apiVersion: '5.199',
      rateLimitPerSecond: 20,
      ...settings,
    },
  };
}

/** POST to a control endpoint and return its JSON. */
export async function control(
  emulator: Emulator,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.url}/__emulator/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`control ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A raw form-encoded VK call, no client in between. */
export async function rawCall(
  emulator: Emulator,
  method: string,
  params: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${emulator.url}/method/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
