import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';

/**
 * One error shape for every failure: `{ error: { code, message, fields? } }`. Messages are fixed
 * per code or name a field; they never echo submitted values, which may be secrets or names.
 */

export const errorCodes = [
  'invalid_input',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export const fieldErrorSchema = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof fieldErrorSchema>;

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string(),
      fields: z.array(fieldErrorSchema).optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

const STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** An error a route raises on purpose; the handler below turns it into the shape above. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: readonly FieldError[],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return STATUS[this.code];
  }
}

/** The generic answers for authentication and authorisation: they must not tell cases apart. */
export const unauthorized = (): ApiError => new ApiError('unauthorized', 'authentication required');
export const forbidden = (): ApiError => new ApiError('forbidden', 'not allowed');
export const notFound = (what: string): ApiError => new ApiError('not_found', `${what} not found`);

export function errorBody(code: ErrorCode, message: string, fields?: readonly FieldError[]): ErrorBody {
  return { error: { code, message, ...(fields && fields.length > 0 ? { fields: [...fields] } : {}) } };
}

/** Every response that may fail: the documented error replies, for the route schemas. */
export function errorReplies<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, errorBodySchema])) as Record<
    S[number],
    typeof errorBodySchema
  >;
}

/** `/students/3/classId` → `students[3].classId`, the form the roster importer uses too. */
function pathOf(segments: readonly (string | number)[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number' || /^\d+$/.test(segment)) out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(root)' : out;
}

const fieldListSchema = z.array(fieldErrorSchema);

function fieldsFromTyped(error: TypedError): FieldError[] {
  const parsed = fieldListSchema.safeParse(error.details?.errors);
  return parsed.success ? parsed.data : [];
}

function send(reply: FastifyReply, code: ErrorCode, message: string, fields?: readonly FieldError[]) {
  return reply.status(STATUS[code]).type('application/json').send(errorBody(code, message, fields));
}

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'request';
    const fields = error.validation.map((v) => ({
      path: pathOf(v.instancePath.split('/').filter(Boolean)),
      message: v.message ?? 'invalid',
    }));
    return send(reply, 'invalid_input', `invalid ${where}`, fields);
  }
  if (error instanceof z.ZodError) {
    const fields = error.issues.map((i) => ({
      path: pathOf(i.path.filter((k): k is string | number => typeof k !== 'symbol')),
      message: i.message,
    }));
    return send(reply, 'invalid_input', 'invalid request', fields);
  }
  if (error instanceof ApiError) return send(reply, error.code, error.message, error.fields);
  if (error instanceof TypedError) {
    if (error.type === ErrorType.InvalidInput) {
      return send(reply, 'invalid_input', error.message, fieldsFromTyped(error));
    }
    if (error.type === ErrorType.NotFound) return send(reply, 'not_found', error.message);
  }
  if (error instanceof ServiceError || error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    // Temporal is down or did not answer in time: the caller may retry, and a button should say so.
    request.log.warn({ err: error }, 'workflow service unavailable');
    return send(reply, 'unavailable', 'the workflow service is unavailable, try again');
  }
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status === 413) return send(reply, 'payload_too_large', 'request body too large');
  if (status === 415) return send(reply, 'invalid_input', 'unsupported content type');
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, empty body with a JSON content type): their
    // messages describe the request's syntax, not its contents, so they are safe to return.
    return send(reply, 'invalid_input', error.message);
  }
  request.log.error({ err: error }, 'request failed');
  return send(reply, 'internal', 'internal error');
}
