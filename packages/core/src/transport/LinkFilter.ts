/**
 * A network wrapper that blocks directed links: the smallest proof that anything can stand
 * between two nodes. The testkit's `SimNetwork` builds the full set of faults the same way.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type { Envelope } from "./Envelope.js"
import type { NodeId } from "./NodeId.js"
import { Network, type NetworkService } from "./Transport.js"

/** A set of blocked directed links (`from → to`). Messages on a blocked link are dropped silently. */
export interface LinkFilter {
  readonly block: (from: NodeId, to: NodeId) => Effect.Effect<void>
  readonly unblock: (from: NodeId, to: NodeId) => Effect.Effect<void>
  readonly isBlocked: (from: NodeId, to: NodeId) => boolean
}

/** Makes an empty filter (every link open). */
export const make = (): LinkFilter => {
  const blocked = new Set<string>()
  const key = (from: NodeId, to: NodeId) => `${from}\u0000${to}`
  return {
    block: (from, to) => Effect.sync(() => void blocked.add(key(from, to))),
    unblock: (from, to) => Effect.sync(() => void blocked.delete(key(from, to))),
    isBlocked: (from, to) => blocked.has(key(from, to))
  }
}

/** Wraps a network so that envelopes on blocked links vanish, as on a partitioned network. */
export const wrap = (inner: NetworkService, filter: LinkFilter): NetworkService => ({
  connect: (self, handler) =>
    Effect.map(inner.connect(self, handler), (transport) => {
      const sendNow = transport.sendNow
      return {
        self: transport.self,
        encodes: transport.encodes,
        send: (envelope) => filter.isBlocked(envelope.from, envelope.to) ? Effect.void : transport.send(envelope),
        ...(sendNow === undefined ? {} : {
          sendNow: (envelope: Envelope) => filter.isBlocked(envelope.from, envelope.to) ? Effect.void : sendNow(envelope)
        })
      }
    })
})

/** Replaces the `Network` in context by one filtered through `filter`. */
export const layer = (filter: LinkFilter): Layer.Layer<Network, never, Network> =>
  Layer.effect(Network, Effect.map(Network, (inner) => wrap(inner, filter)))
