import type { ZodApp } from './context';
import { ApiError } from './errors';

/** Our bodies nest six levels at most (a change set's staff position); far deeper is hostile. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Whether a JSON text nests deeper than `max`, by one pass over its brackets outside strings. */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * JSON bodies only, parsed as Fastify does by default (secure-json-parse, `__proto__` and
 * `constructor` refused) once a linear check of their nesting has passed: V8 takes seconds and
 * hundreds of megabytes over a 16 MiB body of nested arrays, blocking every other request, and
 * the check refuses it in milliseconds. Without the text parser a text body is a 415 instead of a
 * string reaching the schemas.
 */
export function registerJsonBodies(app: ZodApp): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new ApiError('invalid_input', `the body nests deeper than ${MAX_JSON_DEPTH} levels`));
      return;
    }
    void parse(request, text, done);
  });
}
