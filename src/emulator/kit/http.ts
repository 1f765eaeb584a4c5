import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';

/**
 * The HTTP pieces both emulators share: a refusal with its status, JSON answers, bounded bodies,
 * zod-checked control bodies, and starting and stopping a server.
 */

/** A refusal: the HTTP status and a message naming what was wrong. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The whole body; past `maxBytes` it stops reading and refuses with 413. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw new HttpError(413, 'request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** A control body: empty is `{}`, anything else must be JSON. */
export function parseJson(text: string): unknown {
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

/** `value` as `schema` has it, or 400 naming each field that is wrong. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new HttpError(400, where.join('; '));
}

/**
 * Runs a request handler; what it throws becomes a JSON `{error}` answer: an `HttpError` with its
 * status, anything else 500. An answer already under way is left as it is.
 */
export function answerErrors(res: ServerResponse, handled: Promise<void>): void {
  handled.catch((err: unknown) => {
    if (res.headersSent || res.destroyed) return;
    const status = err instanceof HttpError ? err.status : 500;
    sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
  });
}

/** Listens on `port` (0: a free one); resolves with the port and the base URL. */
export async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

/** Stops listening and drops every open connection, held requests included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
