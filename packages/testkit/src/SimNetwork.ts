/**
 * The simulated network: a `Network` wrapper with fault rules per directed link (block, drop,
 * delay, duplicate, reorder, hold) and the usual partition shapes (Jepsen's vocabulary), all
 * randomness from one seed and all time from Effect's `Clock`, so under `TestClock` a seed
 * replays the same deliveries. A partition is not a `peerDown`: messages just vanish.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { type Envelope, InProcess, type NodeId as Id, Transport } from "@fiberlog/core"
import * as rules from "./internal/rules.js"
import * as internal from "./internal/simNetwork.js"
import type { Seed } from "./SeededRandom.js"

type NodeId = Id.NodeId

/** How long a message spends on a link, sampled per message from the link's delay stream. */
export type Delay = Data.TaggedEnum<{
  /** Exactly `ms`. */
  Fixed: { readonly ms: number }
  /** Uniform over `[minMs, maxMs]`, whole milliseconds. */
  Uniform: { readonly minMs: number; readonly maxMs: number }
  /** Exponential with mean `meanMs`, capped at `maxMs`. */
  Exponential: { readonly meanMs: number; readonly maxMs: number }
}>

/** Constructors of `Delay`: `Delay.Fixed({ ms: 50 })`, `Delay.Uniform({ minMs, maxMs })`, ... */
export const Delay = Data.taggedEnum<Delay>()

/** The rule on one directed link. The open link (`open`) delivers everything at once, in order. */
export interface LinkRule {
  /** Every message vanishes (sent, then dropped with reason `blocked`), in flight ones included. */
  readonly blocked: boolean
  /** Probability in [0, 1] that a message is dropped at send. */
  readonly dropProbability: number
  /** Probability in [0, 1] that a message is delivered twice. */
  readonly duplicateProbability: number
  /** Delay per message; `undefined` for none. FIFO per link is kept unless `reorderWindowMs > 0`. */
  readonly delay: Delay | undefined
  /** When > 0, each message gets an extra uniform delay in [0, reorderWindowMs] and FIFO is off. */
  readonly reorderWindowMs: number
  /** Messages (new and in flight) are parked until `release` (or `heal`). */
  readonly held: boolean
}

/** The rule of a link nobody touched. */
export const open: LinkRule = rules.open

/** A directed link. */
export interface Link {
  readonly from: NodeId
  readonly to: NodeId
}

/** Why a message did not arrive. */
export type DropReason = "blocked" | "random" | "unreachable" | "not-serializable" | "overflow" | "closed"

/**
 * One entry of the event log. `message` numbers the sends on a link (1, 2, ...), so a duplicate's
 * two `delivered` entries carry the same number. Times are the `Clock`'s (virtual under TestClock).
 */
export interface Event {
  readonly seq: number
  readonly timeMs: number
  readonly type: "sent" | "delivered" | "dropped" | "duplicated"
  readonly from: NodeId
  readonly to: NodeId
  readonly kind: Envelope.Kind
  readonly path: string
  readonly id: number
  readonly message: number
  /** Set on `dropped` only. */
  readonly reason?: DropReason
}

/** Counts of the events since the network started (not limited by `maxEvents`). */
export interface Stats {
  readonly sent: number
  readonly delivered: number
  readonly dropped: number
  readonly duplicated: number
}

/** Options of a simulated network. */
export interface Options {
  /** The seed of every random draw (drops, delays, duplicates, reorders). */
  readonly seed: Seed
  /** Most events kept in the log; the oldest go first. Default 100_000. */
  readonly maxEvents?: number
  /** Most messages parked or delayed on one link; beyond it they drop (`overflow`). Default 10_000. */
  readonly maxInFlightPerLink?: number
}

/** A simulated network: a `NetworkService` nodes join, plus the controls a test drives. */
export interface SimNetworkService extends Transport.NetworkService {
  readonly seed: Seed
  /** The current rule of `from → to`. */
  readonly rule: (from: NodeId, to: NodeId) => LinkRule
  /** Changes some fields of the rule of `from → to`. */
  readonly update: (from: NodeId, to: NodeId, patch: Partial<LinkRule>) => Effect.Effect<void>
  readonly block: (from: NodeId, to: NodeId) => Effect.Effect<void>
  readonly unblock: (from: NodeId, to: NodeId) => Effect.Effect<void>
  readonly drop: (from: NodeId, to: NodeId, probability: number) => Effect.Effect<void>
  readonly delay: (from: NodeId, to: NodeId, delay: Delay | undefined) => Effect.Effect<void>
  readonly duplicate: (from: NodeId, to: NodeId, probability: number) => Effect.Effect<void>
  readonly reorder: (from: NodeId, to: NodeId, windowMs: number) => Effect.Effect<void>
  /** Parks the messages of `from → to`, those in flight included. */
  readonly hold: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** Delivers the parked messages of `from → to` that are due (in order) and lifts the hold. */
  readonly release: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** Nodes in different groups cannot talk (both ways). Adds to the current blocks. */
  readonly partition: (groups: ReadonlyArray<ReadonlyArray<NodeId>>) => Effect.Effect<void>
  /** `from` cannot reach `to`; the other way still works. */
  readonly partitionOneWay: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** `node` can talk to nobody, nodes that join later included. */
  readonly isolate: (node: NodeId) => Effect.Effect<void>
  /** Jepsen's bridge: `left` and `right` cannot talk; `bridge` talks to both. */
  readonly bridge: (left: ReadonlyArray<NodeId>, bridge: NodeId, right: ReadonlyArray<NodeId>) => Effect.Effect<void>
  /** Jepsen's majorities ring over `nodes` (in ring order): each sees a majority, no two the same. */
  readonly majoritiesRing: (nodes: ReadonlyArray<NodeId>) => Effect.Effect<void>
  /** Clears every rule and isolation, and releases what was held. */
  readonly heal: Effect.Effect<void>
  /** Messages delayed or parked now, over all links. */
  readonly inFlight: Effect.Effect<number>
  /** The event log (at most `maxEvents`, oldest first). */
  readonly events: Effect.Effect<ReadonlyArray<Event>>
  /** The event log as JSON: byte-identical for the same seed and the same sends. */
  readonly eventsJson: Effect.Effect<string>
  readonly stats: Effect.Effect<Stats>
}

/** The simulated network in context (alongside the `Network` it serves as). */
export class SimNetwork extends Context.Tag("@fiberlog/testkit/SimNetwork")<SimNetwork, SimNetworkService>() {}

// ---- shapes (pure) ------------------------------------------------------------------------

/** The directed links a partition into `groups` blocks: every pair in different groups, both ways. */
export const partitionLinks: (groups: ReadonlyArray<ReadonlyArray<NodeId>>) => ReadonlyArray<Link> = rules.partitionLinks

/** The directed links a bridge blocks: `left` ↔ `right`, never through `bridge`. */
export const bridgeLinks: (
  left: ReadonlyArray<NodeId>,
  bridge: NodeId,
  right: ReadonlyArray<NodeId>
) => ReadonlyArray<Link> = rules.bridgeLinks

/**
 * The directed links Jepsen's perfect majorities ring blocks over the ring `nodes`: each node
 * hears a majority (itself included) and no two hear the same one.
 */
export const majoritiesRingLinks: (nodes: ReadonlyArray<NodeId>) => ReadonlyArray<Link> = rules.majoritiesRingLinks

/** A delay in whole milliseconds from `delay` and a uniform draw `u` in [0, 1). Pure. */
export const sampleDelayMs: (delay: Delay, u: number) => number = rules.sampleDelayMs

// ---- constructors -------------------------------------------------------------------------

/**
 * Wraps `inner`. Delayed deliveries run on a fiber per link in the current scope (under the
 * simulator, from alarms on its clock instead): closing the scope stops them.
 */
export const make = (inner: Transport.NetworkService, options: Options): Effect.Effect<SimNetworkService, never, Scope.Scope> =>
  internal.make(inner, options)

/** Replaces the `Network` in context by a simulated network over it, also provided as `SimNetwork`. */
export const layer = (options: Options): Layer.Layer<SimNetwork | Transport.Network, never, Transport.Network> =>
  Layer.scopedContext(
    Effect.flatMap(Transport.Network, (inner) =>
      Effect.map(make(inner, options), (sim) => Context.make(SimNetwork, sim).pipe(Context.add(Transport.Network, sim))))
  )

/** A simulated network over a fresh serialising in-process network: the usual test setup. */
export const layerInProcess = (options: Options): Layer.Layer<SimNetwork | Transport.Network> =>
  layer(options).pipe(Layer.provide(InProcess.layer({ serialize: true })))
