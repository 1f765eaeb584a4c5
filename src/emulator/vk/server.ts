import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { answerErrors, closeServer, listen, sendJson } from '../kit/http';
import { StatePersister, loadStateFile } from '../kit/state-file';
import { createMethodEndpoint, type EmulatorStats, type MethodEndpoint } from './api';
import { createCallbackSide } from './callback';
import { addCommunity, handleControl, type ControlDeps } from './control';
import { createEventHub } from './events';
import { createStrikes, type EmulatorFaults, type StrikeFault, type StruckRequest } from './faults';
import { createLongPollSide, type LongPollFault, type LongPollSide } from './long-poll';
import type { EmulatorOptions } from './options';
import { createSettings } from './settings';
import { createPersonControls } from './person';
import { snapshotOf, type StateDump } from './snapshot';
import { emptyState, emuStateSchema, type EmuState } from './state';

/**
 * The VK API emulator's HTTP server: `/method/<name>` (the API, `api.ts`), `/__lp/<groupId>`
 * (Bots Long Poll, `long-poll.ts`) and `/__emulator/...` (controls, `control.ts`), over one
 * platform state, persisted to a file when one is given.
 */

export type { EmulatorStats } from './api';
export { noFaults, type EmulatorFaults, type StrikeFault, type StruckRequest } from './faults';
export type { StateDump } from './snapshot';

export interface CreateEmulatorArgs {
  /** 0 or absent: a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly stateFile?: string;
  readonly options?: Partial<EmulatorOptions>;
  /** Communities to create at start (tokens are stored hashed). */
  readonly communities?: readonly { communityId: number; token: string }[];
  /** Source of randomness for fault injection; tests may pin it. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface Emulator {
  readonly url: string;
  readonly port: number;
  /** The live state; tests may read it (and arrange unusual chats) directly. */
  readonly state: EmuState;
  readonly stats: EmulatorStats;
  readonly options: EmulatorOptions;
  readonly faults: EmulatorFaults;
  addCommunity(communityId: number, token: string): void;
  setFaults(faults: Partial<EmulatorFaults>): void;
  /**
   * Makes the next request of `method` (any method if absent) fail with `fault`, once, whatever
   * the random rates: a drill that must see each fault strike does not depend on chance.
   * Resolves with the request it struck.
   */
  strikeNext(fault: StrikeFault, method?: string): Promise<StruckRequest>;
  setOptions(options: Partial<EmulatorOptions>): void;
  /** Makes the next long-poll request (any community) fail with `fault`, once, in arming order. */
  strikeLongPoll(fault: LongPollFault): void;
  /** Posts the next event to callback servers twice. */
  strikeCallbackDuplicate(): void;
  /** Resolves once every callback request queued so far has been answered or given up on. */
  callbacksIdle(): Promise<void>;
  /** The events a community's long poll can still hand out, oldest first. */
  events(communityId: number): readonly { ts: number; event: Record<string, unknown> }[];
  /** What `GET /__emulator/state` returns. */
  snapshot(): StateDump;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the emulator; resolves once it listens. */
export async function createEmulator(args: CreateEmulatorArgs = {}): Promise<Emulator> {
  const now = args.now ?? Date.now;
  const settings = createSettings(args.options);
  const state: EmuState =
    args.stateFile === undefined
      ? emptyState()
      : await loadStateFile(args.stateFile, emuStateSchema, emptyState);
  const persister =
    args.stateFile === undefined ? undefined : new StatePersister(args.stateFile, () => state);
  const changed = (): void => persister?.changed();
  let baseUrl = '';

  const hub = createEventHub({ state, options: () => settings.options, now });
  const longPoll = createLongPollSide({
    hub,
    baseUrl: () => baseUrl,
    keyTtlMs: () => settings.options.longPollKeyTtlMs,
    down: () => settings.faults.longPollDown,
    now,
  });
  const callbacks = createCallbackSide({
    state,
    hub,
    options: () => settings.options,
    now,
    changed,
  });
  const strikes = createStrikes();
  const api = createMethodEndpoint({
    state,
    options: () => settings.options,
    faults: () => settings.faults,
    strikes,
    random: args.random ?? Math.random,
    now,
    changed,
    hub,
    groups: {
      longPollServer: (communityId) => longPoll.issue(communityId),
      confirmCallbackServer: (server) => callbacks.confirm(server),
    },
  });

  function snapshot(): StateDump {
    const { options, faults } = settings;
    return snapshotOf(state, {
      stats: api.stats(),
      faults,
      options,
      longPollStrikes: longPoll.pending(),
    });
  }
  function reset(): void {
    Object.assign(state, emptyState());
    settings.reset();
    api.reset();
    longPoll.reset();
    callbacks.reset();
    changed();
  }
  function addCommunityAndSave(communityId: number, token: string): void {
    addCommunity(state, communityId, token);
    changed();
  }
  for (const c of args.communities ?? []) addCommunityAndSave(c.communityId, c.token);

  const control: ControlDeps = {
    state,
    now,
    changed,
    settings,
    snapshot,
    reset,
    longPoll,
    callbacks,
    person: createPersonControls({ state, hub, now, changed }),
  };
  const server = createServer((req, res) =>
    answerErrors(res, route({ api, control, longPoll }, req, res)),
  );
  const bound = await listen(server, args.port ?? 0, args.host ?? '127.0.0.1');
  baseUrl = bound.url;

  return {
    url: bound.url,
    port: bound.port,
    state,
    get stats() {
      return api.stats();
    },
    get options() {
      return settings.options;
    },
    get faults() {
      return settings.faults;
    },
    addCommunity: addCommunityAndSave,
    setFaults: (patch) => settings.setFaults(patch),
    strikeNext: (fault, method) => strikes.arm(fault, method),
    setOptions: (patch) => settings.setOptions(patch),
    strikeLongPoll: (fault) => longPoll.strike(fault),
    strikeCallbackDuplicate: () => callbacks.strikeDuplicate(),
    callbacksIdle: () => callbacks.idle(),
    events: (communityId) => hub.log(communityId).events,
    snapshot,
    reset,
    async close() {
      // Callback requests still queued are dropped, as a platform going away would drop them.
      callbacks.reset();
      await closeServer(server);
      await persister?.flush();
    },
  };
}

/** Sends each request to its part: the API, the controls or the long poll. */
async function route(
  parts: { api: MethodEndpoint; control: ControlDeps; longPoll: LongPollSide },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator.local');
  const method = /^\/method\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
  if (method !== undefined) {
    if (req.method !== 'GET' && req.method !== 'POST')
      return sendJson(res, 405, { error: 'use GET or POST' });
    return parts.api.handle(req, res, url, method);
  }
  if (url.pathname.startsWith('/__emulator/')) {
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    return sendJson(res, 200, await handleControl(parts.control, req, route));
  }
  const lp = /^\/__lp\/(\d+)$/.exec(url.pathname)?.[1];
  if (lp !== undefined && req.method === 'GET')
    return parts.longPoll.handle(req, res, url, Number(lp));
  return sendJson(res, 404, { error: `not found: ${url.pathname}` });
}
