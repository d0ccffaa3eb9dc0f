/**
 * Broker session tracking for the active controller: when each broker last heartbeated.
 * Kept out of the replicated `ControllerState` on purpose — it is wall-clock bookkeeping local
 * to one controller; only its outcome (`BrokerFenced`) goes into the metadata log. A new
 * controller starts with {@link start}, giving every broker a full session from its first tick.
 */
import type { ControllerState } from "./ControllerState.js"
import type { BrokerId } from "./Metadata.js"

/** Last heartbeat time (ms, from `Clock`) per broker. */
export type Heartbeats = ReadonlyMap<BrokerId, number>

/** No heartbeats seen yet. */
export const empty: Heartbeats = new Map()

/** A fresh session for every registered broker, as a newly elected controller must grant. */
export const start = (state: ControllerState, nowMs: number): Heartbeats =>
  new Map([...state.brokers.keys()].map((id) => [id, nowMs]))

/** Record a heartbeat (or registration) at `nowMs`. */
export const recordHeartbeat = (heartbeats: Heartbeats, brokerId: BrokerId, nowMs: number): Heartbeats =>
  new Map(heartbeats).set(brokerId, Math.max(nowMs, heartbeats.get(brokerId) ?? nowMs))

/**
 * Unfenced brokers whose session expired: no heartbeat for more than `sessionTimeoutMs`.
 * A broker with no recorded heartbeat counts as expired only if the controller never saw it
 * (call {@link start} first after a failover). Ascending ids.
 */
export const expired = (
  state: ControllerState,
  heartbeats: Heartbeats,
  nowMs: number,
  sessionTimeoutMs: number
): ReadonlyArray<BrokerId> =>
  [...state.brokers.values()]
    .filter((b) => !b.fenced)
    .filter((b) => {
      const last = heartbeats.get(b.brokerId)
      return last === undefined || nowMs - last > sessionTimeoutMs
    })
    .map((b) => b.brokerId)
    .sort((a, b) => a - b)
