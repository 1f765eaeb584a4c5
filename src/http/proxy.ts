import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { ErrorType, TypedError } from '../contracts/errors';
import type { SchoolProxy } from '../contracts/settings';

/** What every outbound adapter (the VK API, its long poll, the e-diary webhook) sends through. */
export type ProxyTarget = SchoolProxy;

export interface DispatcherTimeouts {
  readonly connectTimeout: number;
  /** Absent: undici's default, for a long poll that holds its answer on purpose. */
  readonly headersTimeout?: number;
  readonly bodyTimeout?: number;
}

/** The proxy's address without credentials (they go in a header, never in a URL that may be logged). */
export function proxyUrl(proxy: ProxyTarget): URL {
  const url = new URL(proxy.server.includes('://') ? proxy.server : `http://${proxy.server}`);
  url.port = String(proxy.port);
  url.username = '';
  url.password = '';
  return url;
}

/** The Basic credential when authentication is on; a half-configured one is refused by name. */
export function proxyBasic(proxy: ProxyTarget | null | undefined): string | undefined {
  if (!proxy?.auth) return undefined;
  if (!proxy.username || proxy.password === undefined) {
    throw new TypedError(
      ErrorType.NotConfigured,
      'Proxy authentication is on but the proxy user name or password is empty',
    );
  }
  return Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64');
}

/**
 * A plain agent, or the school's proxy as a CONNECT tunnel for every request: undici 8 forwards
 * plain-HTTP requests to a proxy instead of tunnelling them, and the schools' proxies expect the
 * tunnel (as under undici 7).
 */
export function proxyDispatcher(
  proxy: ProxyTarget | null | undefined,
  timeouts: DispatcherTimeouts,
): Dispatcher {
  if (!proxy) return new Agent(timeouts);
  const basic = proxyBasic(proxy);
  const opts: ProxyAgent.Options = { uri: proxyUrl(proxy).href, proxyTunnel: true, ...timeouts };
  return new ProxyAgent(basic === undefined ? opts : { ...opts, token: `Basic ${basic}` });
}

/** The network error code of an undici failure, looked for down its causes. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  return errorCode((err as { cause?: unknown }).cause);
}

/** Codes that mean the first hop (the proxy, when there is one) could not be reached. */
export const CONNECT_FAILURES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
