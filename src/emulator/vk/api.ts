import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendJson } from '../kit/http';
import type { EventHub } from './events';
import { runMethod } from './execute';
import type { EmulatorFaults, Strike, StrikeFault, Strikes } from './faults';
import { createLimits, type Limits } from './limits';
import { VkMethodError, type CallContext } from './methods';
import type { GroupServices } from './methods/groups';
import type { EmulatorOptions } from './options';
import { callerToken, readParams, requestParams, type MethodRequest } from './request';
import { hashToken, type EmuCommunity, type EmuState } from './state';

/**
 * The `/method/<name>` endpoint: faults first (scripted, then random), then the token, the
 * version and the rate limit, then the method with flood control on its write actions. An error
 * is HTTP 200 with `{error}`, as on VK.
 */

export interface EmulatorStats {
  /** HTTP requests to `/method/...`, including refused ones; one per `execute`. */
  requests: number;
  byMethod: Record<string, number>;
  /** Whole-request VK errors by code (inner `execute` errors are counted in `innerErrors`). */
  errors: Record<string, number>;
  innerCalls: number;
  innerErrors: Record<string, number>;
}

export interface MethodEndpoint {
  handle(req: IncomingMessage, res: ServerResponse, url: URL, name: string): Promise<void>;
  stats(): EmulatorStats;
  /** Zeroes the stats and forgets the rate and flood windows. */
  reset(): void;
}

const BAD_GATEWAY_PAGE =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';

function emptyStats(): EmulatorStats {
  return { requests: 0, byMethod: {}, errors: {}, innerCalls: 0, innerErrors: {} };
}

function bump(counter: Record<string, number>, key: string | number): void {
  counter[key] = (counter[key] ?? 0) + 1;
}

export interface MethodEndpointArgs {
  readonly state: EmuState;
  readonly options: () => EmulatorOptions;
  readonly faults: () => EmulatorFaults;
  readonly strikes: Strikes;
  readonly random: () => number;
  readonly now: () => number;
  /** Schedules persistence after a method changed the state. */
  readonly changed: () => void;
  readonly hub: EventHub;
  readonly groups: GroupServices;
}

/** The endpoint's own state: its arguments, the limit windows and the stats. */
interface Endpoint {
  readonly args: MethodEndpointArgs;
  readonly limits: Limits;
  stats: EmulatorStats;
}

export function createMethodEndpoint(args: MethodEndpointArgs): MethodEndpoint {
  const self: Endpoint = {
    args,
    limits: createLimits({
      perSecond: () => args.faults().rateLimitPerSecond ?? args.options().rateLimitPerSecond,
      actionsPerMinute: () => args.options().floodActionsPerMinute,
    }),
    stats: emptyStats(),
  };
  return {
    handle: (req, res, url, name) => handle(self, req, res, url, name),
    stats: () => self.stats,
    reset() {
      self.stats = emptyStats();
      self.limits.reset();
    },
  };
}

async function handle(
  self: Endpoint,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
): Promise<void> {
  const { stats } = self;
  stats.requests++;
  bump(stats.byMethod, name);
  // The earliest armed strike for this method is this request's; if the request fails before
  // the strike's point (auth, rate limit), the strike waits for the next one.
  const strike = self.args.strikes.take(name);
  let fired = false;
  try {
    await serve(self, req, res, url, name, strike, () => (fired = true));
  } finally {
    if (strike && !fired) self.args.strikes.putBack(strike);
  }
}

async function serve(
  self: Endpoint,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
  strike: Strike | undefined,
  onFired: () => void,
): Promise<void> {
  const { args } = self;
  const { random } = args;
  // A scripted fault reports what it struck, so it reads the parameters before striking.
  const early = strike ? await readParams(req, url) : undefined;
  const struck = (fault: StrikeFault): boolean => {
    if (strike?.fault !== fault) return false;
    onFired();
    strike.resolve({
      method: name,
      params: Object.fromEntries(
        Object.entries(early?.params ?? {}).filter(([key]) => key !== 'access_token'),
      ),
    });
    return true;
  };
  if (struck('dropBefore') || random() < args.faults().dropBeforeRate) {
    req.socket.destroy();
    return;
  }
  if (struck('http502') || random() < args.faults().http502Rate) {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end(BAD_GATEWAY_PAGE);
    return;
  }
  const { latencyMs } = args.faults();
  if (latencyMs > 0) await sleep(latencyMs);

  const request = early ?? (await readParams(req, url));
  const fail = (err: VkMethodError): void => {
    bump(self.stats.errors, err.code);
    sendJson(res, 200, {
      error: {
        error_code: err.code,
        error_msg: err.message,
        request_params: requestParams(name, request.params),
      },
    });
  };
  const ctx = admit(
    self,
    req,
    request,
    () => struck('error10') || random() < args.faults().errorRate10,
  );
  if (ctx instanceof VkMethodError) return fail(ctx);

  let body: Record<string, unknown>;
  try {
    body = runMethod(name, request.params, ctx.ctx, self.stats);
  } catch (err) {
    if (ctx.dirty()) args.changed();
    if (err instanceof VkMethodError) return fail(err);
    throw err;
  }
  if (ctx.dirty()) args.changed();
  if (struck('dropAfter') || random() < args.faults().dropAfterRate) {
    res.socket?.destroy();
    return;
  }
  sendJson(res, 200, body);
}

function communityByToken(
  state: EmuState,
  token: string,
): { community: EmuCommunity; hash: string } | undefined {
  const hash = hashToken(token);
  const community = state.communities.find((c) => c.tokenHashes.includes(hash));
  return community === undefined ? undefined : { community, hash };
}

/**
 * The checks before a method runs, in VK's order: token, version, rate limit, then an injected
 * error 10. Passing them gives the method's context, which records whether it wrote anything.
 */
function admit(
  self: Endpoint,
  req: IncomingMessage,
  { params, tokens }: MethodRequest,
  error10: () => boolean,
): { ctx: CallContext; dirty: () => boolean } | VkMethodError {
  const { args, limits } = self;
  const token = callerToken(tokens, req.headers.authorization);
  if (token instanceof VkMethodError) return token;
  const caller = communityByToken(args.state, token);
  if (caller === undefined) return new VkMethodError(5, 'invalid access_token (4).');
  const version = params.v;
  if (version === undefined || version === '')
    return new VkMethodError(8, 'v (version) is required');
  if (!/^5\.\d+$/.test(version)) return new VkMethodError(8, 'invalid v (version) param');
  const at = args.now();
  if (limits.overRateLimit(caller.hash, at)) return new VkMethodError(6);
  if (error10()) return new VkMethodError(10);

  let dirty = false;
  const ctx: CallContext = {
    state: args.state,
    options: args.options(),
    community: caller.community,
    version,
    now: at,
    action: () => {
      if (!limits.floodAllows(caller.community.communityId, at)) throw new VkMethodError(9);
      dirty = true;
    },
    events: args.hub,
    groups: args.groups,
  };
  return { ctx, dirty: () => dirty };
}
