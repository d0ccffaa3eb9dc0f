/**
 * The in-process network: any number of nodes in one JS process. Envelopes are handed over
 * without copying; with `serialize: true` every payload is Schema-encoded by the sending node and
 * the envelope is structurally cloned on the way, so anything that would not survive TCP fails
 * in tests instead of in production.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type { Envelope } from "./Envelope.js"
import type { NodeId } from "./NodeId.js"
import { type Handler, Network, type NetworkService, NodeIdInUse, NodeUnreachable, PayloadNotSerializable, type Transport } from "./Transport.js"

/** Options of the in-process network. */
export interface Options {
  /** Round-trip every message through its Schema encoding (and a structured clone). Default false. */
  readonly serialize?: boolean
}

/** Builds an in-process network. Each call is a separate network. */
export const make = (options: Options = {}): Effect.Effect<NetworkService> =>
  Effect.sync(() => {
    const serialize = options.serialize ?? false
    const handlers = new Map<NodeId, Handler>()
    const leave = (self: NodeId, handler: Handler) =>
      Effect.suspend(() => {
        if (handlers.get(self) !== handler) return Effect.void
        handlers.delete(self)
        return Effect.forEach([...handlers.values()], (peer) => peer.peerDown(self), { discard: true })
      })
    /** Hands `envelope` to its node's handler now; what is left to run (see `Transport.sendNow`). */
    const sendNow = (envelope: Envelope): Effect.Effect<void, NodeUnreachable | PayloadNotSerializable> => {
      const target = handlers.get(envelope.to)
      if (target === undefined) return Effect.fail(new NodeUnreachable({ node: envelope.to }))
      if (!serialize) return target.deliver(envelope)
      let copy: Envelope
      try {
        copy = structuredClone(envelope)
      } catch (error) {
        return Effect.fail(new PayloadNotSerializable({ node: envelope.to, detail: String(error) }))
      }
      return target.deliver(copy)
    }
    const service: NetworkService = {
      connect: (self, handler) =>
        Effect.suspend(() => {
          if (handlers.has(self)) return Effect.fail(new NodeIdInUse({ node: self }))
          handlers.set(self, handler)
          let open = true
          const endpointSendNow = (envelope: Envelope) =>
            open ? sendNow(envelope) : Effect.fail(new NodeUnreachable({ node: envelope.to }))
          const endpoint: Transport = {
            self,
            encodes: serialize,
            send: (envelope) => Effect.suspend(() => endpointSendNow(envelope)),
            sendNow: endpointSendNow
          }
          return Effect.as(
            Effect.addFinalizer(() => Effect.suspend(() => {
              open = false
              return leave(self, handler)
            })),
            endpoint
          )
        })
    }
    return service
  })

/** The in-process network as a layer. */
export const layer = (options: Options = {}): Layer.Layer<Network> => Layer.effect(Network, make(options))
