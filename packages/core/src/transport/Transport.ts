/**
 * The transport: moves envelopes between nodes. `Network` is the service (in-process, simulated,
 * TCP); `Transport` is one node's endpoint on it. Anything between two nodes — the testkit's
 * fault injection, a TCP connection — is a `Network` that wraps or replaces another.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect } from "effect"
import type { Scope } from "effect"
import type { Envelope } from "./Envelope.js"
import type { NodeId } from "./NodeId.js"

/** The target node is not on the network (never joined, or its endpoint closed). */
export class NodeUnreachable extends Data.TaggedError("NodeUnreachable")<{
  readonly node: NodeId
}> {
  override get message() {
    return `node ${this.node} is unreachable`
  }
}

/** The envelope could not be carried as it is (it would not survive the wire). */
export class PayloadNotSerializable extends Data.TaggedError("PayloadNotSerializable")<{
  readonly node: NodeId
  readonly detail: string
}> {}

/** A node with this id is already connected to the network. */
export class NodeIdInUse extends Data.TaggedError("NodeIdInUse")<{
  readonly node: NodeId
}> {}

/** What a node gives its endpoint: where inbound envelopes and link events go. */
export interface Handler {
  /** Delivers one inbound envelope. Must not block for long: it runs on the transport's fiber. */
  readonly deliver: (envelope: Envelope) => Effect.Effect<void>
  /** The peer left the network (its endpoint closed, or its connection was lost). */
  readonly peerDown: (peer: NodeId) => Effect.Effect<void>
}

/** One node's endpoint on a network. */
export interface Transport {
  readonly self: NodeId
  /**
   * When true, every payload handed to `send` must be Schema-encoded (`encoded: true`) — the
   * envelope leaves the process, or the in-process network was told to check serialisation.
   */
  readonly encodes: boolean
  /**
   * Sends an envelope. Best effort, as a network is: success means handed over, not delivered.
   * Fails with `NodeUnreachable` only when the transport already knows the peer is gone, and
   * with `PayloadNotSerializable` when the envelope cannot be put on the wire.
   */
  readonly send: (envelope: Envelope) => Effect.Effect<void, NodeUnreachable | PayloadNotSerializable>
  /**
   * Optional, for in-memory transports: `send`'s work done now, returning what is left to run —
   * `Effect.void` (an `Exit`, nothing to run) once the envelope is handed over. `send(e)` must
   * behave as `Effect.suspend(() => sendNow(e))`. The actor runtime sends a message and the
   * simulated network delivers one without an effect of their own this way (see `sendNow` below).
   */
  readonly sendNow?: (envelope: Envelope) => Effect.Effect<void, NodeUnreachable | PayloadNotSerializable>
}

/**
 * Sends `envelope` through `transport` now when it can (`Transport.sendNow`), else returns its
 * `send`. The result is `Effect.void` when nothing is left to run.
 */
export const sendNow = (
  transport: Transport,
  envelope: Envelope
): Effect.Effect<void, NodeUnreachable | PayloadNotSerializable> =>
  transport.sendNow === undefined ? transport.send(envelope) : transport.sendNow(envelope)

/** A network nodes join. The endpoint lives as long as the scope; closing it is the node leaving. */
export interface NetworkService {
  readonly connect: (
    self: NodeId,
    handler: Handler
  ) => Effect.Effect<Transport, NodeIdInUse, Scope.Scope>
}

/** The network service: in-process (`InProcess.layer`), simulated (testkit) or TCP (`@fiberlog/node`). */
export class Network extends Context.Tag("@fiberlog/core/Network")<Network, NetworkService>() {}

/** Joins the network in context as `self`. */
export const connect = (
  self: NodeId,
  handler: Handler
): Effect.Effect<Transport, NodeIdInUse, Network | Scope.Scope> =>
  Effect.flatMap(Network, (network) => network.connect(self, handler))
