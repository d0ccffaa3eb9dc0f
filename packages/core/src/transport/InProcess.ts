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

/** Thrown by `copyOf` at a value it leaves to `structuredClone`. */
const leftToStructuredClone = Symbol("leftToStructuredClone")

/** Deepest nesting `copyOf` follows (an encoded message is shallow; a cycle is not). */
const maxCopyDepth = 64

/**
 * A copy of an encoded envelope, as `structuredClone` makes it, for what encoded messages are
 * made of: primitives, plain objects, dense arrays and `Uint8Array`s (copied to a buffer of their
 * own). Several times cheaper than `structuredClone`, which serialises and parses the whole
 * envelope. At anything else (a class instance, a function, a `Buffer`, a cycle) it throws
 * `leftToStructuredClone`, and `structuredClone` copies or refuses the envelope as before.
 */
const copyOf = (value: unknown, depth: number): unknown => {
  if (typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol") throw leftToStructuredClone
    return value
  }
  if (value === null) return null
  if (depth > maxCopyDepth) throw leftToStructuredClone
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      // An own `__proto__` key would set the copy's prototype instead.
      if (key === "__proto__") throw leftToStructuredClone
      out[key] = copyOf((value as Record<string, unknown>)[key], depth + 1)
    }
    return out
  }
  if (proto === Array.prototype) {
    const array = value as ReadonlyArray<unknown>
    const out = new Array<unknown>(array.length)
    for (let i = 0; i < array.length; i++) {
      if (!(i in array)) throw leftToStructuredClone
      out[i] = copyOf(array[i], depth + 1)
    }
    return out
  }
  if (proto === Uint8Array.prototype) return (value as Uint8Array).slice()
  throw leftToStructuredClone
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
        copy = copyOf(envelope, 0) as Envelope
      } catch {
        // Left to `structuredClone` (or a getter threw: it throws there too, and is refused).
        try {
          copy = structuredClone(envelope)
        } catch (error) {
          return Effect.fail(new PayloadNotSerializable({ node: envelope.to, detail: String(error) }))
        }
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
