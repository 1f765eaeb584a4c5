import { setTimeout as sleep } from 'node:timers/promises';
import type { EventHub, PlatformEvent } from './events';
import { serverTakes } from './methods/groups';
import type { EmuCallbackDelivery, EmuCallbackServer, EmuState } from './state';

/**
 * Callback API delivery (dev.vk.com "Callback API"). A server added with
 * `groups.addCallbackServer` (or moved by `editCallbackServer`) first gets
 * `{"type": "confirmation", "group_id": N, "secret"?}` and must answer the community's code
 * (`groups.getCallbackConfirmationCode`): then its status is `ok`, otherwise `failed`, and only
 * `ok` servers get events. Each event is POSTed as JSON `{type, event_id, v, object, group_id,
 * secret?}` with the server's API version as `v`; the server must answer `ok` (HTTP 200).
 *
 * Retries (UNCONFIRMED in detail; VK says it repeats a request that did not get "ok"): up to
 * `callbackAttempts` requests per event, the n-th retry after n × `callbackRetryDelayMs`, each
 * with the same `event_id` and an `X-Retry-Counter: n` header. Events go to a server one at a
 * time in order, so a failing event holds the ones after it. Every request is recorded in
 * `state.callbackDeliveries` (the last `MAX_DELIVERIES`).
 *
 * Fault: `strikeDuplicate()` posts the next event twice (a redelivery the product must ignore).
 */

export interface CallbackSide {
  confirm(server: EmuCallbackServer): void;
  strikeDuplicate(): void;
  /** Resolves once every queued request has been answered or given up on. */
  idle(): Promise<void>;
  reset(): void;
}

const MAX_DELIVERIES = 500;
const ANSWER_CHARS = 200;
const REQUEST_TIMEOUT_MS = 10_000;

/** One request to a callback server: its HTTP status (none when it did not answer) and answer. */
async function post(
  server: EmuCallbackServer,
  body: Record<string, unknown>,
  attempt: number,
): Promise<{ status?: number; answer: string }> {
  try {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(attempt > 1 ? { 'x-retry-counter': String(attempt - 1) } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = (await res.text()).trim();
    return { status: res.status, answer: text.slice(0, ANSWER_CHARS) };
  } catch (err) {
    return { answer: `(no answer: ${err instanceof Error ? err.message : String(err)})` };
  }
}

function withSecret(
  server: EmuCallbackServer,
  body: Record<string, unknown>,
): Record<string, unknown> {
  return server.secretKey === undefined ? body : { ...body, secret: server.secretKey };
}

export function createCallbackSide(args: {
  readonly state: EmuState;
  readonly hub: EventHub;
  readonly options: () => { callbackAttempts: number; callbackRetryDelayMs: number };
  readonly now: () => number;
  readonly changed: () => void;
}): CallbackSide {
  const { state, now } = args;
  /** One promise chain per server: its requests go one at a time, in order. */
  const queues = new Map<number, Promise<void>>();
  let duplicates = 0;
  let generation = 0;

  function record(delivery: EmuCallbackDelivery): void {
    state.callbackDeliveries.push(delivery);
    if (state.callbackDeliveries.length > MAX_DELIVERIES)
      state.callbackDeliveries.splice(0, state.callbackDeliveries.length - MAX_DELIVERIES);
    args.changed();
  }

  function enqueue(serverId: number, job: () => Promise<void>): void {
    const previous = queues.get(serverId) ?? Promise.resolve();
    const next = previous.then(job).catch(() => undefined);
    queues.set(serverId, next);
  }

  async function deliver(server: EmuCallbackServer, event: PlatformEvent, gen: number) {
    const body = withSecret(server, { ...event, v: server.apiVersion });
    const attempts = Math.max(1, args.options().callbackAttempts);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (gen !== generation) return;
      if (attempt > 1)
        await sleep(args.options().callbackRetryDelayMs * (attempt - 1), undefined, { ref: false });
      const { status, answer } = await post(server, body, attempt);
      const ok = status === 200 && answer === 'ok';
      record({
        communityId: server.communityId,
        serverId: server.serverId,
        type: event.type,
        eventId: event.event_id,
        attempt,
        ...(status === undefined ? {} : { httpStatus: status }),
        answer,
        ok,
        at: now(),
      });
      if (ok) return;
    }
  }

  args.hub.subscribe((communityId, event) => {
    const gen = generation;
    const copies = duplicates > 0 ? 2 : 1;
    if (duplicates > 0) duplicates--;
    for (const server of state.callbackServers) {
      if (server.communityId !== communityId || server.status !== 'ok') continue;
      if (!serverTakes(server, event.type)) continue;
      for (let i = 0; i < copies; i++) enqueue(server.serverId, () => deliver(server, event, gen));
    }
  });

  return {
    confirm(server) {
      const gen = generation;
      enqueue(server.serverId, async () => {
        if (gen !== generation) return;
        const code = state.callbackConfigs.find(
          (c) => c.communityId === server.communityId,
        )?.confirmationCode;
        const { status, answer } = await post(
          server,
          withSecret(server, { type: 'confirmation', group_id: server.communityId }),
          1,
        );
        const ok = status === 200 && code !== undefined && answer === code;
        server.status = ok ? 'ok' : 'failed';
        record({
          communityId: server.communityId,
          serverId: server.serverId,
          type: 'confirmation',
          attempt: 1,
          ...(status === undefined ? {} : { httpStatus: status }),
          answer,
          ok,
          at: now(),
        });
      });
    },
    strikeDuplicate() {
      duplicates++;
    },
    async idle() {
      for (;;) {
        const pending = [...queues.values()];
        await Promise.all(pending);
        if ([...queues.values()].every((q, i) => q === pending[i])) return;
      }
    },
    reset() {
      generation++;
      duplicates = 0;
      queues.clear();
    },
  };
}
