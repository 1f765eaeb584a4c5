/**
 * S2: the proxy as the manual writes it in the exchange task's settings, one `key=value` a line:
 *
 *   proxy_server=proxy.school.local
 *   proxy_port=3128
 *   proxy_username=school
 *   proxy_password=…
 *   proxy_auth=1
 *
 * Parsed into the structured proxy settings, so an operator can paste what they already have.
 * Pure and without zod on purpose: the settings schema calls it inside its own transform, and the
 * error paths must name the manual's keys, not ours. No message ever quotes a value: the text
 * holds a password.
 */

export const proxyTextKeys = [
  'proxy_server',
  'proxy_port',
  'proxy_username',
  'proxy_password',
  'proxy_auth',
] as const;
export type ProxyTextKey = (typeof proxyTextKeys)[number];

/** Far above five lines of at most 255 characters; bounds the work a hostile body can cost. */
export const PROXY_TEXT_MAX_LENGTH = 4096;

const MAX_VALUE_LENGTH = 255;

export interface ProxyFromText {
  readonly server: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly auth: boolean;
}

export interface ProxyTextIssue {
  /** The manual's key the problem is about, or null when it is about a line or the whole text. */
  readonly key: string | null;
  readonly message: string;
}

/** `proxy` is null when the text holds no lines at all: the school has no proxy. */
export type ProxyTextResult =
  | { readonly ok: true; readonly proxy: ProxyFromText | null }
  | { readonly ok: false; readonly errors: readonly ProxyTextIssue[] };

/** A key is quoted back only when it looks like a key, so a pasted secret is never echoed. */
const QUOTABLE_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

function isKnownKey(key: string): key is ProxyTextKey {
  return (proxyTextKeys as readonly string[]).includes(key);
}

/** Reads the lines into a key → value map, reporting malformed, unknown and repeated keys. */
function readLines(text: string, errors: ProxyTextIssue[]): Map<ProxyTextKey, string> {
  const values = new Map<ProxyTextKey, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const lineNo = index + 1;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      errors.push({ key: null, message: `line ${lineNo}: expected key=value` });
      return;
    }
    const key = line.slice(0, eq).trim();
    if (!isKnownKey(key)) {
      errors.push(
        QUOTABLE_KEY.test(key)
          ? { key, message: `unknown key (expected one of ${proxyTextKeys.join(', ')})` }
          : { key: null, message: `line ${lineNo}: unknown key` },
      );
      return;
    }
    if (values.has(key)) {
      errors.push({ key, message: `appears more than once (again on line ${lineNo})` });
      return;
    }
    values.set(key, line.slice(eq + 1).trim());
  });
  return values;
}

function parsePort(value: string | undefined, errors: ProxyTextIssue[]): number | null {
  if (value === undefined || value === '') {
    errors.push({ key: 'proxy_port', message: 'is required' });
    return null;
  }
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    errors.push({ key: 'proxy_port', message: 'must be a whole number from 1 to 65535' });
    return null;
  }
  return port;
}

function parseAuth(value: string | undefined, errors: ProxyTextIssue[]): boolean | null {
  if (value === '1' || value === '0') return value === '1';
  errors.push({
    key: 'proxy_auth',
    message: value === undefined || value === '' ? 'is required (1 or 0)' : 'must be 1 or 0',
  });
  return null;
}

function parseServer(value: string | undefined, errors: ProxyTextIssue[]): string | null {
  if (value === undefined || value === '') {
    errors.push({ key: 'proxy_server', message: 'is required' });
    return null;
  }
  if (/\s/.test(value)) {
    errors.push({ key: 'proxy_server', message: 'must not contain spaces' });
    return null;
  }
  if (value.length > MAX_VALUE_LENGTH) {
    errors.push({ key: 'proxy_server', message: `is longer than ${MAX_VALUE_LENGTH} characters` });
    return null;
  }
  return value;
}

/** An empty user name or password is the manual's way of leaving it out. */
function optional(
  key: ProxyTextKey,
  value: string | undefined,
  errors: ProxyTextIssue[],
): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_VALUE_LENGTH) {
    errors.push({ key, message: `is longer than ${MAX_VALUE_LENGTH} characters` });
  }
  return value;
}

export function parseProxyText(text: string): ProxyTextResult {
  if (text.length > PROXY_TEXT_MAX_LENGTH) {
    return {
      ok: false,
      errors: [{ key: null, message: `is longer than ${PROXY_TEXT_MAX_LENGTH} characters` }],
    };
  }
  const errors: ProxyTextIssue[] = [];
  const values = readLines(text, errors);
  if (errors.length === 0 && values.size === 0) return { ok: true, proxy: null };
  const server = parseServer(values.get('proxy_server'), errors);
  const port = parsePort(values.get('proxy_port'), errors);
  const username = optional('proxy_username', values.get('proxy_username'), errors);
  const password = optional('proxy_password', values.get('proxy_password'), errors);
  const auth = parseAuth(values.get('proxy_auth'), errors);
  if (auth === true) {
    if (username === undefined)
      errors.push({ key: 'proxy_username', message: 'is required when proxy_auth=1' });
    if (password === undefined)
      errors.push({ key: 'proxy_password', message: 'is required when proxy_auth=1' });
  }
  if (errors.length > 0 || server === null || port === null || auth === null) {
    return { ok: false, errors };
  }
  return {
    ok: true,
    proxy: {
      server,
      port,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      auth,
    },
  };
}
