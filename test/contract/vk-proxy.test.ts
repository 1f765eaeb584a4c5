import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorType, TypedError } from '../../src/contracts/errors';
import type { MessengerSettings } from '../../src/messenger/port';
import { createVkMessenger } from '../../src/messenger/vk-client';
import { startPlatform, type Platform } from './vk-harness';

/**
 * S2: the exchange may go through an HTTP proxy, with Basic auth on or off. A real proxy
 * (npm `proxy`) sits between the client and the emulator; we count the tunnels it opens.
 */

const USER = 'school-proxy';
const PASSWORD = 'S3cret-proxy-pass!';

/** `proxy` is ESM-only; this file is CommonJS, so it is loaded with a dynamic import. */
type ProxyServer = Server & {
  authenticate?: ((req: IncomingMessage) => boolean | Promise<boolean>) | 'negotiate' | undefined;
};

interface RunningProxy {
  readonly server: ProxyServer;
  readonly port: number;
  /** CONNECT tunnels opened, and how many were refused for bad credentials. */
  readonly counts: { connects: number; refused: number };
  close(): Promise<void>;
}

async function startProxy(requireAuth: boolean): Promise<RunningProxy> {
  const { createProxy } = await import('proxy');
  const counts = { connects: 0, refused: 0 };
  const server: ProxyServer = createProxy(createServer());
  server.on('connect', () => {
    counts.connects++;
  });
  if (requireAuth) {
    const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    server.authenticate = (req: IncomingMessage) => {
      const ok = req.headers['proxy-authorization'] === expected;
      if (!ok) counts.refused++;
      return ok;
    };
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function viaProxy(
  p: Platform,
  proxy: RunningProxy,
  auth: NonNullable<MessengerSettings['proxy']>['auth'],
  password = PASSWORD,
): MessengerSettings {
  return {
    ...p.settings,
    proxy: { server: '127.0.0.1', port: proxy.port, username: USER, password, auth },
  };
}

async function proxyFailure(promise: Promise<unknown>): Promise<TypedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TypedError, String(err));
    assert.equal(err.type, ErrorType.ProxyFailure, err.message);
    return err;
  }
  assert.fail('expected a ProxyFailure');
}

void describe('VK client through an HTTP proxy (S2)', () => {
  let p: Platform;
  before(async () => {
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
  });
  after(async () => {
    await p.emulator.close();
  });

  void it('without proxy auth, every request goes through the proxy', async () => {
    const proxy = await startProxy(false);
    const m = createVkMessenger(viaProxy(p, proxy, false));
    try {
      const before = p.emulator.stats.requests;
      const { chatId } = await m.createChat({ title: 'Через прокси', userIds: [1] });
      await m.addMembers({ ops: [{ chatId, userId: 2 }] });
      assert.equal((await m.listChats()).length >= 1, true);
      assert.equal(p.emulator.stats.requests - before, 3);
      assert.ok(proxy.counts.connects >= 1, 'no tunnel was opened through the proxy');
    } finally {
      await m.close();
      await proxy.close();
    }
    // With the proxy gone the same settings cannot reach VK at all: the traffic really went through it.
    const m2 = createVkMessenger(viaProxy(p, proxy, false));
    try {
      const err = await proxyFailure(m2.listChats());
      assert.match(err.message, /cannot connect to proxy 127\.0\.0\.1:\d+/);
    } finally {
      await m2.close();
    }
  });

  void it('with Basic proxy auth and the right password, requests pass', async () => {
    const proxy = await startProxy(true);
    const m = createVkMessenger(viaProxy(p, proxy, true));
    try {
      await m.listChats();
      await m.callsStart();
      assert.ok(proxy.counts.connects >= 1);
      assert.equal(proxy.counts.refused, 0);
    } finally {
      await m.close();
      await proxy.close();
    }
  });

  void it('a wrong proxy password fails clearly with ProxyFailure and never shows the password', async () => {
    const proxy = await startProxy(true);
    const wrong = 'Wrong-pass-42';
    const m = createVkMessenger(viaProxy(p, proxy, true, wrong));
    const before = p.emulator.stats.requests;
    try {
      const err = await proxyFailure(m.listChats());
      assert.match(err.message, /407/);
      assert.match(err.message, /user name and password/);
      const dump = JSON.stringify({ message: err.message, details: err.details, stack: err.stack });
      for (const secret of [
        wrong,
        PASSWORD,
        Buffer.from(`${USER}:${wrong}`).toString('base64'),
        p.token,
      ]) {
        assert.ok(!dump.includes(secret), 'a secret leaked into the error');
      }
      assert.equal(proxy.counts.refused, 1);
      assert.equal(p.emulator.stats.requests, before, 'a refused request must not reach VK');
    } finally {
      await m.close();
      await proxy.close();
    }
  });

  void it('auth switched off against a proxy that requires it is a ProxyFailure too', async () => {
    const proxy = await startProxy(true);
    const m = createVkMessenger(viaProxy(p, proxy, false));
    try {
      await proxyFailure(m.listChats());
      assert.equal(proxy.counts.refused, 1);
    } finally {
      await m.close();
      await proxy.close();
    }
  });

  void it('auth on with an empty user name is refused before any request', () => {
    assert.throws(
      () =>
        createVkMessenger({
          ...p.settings,
          proxy: { server: '127.0.0.1', port: 3128, password: 'x', auth: true },
        }),
      (err: unknown) => err instanceof TypedError && err.type === ErrorType.NotConfigured,
    );
  });
});
