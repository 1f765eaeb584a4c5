import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * One e-diary event (V4, V1): what the portal receives by webhook and what the feed returns.
 * Only opaque IDs and the join link: the portal maps IDs to its own pupils, so no name or other
 * personal data ever leaves us. Workflows may `import type` from here, not the module itself:
 * the signature helpers below need node:crypto.
 */
export const diaryEventSchema = z.object({
  /** Stable per (lesson, event): the idempotency key, equal across every retry of one delivery. */
  eventId: z.string().min(1),
  /** Per-school sequence; the feed's cursor (`?after=<cursor>`). */
  cursor: z.number().int().positive(),
  schoolId: z.string().min(1),
  journalId: z.string().min(1),
  lessonId: z.string().min(1),
  kind: z.enum(['linkPublished', 'linkChanged', 'linkWithdrawn']),
  /**
   * Null when withdrawn: the call is over and the old link leads nowhere. Web links only, so a
   * portal that renders it as a link cannot be handed a `javascript:` one.
   */
  joinLink: z.url({ protocol: /^https?$/ }).nullable(),
  occurredAt: z.iso.datetime(),
});

export type DiaryEvent = z.infer<typeof diaryEventSchema>;
export type DiaryEventKind = DiaryEvent['kind'];

export const DIARY_SIGNATURE_HEADER = 'x-sferum-signature';
export const DIARY_TIMESTAMP_HEADER = 'x-sferum-timestamp';
/** Carries the event's `eventId`. */
export const DIARY_IDEMPOTENCY_HEADER = 'idempotency-key';

/** How far a delivery's timestamp may be from the receiver's clock before it counts as replayed. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

const SIGNATURE_PREFIX = 'sha256=';
const SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;
/** Unix seconds, as the timestamp header carries them; anything else is refused outright. */
const TIMESTAMP_PATTERN = /^\d{1,12}$/;

export interface SignArgs {
  readonly secret: string;
  /** Unix seconds; signed with the body so an old delivery cannot be replayed with a new time. */
  readonly timestamp: number | string;
  /** The exact bytes sent, as text: re-serialising parsed JSON would not reproduce them. */
  readonly body: string;
}

/** `sha256=` + hex HMAC-SHA256 of `${timestamp}.${body}` under the school's secret. */
export function signDiaryBody({ secret, timestamp, body }: SignArgs): string {
  const mac = createHmac('sha256', secret)
    .update(`${String(timestamp)}.${body}`)
    .digest('hex');
  return `${SIGNATURE_PREFIX}${mac}`;
}

export interface VerifyArgs {
  readonly secret: string;
  /** The timestamp header as received; absent or malformed fails. */
  readonly timestamp: string | undefined;
  readonly body: string;
  /** The signature header as received. */
  readonly signature: string | undefined;
  /** The receiver's clock in milliseconds; defaults to `Date.now()`. */
  readonly now?: number;
  readonly toleranceSeconds?: number;
}

/**
 * True when the signature matches the body and the timestamp is within the tolerance of `now`
 * (either side: a clock ahead of ours is as suspect as one behind). The comparison is
 * constant-time so a forger learns nothing from how long a refusal took.
 */
export function verifyDiarySignature({
  secret,
  timestamp,
  body,
  signature,
  now = Date.now(),
  toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
}: VerifyArgs): boolean {
  if (timestamp === undefined || !TIMESTAMP_PATTERN.test(timestamp)) return false;
  if (signature === undefined || !SIGNATURE_PATTERN.test(signature)) return false;
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signDiaryBody({ secret, timestamp, body }), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // Both passed the same pattern, so their lengths match and timingSafeEqual cannot throw.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
