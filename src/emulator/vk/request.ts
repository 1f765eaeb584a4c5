import type { IncomingMessage } from 'node:http';
import { readBody } from '../kit/http';
import { VkMethodError } from './methods/errors';

/**
 * A `/method/` request as VK reads it: parameters from the query string and form bodies, the one
 * token it acts with, and the parameters VK echoes back in an error.
 */

const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface MethodRequest {
  /** Query string, then body: a later value of a name replaces an earlier one. */
  readonly params: Record<string, string>;
  /** Every `access_token` value sent, query and body, in order: the token check sees them all. */
  readonly tokens: readonly string[];
}

/**
 * VK reads parameters from the query string and from form bodies (urlencoded or multipart). Any
 * other body, JSON included, is not read at all, so its fields simply are not there.
 */
export async function readParams(req: IncomingMessage, url: URL): Promise<MethodRequest> {
  const params: Record<string, string> = {};
  const tokens: string[] = [];
  const add = (k: string, v: string): void => {
    params[k] = v;
    if (k === 'access_token') tokens.push(v);
  };
  for (const [k, v] of url.searchParams) add(k, v);
  if (req.method !== 'POST') return { params, tokens };
  const body = await readBody(req, MAX_BODY_BYTES);
  const contentType = req.headers['content-type'] ?? '';
  const lower = contentType.toLowerCase();
  if (lower.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) add(k, v);
  } else if (lower.startsWith('multipart/form-data')) {
    for (const [k, v] of Object.entries(multipartFields(body, contentType))) add(k, v);
  }
  return { params, tokens };
}

/**
 * The one token a request acts with. Each place it may come from (`access_token` in the query or
 * the body, `Authorization: Bearer`) is checked, and two different values are refused: VK does
 * not document which would win (UNCONFIRMED), and a check that read one while the method acted
 * with another could be bypassed.
 */
export function callerToken(
  tokens: readonly string[],
  authorization: string | undefined,
): string | VkMethodError {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  const presented = bearer === undefined ? tokens : [...tokens, bearer];
  const [first] = presented;
  if (first === undefined || first === '') return new VkMethodError(5, 'no access_token passed.');
  if (presented.some((t) => t !== first)) {
    return new VkMethodError(5, 'access_token passed more than once with different values.');
  }
  return first;
}

/** The text fields of a multipart/form-data body (RFC 7578); file parts are skipped, no method here takes files. */
export function multipartFields(body: Buffer, contentType: string): Record<string, string> {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  const fields: Record<string, string> = {};
  if (boundary === undefined) return fields;
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // Each part sits between "\r\n" after the delimiter line and "\r\n" before the next delimiter.
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const disposition =
        /content-disposition:\s*form-data\s*;([^\r\n]*)/i.exec(headers)?.[1] ?? '';
      const name = /(?:^|;)\s*name="([^"]*)"/i.exec(disposition)?.[1];
      if (name !== undefined && !/filename\*?=/i.test(disposition)) {
        fields[name] = part.subarray(headerEnd + 4).toString('utf8');
      }
    }
    at = next;
  }
  return fields;
}

/** `request_params` as VK echoes them: method and oauth first, then what was sent, never the token. */
export function requestParams(
  method: string,
  params: Readonly<Record<string, string>>,
): { key: string; value: string }[] {
  const out = [
    { key: 'method', value: method },
    { key: 'oauth', value: '1' },
  ];
  for (const [key, value] of Object.entries(params))
    if (key !== 'access_token') out.push({ key, value });
  return out;
}
