import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorType, TypedError } from '../contracts/errors';
import { ROOT, formatPath } from '../contracts/zod-issues';

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
  'unsupported_media_type',
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
  unsupported_media_type: 415,
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

/**
 * A reply lists at most this many fields: a hostile body must not turn into a huge answer. Above
 * the roster importer's own cap, so its note that validation stopped is always shown.
 */
export const MAX_LISTED_FIELDS = 500;

export function errorBody(
  code: ErrorCode,
  message: string,
  fields?: readonly FieldError[],
): ErrorBody {
  if (fields === undefined || fields.length === 0) return { error: { code, message } };
  const listed = fields.slice(0, MAX_LISTED_FIELDS);
  if (fields.length > MAX_LISTED_FIELDS) {
    listed.push({
      path: ROOT,
      message: `${fields.length - MAX_LISTED_FIELDS} more errors not listed`,
    });
  }
  return { error: { code, message, fields: listed } };
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
  return formatPath(
    segments.map((s) => (typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : s)),
  );
}

const fieldListSchema = z.array(fieldErrorSchema);

function fieldsFromTyped(error: TypedError): FieldError[] {
  const parsed = fieldListSchema.safeParse(error.details?.errors);
  return parsed.success ? parsed.data : [];
}

function send(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  fields?: readonly FieldError[],
) {
  return reply
    .status(STATUS[code])
    .type('application/json')
    .send(errorBody(code, message, fields));
}

/**
 * zod reports unknown keys as one issue on their object, its message quoting them all; the reply
 * names each unknown field by its own path instead.
 */
function issueFields(
  segments: readonly (string | number)[],
  message: string,
  unknownKeys: unknown,
): FieldError[] {
  if (Array.isArray(unknownKeys)) {
    return unknownKeys.map((key) => ({
      path: pathOf([...segments, String(key)]),
      message: 'unknown field',
    }));
  }
  return [{ path: pathOf(segments), message }];
}

/**
 * Fastify's own client errors, by code, with fixed messages: some of Fastify's and the JSON
 * parser's messages quote the request (a URL, a piece of the body), which may hold a secret.
 */
const clientErrors: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_input', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'invalid_input',
    message: 'the body is empty; send a JSON object or no content type',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'invalid_input',
    message: 'the body does not match its Content-Length',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: 'send the body as application/json',
  },
  FST_ERR_BAD_URL: { code: 'invalid_input', message: 'the URL is not valid' },
};

export function handleError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'request';
    const fields = error.validation.flatMap((v) =>
      issueFields(v.instancePath.split('/').filter(Boolean), v.message ?? 'invalid', v.params.keys),
    );
    return send(reply, 'invalid_input', `invalid ${where}`, fields);
  }
  if (error instanceof z.ZodError) {
    const fields = error.issues.flatMap((i) =>
      issueFields(
        i.path.filter((k): k is string | number => typeof k !== 'symbol'),
        i.message,
        i.code === 'unrecognized_keys' ? i.keys : undefined,
      ),
    );
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
  const known =
    'code' in error && typeof error.code === 'string' ? clientErrors[error.code] : undefined;
  if (known !== undefined) return send(reply, known.code, known.message);
  const status =
    'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status === 413) return send(reply, 'payload_too_large', 'request body too large');
  if (status === 415)
    return send(reply, 'unsupported_media_type', 'send the body as application/json');
  if (status >= 400 && status < 500)
    return send(reply, 'invalid_input', 'the request is malformed');
  request.log.error({ err: error }, 'request failed');
  return send(reply, 'internal', 'internal error');
}
