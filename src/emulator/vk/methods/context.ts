import type { EventHub } from '../events';
import type { EmulatorOptions } from '../options';
import type { EmuCommunity, EmuState } from '../state';
import type { VkValue } from '../vkscript';
import type { GroupServices } from './groups';

/**
 * What a VK method runs with: the platform's state, the caller's community and the request. The
 * HTTP layer (`../api.ts`) and `execute` both call methods with it, so an inner call behaves
 * exactly like a direct one.
 */

/** Chats are peers from this number on: `peer_id` = offset + chat ID. */
export const PEER_CHAT_OFFSET = 2_000_000_000;

export interface CallContext {
  readonly state: EmuState;
  readonly options: EmulatorOptions;
  readonly community: EmuCommunity;
  /** The request's `v`, e.g. `5.199`. */
  readonly version: string;
  readonly now: number;
  /** Records a write action for flood control (throws 9) and schedules persistence. */
  readonly action: () => void;
  /** The platform's events: what a change sends over long poll and to callback servers. */
  readonly events: EventHub;
  readonly groups: GroupServices;
}

export type Params = Readonly<Record<string, string>>;
export type Handler = (ctx: CallContext, params: Params) => VkValue;
