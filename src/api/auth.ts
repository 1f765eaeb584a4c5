import type { FastifyRequest } from 'fastify';
import type { Journal } from '../contracts/roster';
import type { AuthStore, Principal } from '../store/auth-store';
import { ApiError, forbidden, notFound, unauthorized } from './errors';
import type { RosterPort } from './ports';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `authenticate` hook on routes that need a credential. */
    principal: Principal | null;
  }
}

/**
 * Counts failed authentications per client address in a sliding window. Once an address reaches
 * the limit, every credential from it is refused with 429 until its oldest failure leaves the
 * window, so guessing cannot continue by mixing in a known-good key.
 */
export interface FailureLimiter {
  isBlocked(ip: string): boolean;
  recordFailure(ip: string): void;
}

/** Addresses are kept only while they have failures in the window; this bounds the map. */
const MAX_TRACKED_ADDRESSES = 10_000;

export function createFailureLimiter({
  limit,
  windowMs,
  now,
}: {
  limit: number;
  windowMs: number;
  now: () => number;
}): FailureLimiter {
  const failures = new Map<string, number[]>();

  function recent(ip: string): number[] {
    const cutoff = now() - windowMs;
    const kept = (failures.get(ip) ?? []).filter((t) => t > cutoff);
    if (kept.length === 0) failures.delete(ip);
    else failures.set(ip, kept);
    return kept;
  }

  return {
    isBlocked: (ip) => recent(ip).length >= limit,
    recordFailure(ip) {
      if (!failures.has(ip) && failures.size >= MAX_TRACKED_ADDRESSES) {
        // Evict the address tracked longest; under a spray from many addresses the newest
        // attempts matter most.
        const oldest = failures.keys().next();
        if (!oldest.done) failures.delete(oldest.value);
      }
      failures.set(ip, [...recent(ip), now()]);
    },
  };
}

const BEARER = /^Bearer ([^\s]+)$/;

/** The credential a request carries: only the Authorization header, so it never lands in a URL log. */
function credentialOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  return BEARER.exec(header)?.[1] ?? null;
}

export function createAuthenticate({
  auth,
  limiter,
  onFailure,
}: {
  auth: AuthStore;
  limiter: FailureLimiter;
  onFailure: (outcome: 'invalid' | 'blocked') => void;
}) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    if (limiter.isBlocked(request.ip)) {
      onFailure('blocked');
      throw new ApiError('rate_limited', 'too many failed attempts, try again later');
    }
    const credential = credentialOf(request);
    const principal = credential === null ? null : await auth.authenticate(credential);
    if (principal === null) {
      limiter.recordFailure(request.ip);
      onFailure('invalid');
      throw unauthorized();
    }
    request.principal = principal;
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw unauthorized();
  return request.principal;
}

/** The school's admin calls: only that school's admin key. */
export function requireSchoolAdmin(request: FastifyRequest, schoolId: string): Principal {
  const principal = principalOf(request);
  if (principal.kind !== 'admin' || principal.schoolId !== schoolId) throw forbidden();
  return principal;
}

/**
 * A journal's calls and lessons: the school's admin, or a teacher assigned to the journal. A
 * teacher gets the same 403 whether the journal exists elsewhere, nowhere, or without them, so
 * the answer reveals nothing about other schools' journals.
 */
/**
 * The pre-validation hook of every school admin route: the path's school is checked before the
 * body is read, so another school's admin key learns nothing from validation errors.
 */
export function schoolAdminGuard(
  request: FastifyRequest,
  _reply: unknown,
  done: (error?: Error) => void,
): void {
  const params = request.params as { id?: unknown };
  try {
    requireSchoolAdmin(request, typeof params.id === 'string' ? params.id : '');
    done();
  } catch (error) {
    done(error as Error);
  }
}

/** The school's e-diary feed: its admin key or its portal key. */
export function diaryFeedGuard(
  request: FastifyRequest,
  _reply: unknown,
  done: (error?: Error) => void,
): void {
  const params = request.params as { id?: unknown };
  const principal = request.principal;
  const schoolId = typeof params.id === 'string' ? params.id : '';
  if (principal === null) done(unauthorized());
  else if (principal.kind === 'teacher' || principal.schoolId !== schoolId) done(forbidden());
  else done();
}

export async function requireJournalAccess(
  request: FastifyRequest,
  roster: RosterPort,
  journalId: string,
): Promise<{ principal: Principal; journal: Journal }> {
  const principal = principalOf(request);
  const journal = await roster.getJournal({ schoolId: principal.schoolId, journalId });
  if (principal.kind === 'portal') throw forbidden();
  if (principal.kind === 'admin') {
    if (journal === null) throw notFound('journal');
    return { principal, journal };
  }
  if (journal === null || !journal.teacherIds.includes(principal.staffId)) throw forbidden();
  return { principal, journal };
}

/** What the workflows record as the actor: a staff ID, or the school admin role; never a name. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'teacher' ? principal.staffId : 'school-admin';
}
