import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../kit/http';
import type { EventHub, PlatformEvent } from './events';

/**
 * The Bots Long Poll server (dev.vk.com "Bots Long Poll API"): `groups.getLongPollServer` hands
 * out `{key, server, ts}` with `server` = `<emulator>/__lp/<groupId>`, and
 * `GET <server>?act=a_check&key&ts&wait` answers `{ts, updates}` with the community's events
 * numbered `ts` and later, holding the request up to `wait` seconds (at most 90) while there are
 * none. `ts` is the number of the next event to hand out; the answer's `ts` is the one to ask
 * with next.
 *
 * - `failed: 1` with the current ts: the asked ts is older than the history kept
 *   (`longPollHistory` events per community), or not a number.
 * - `failed: 2`: the key is unknown or expired. Keys live `longPollKeyTtlMs` (as the option is
 *   now, so a test may shorten it for keys already out) and only in memory:
 *   an emulator restart expires them all, as a platform restart would. A new key does not revoke
 *   older ones (VK does not say; two listeners of one community may both run).
 * - `failed: 3`: the asked ts is ahead of the community's events (its history was reset).
 *
 * Faults, each once, in order (`strike`): failed1/2/3, `malformed` (an answer that is no LP
 * shape), `http502`, `drop` (the connection destroyed), `duplicate` (the next answer's events
 * are handed out again in the answer after it, as a redelivery). `longPollDown` makes every
 * request fail (502 or drop) until cleared.
 */

export type LongPollFault =
  'failed1' | 'failed2' | 'failed3' | 'malformed' | 'http502' | 'drop' | 'duplicate';

export type LongPollDown = 'http502' | 'drop' | null;

export interface LongPollSide {
  issue(communityId: number): { key: string; server: string; ts: string };
  handle(req: IncomingMessage, res: ServerResponse, url: URL, communityId: number): void;
  strike(fault: LongPollFault): void;
  /** Strikes armed and not yet used. */
  pending(): readonly LongPollFault[];
  /** Forgets keys, waiters (answered empty) and strikes. */
  reset(): void;
}

const MAX_WAIT_SECONDS = 90;
const DEFAULT_WAIT_SECONDS = 25;
const MAX_UPDATES = 100;

interface Waiter {
  readonly communityId: number;
  /** Answers the held request if there is something to hand out (or it is gone); true then. */
  readonly answer: () => boolean;
}

/** The held a_check requests, oldest first. */
class WaitList {
  #list: Waiter[] = [];

  add(waiter: Waiter): void {
    this.#list.push(waiter);
  }

  remove(waiter: Waiter): void {
    this.#list = this.#list.filter((w) => w !== waiter);
  }

  /** Offers the community's new events to its waiters; those still empty-handed wait on. */
  wake(communityId: number): void {
    const ready = this.#list.filter((w) => w.communityId === communityId);
    this.#list = this.#list.filter((w) => w.communityId !== communityId);
    for (const w of ready) if (!w.answer()) this.#list.push(w);
  }

  /** Answers every waiter (empty when there is nothing) and forgets them. */
  drain(): void {
    const all = this.#list;
    this.#list = [];
    for (const w of all) w.answer();
  }
}

/**
 * Holds a request until `answerNow` has something or `waitSeconds` pass (then `empty`), or the
 * client goes away.
 */
function hold(
  waiters: WaitList,
  res: ServerResponse,
  request: {
    readonly communityId: number;
    readonly answerNow: () => unknown;
    readonly empty: unknown;
    readonly waitSeconds: number;
  },
): void {
  const { communityId, answerNow, empty, waitSeconds } = request;
  let done = false;
  const finish = (body: unknown): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    waiters.remove(waiter);
    if (!res.destroyed) sendJson(res, 200, body);
  };
  const waiter: Waiter = {
    communityId,
    answer: () => {
      if (done) return true;
      const body = answerNow();
      if (body === null) return false;
      finish(body);
      return true;
    },
  };
  const timer = setTimeout(() => finish(empty), waitSeconds * 1000);
  // A held request never keeps the process alive (a closing emulator drops its connections).
  timer.unref();
  res.on('close', () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    waiters.remove(waiter);
  });
  waiters.add(waiter);
}

function badGateway(res: ServerResponse): void {
  res.writeHead(502, { 'content-type': 'text/html' });
  res.end('<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>');
}

export function createLongPollSide(args: {
  readonly hub: EventHub;
  readonly baseUrl: () => string;
  readonly keyTtlMs: () => number;
  readonly down: () => LongPollDown;
  readonly now: () => number;
}): LongPollSide {
  const { hub, now } = args;
  const keys = new Map<string, { communityId: number; issuedAt: number }>();
  const expired = (k: { issuedAt: number }): boolean => k.issuedAt + args.keyTtlMs() <= now();
  let strikes: LongPollFault[] = [];
  const waiters = new WaitList();
  /** Events of an answer struck with `duplicate`, to hand out again in the next answer. */
  const redeliver = new Map<number, PlatformEvent[]>();
  const duplicateNext = new Set<number>();

  hub.subscribe((communityId) => waiters.wake(communityId));

  /** The answer for `ts` now, or null when there is nothing yet. */
  function answerFor(communityId: number, ts: number): unknown {
    const log = hub.log(communityId);
    if (ts > log.nextTs) return { failed: 3 };
    const firstKept = log.events[0]?.ts ?? log.nextTs;
    if (ts < firstKept && firstKept > 1) return { failed: 1, ts: String(log.nextTs) };
    const fresh = log.events.filter((e) => e.ts >= ts).slice(0, MAX_UPDATES);
    const again = redeliver.get(communityId) ?? [];
    if (fresh.length === 0 && again.length === 0) return null;
    redeliver.delete(communityId);
    const events = fresh.map((e) => e.event as PlatformEvent);
    if (duplicateNext.has(communityId) && events.length > 0) {
      duplicateNext.delete(communityId);
      redeliver.set(communityId, events);
    }
    const next = fresh.length === 0 ? ts : (fresh[fresh.length - 1]?.ts ?? ts) + 1;
    return { ts: String(next), updates: [...again, ...events] };
  }

  function handle(req: IncomingMessage, res: ServerResponse, url: URL, communityId: number): void {
    const down = args.down();
    const fault = strikes.shift();
    if (fault === 'drop' || down === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault === 'http502' || down === 'http502') return badGateway(res);
    const params = url.searchParams;
    if (params.get('act') !== 'a_check')
      return sendJson(res, 400, { error: 'act must be a_check' });
    // The log is looked at only for a known key: a made-up `/__lp/<id>` creates nothing.
    const log = () => hub.log(communityId);
    if (fault === 'failed1') return sendJson(res, 200, { failed: 1, ts: String(log().nextTs) });
    if (fault === 'failed2') return sendJson(res, 200, { failed: 2 });
    if (fault === 'failed3') return sendJson(res, 200, { failed: 3 });
    if (fault === 'malformed') return sendJson(res, 200, { ts: null, updates: 'not a list' });
    if (fault === 'duplicate') duplicateNext.add(communityId);

    const key = keys.get(params.get('key') ?? '');
    if (key === undefined || key.communityId !== communityId || expired(key)) {
      return sendJson(res, 200, { failed: 2 });
    }
    const rawTs = params.get('ts') ?? '';
    if (!/^\d+$/.test(rawTs)) return sendJson(res, 200, { failed: 1, ts: String(log().nextTs) });
    const ts = Number(rawTs);
    const rawWait = Number(params.get('wait') ?? DEFAULT_WAIT_SECONDS);
    const wait = Number.isFinite(rawWait)
      ? Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.floor(rawWait)))
      : DEFAULT_WAIT_SECONDS;

    const now0 = answerFor(communityId, ts);
    if (now0 !== null || wait === 0) return sendJson(res, 200, now0 ?? { ts: rawTs, updates: [] });

    hold(waiters, res, {
      communityId,
      answerNow: () => answerFor(communityId, ts),
      empty: { ts: rawTs, updates: [] },
      waitSeconds: wait,
    });
  }

  return {
    issue(communityId) {
      const key = randomBytes(20).toString('hex');
      for (const [k, v] of keys) if (expired(v)) keys.delete(k);
      keys.set(key, { communityId, issuedAt: now() });
      return {
        key,
        server: `${args.baseUrl()}/__lp/${communityId}`,
        ts: String(hub.log(communityId).nextTs),
      };
    },
    handle,
    strike(fault) {
      strikes.push(fault);
    },
    pending: () => [...strikes],
    reset() {
      keys.clear();
      strikes = [];
      redeliver.clear();
      duplicateNext.clear();
      waiters.drain();
    },
  };
}
