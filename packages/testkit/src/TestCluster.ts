/**
 * A whole fiberlog cluster (controller, brokers, clients) in one process, on a `SimNetwork`, with
 * virtual time and a seeded `Random`: a seed replays the same history. Faults are the Jepsen
 * vocabulary: partition / isolate / heal, crash (losing unflushed data or not) / restart, pause /
 * resume. Run it inside {@link simulate} (or use {@link run}), where time is virtual and passes
 * only when every fiber waits: `advance(ms)` is a plain sleep, and costs no real time.
 *
 * @since 0.1.0
 */
import { Cause, type Context, Effect, Either, Random, type Scope } from "effect"
import {
  type Actor,
  Address,
  ControllerProtocol,
  EmbeddedCluster,
  InProcess,
  type Node,
  type NodeId,
  RecordBatch,
  ReplicaProtocol as P,
  Supervision,
  Transport
} from "@fiberlog/core"
import type * as Checker from "./Checker.js"
import * as SeededRandom from "./SeededRandom.js"
import * as SimNetwork from "./SimNetwork.js"
import * as internal from "./internal/simRuntime.js"

/** A node a fault can target: a broker id, or the controller. */
export type Target = number | "controller"

/** Options of a test cluster: the embedded cluster's, plus the seed. */
export interface Options extends EmbeddedCluster.Options {
  readonly seed: SeededRandom.Seed
  /** A uniform delay on every link, in ms (`[min, max]`), so replication is not instantaneous. Default [1, 5]. */
  readonly linkDelayMs?: readonly [number, number]
  /**
   * Round-trip every message through its Schema encoding and a structured clone, as TCP would
   * (catches messages that cannot cross a wire). Default true; off hands objects over as they are.
   */
  readonly serialize?: boolean
}

/**
 * An actor of the cluster failed: a defect or an error its handlers left unhandled ended an
 * incarnation (its supervisor may have restarted it). The `actor-failed` check's finding.
 */
export interface ActorFailed {
  readonly _tag: "actor-failed"
  /** The actor's address, `node/path`. */
  readonly address: string
  /** Virtual time of the failure. */
  readonly atMs: number
  /** The cause, pretty-printed and cut to {@link maxCauseChars}. */
  readonly cause: string
}

/** At most this many actor failures are kept per cluster; the rest are counted only. */
export const maxActorFailures = 100

/** Limit on a recorded cause's length. */
export const maxCauseChars = 2_000

/** A running test cluster. */
export interface TestCluster {
  readonly seed: SeededRandom.Seed
  readonly embedded: EmbeddedCluster.EmbeddedCluster
  readonly network: SimNetwork.SimNetworkService
  readonly brokerIds: ReadonlyArray<number>
  /** The named random stream `name` of this cluster's seed (workloads and nemeses draw from their own). */
  readonly random: (name: string) => Random.Random
  /** A client node on the simulated network (lives as long as the caller's scope). */
  readonly clientNode: (name: string) => Effect.Effect<Node.Node, never, Scope.Scope>
  /** Lets `ms` of virtual time pass. */
  readonly advance: (ms: number) => Effect.Effect<void>
  /** Nodes in different groups cannot talk; nodes in no group (clients) still reach everyone. */
  readonly partition: (groups: ReadonlyArray<ReadonlyArray<Target>>) => Effect.Effect<void>
  /** `node` reaches nobody, and nobody reaches it (clients included). */
  readonly isolate: (node: Target) => Effect.Effect<void>
  /**
   * A slow host: every message to or from `node` takes `delay` on top of nothing else (it replaces
   * the link's usual delay until `heal`). Order on each link is kept, as over TCP.
   */
  readonly slow: (node: Target, delay: SimNetwork.Delay) => Effect.Effect<void>
  /** Clears every network fault, paused nodes included (their held messages are delivered). */
  readonly heal: Effect.Effect<void>
  /** Crashes a broker: its node's scope closes; its logs keep everything, or only what was flushed. */
  readonly crash: (broker: number, options?: { readonly loseUnflushed?: boolean }) => Effect.Effect<void>
  /** Restarts a crashed broker on its surviving logs. */
  readonly restart: (broker: number) => Effect.Effect<void>
  /**
   * SIGSTOP: every message to or from `node` is held (parked, in order) until `resume`. Its own
   * timers still fire, but nothing it sends gets out and nothing reaches it, so to the rest of the
   * cluster it is frozen; on `resume` the backlog arrives at once, as after a long GC pause.
   */
  readonly pause: (node: Target) => Effect.Effect<void>
  /** SIGCONT: releases what `pause` held. */
  readonly resume: (node: Target) => Effect.Effect<void>
  readonly isRunning: (broker: number) => boolean
  /** The controller's metadata, or `undefined` if it did not answer. */
  readonly metadata: Effect.Effect<ControllerProtocol.ClusterMetadata | undefined>
  /** Creates a topic (waiting for its leaders), failing if the controller refuses. */
  readonly createTopic: (
    name: string,
    options: { readonly partitions: number; readonly replicationFactor: number; readonly config?: ControllerProtocol.CreateTopic["config"] }
  ) => Effect.Effect<ControllerProtocol.TopicInfo, string>
  /** Every replica's log of every partition of `topic` (running or not), decoded. */
  readonly finalLogs: (topic: string) => Effect.Effect<ReadonlyArray<Checker.FinalLog>>
  /**
   * The actors of the cluster's nodes (controller, brokers, clients) that failed so far, oldest
   * first, at most {@link maxActorFailures}; `actorFailureCount` counts them all. Interruption (a
   * crash, a stop) is not a failure.
   */
  readonly actorFailures: Effect.Effect<ReadonlyArray<ActorFailed>>
  readonly actorFailureCount: Effect.Effect<number>
}

/** The node id of a target. */
export const nodeId = (target: Target): NodeId.NodeId =>
  target === "controller" ? EmbeddedCluster.controllerNodeId : EmbeddedCluster.brokerNodeId(target)

const text = new TextDecoder()

/** Decodes a replica's batches into checker records (values as UTF-8; undecodable batches skipped). */
export const decodeLog = (batches: ReadonlyArray<Uint8Array>): ReadonlyArray<Checker.LogRecord> =>
  batches.flatMap((batch) => {
    const records = RecordBatch.decodeRecords(batch)
    if (Either.isLeft(records)) return []
    return records.right.map((r) => ({
      offset: r.offset,
      value: r.value === null ? "" : text.decode(r.value),
      ...(r.key === null ? {} : { key: text.decode(r.key) })
    }))
  })

/**
 * Starts a test cluster on a fresh simulated network. Run it inside {@link simulate}: `advance`
 * sleeps, and only the simulation's virtual clock makes that free.
 */
export const make = (options: Options): Effect.Effect<TestCluster, never, Scope.Scope> =>
  Effect.gen(function*() {
    const seeded = SeededRandom.make(options.seed)
    const inner = yield* InProcess.make({ serialize: options.serialize ?? true })
    const network = yield* SimNetwork.make(inner, { seed: options.seed })
    const { linkDelayMs: _delay, seed: _seed, serialize: _serialize, ...clusterOptions } = options
    const clock = yield* Effect.clock
    const failures: Array<ActorFailed> = []
    let failureCount = 0
    const observer: Context.Tag.Service<Supervision.FailureObserver> = {
      onFailure: ({ address, cause }) => {
        failureCount++
        if (failures.length < maxActorFailures) {
          const text = Cause.pretty(cause)
          failures.push({
            _tag: "actor-failed",
            address,
            atMs: clock.unsafeCurrentTimeMillis(),
            cause: text.length > maxCauseChars ? `${text.slice(0, maxCauseChars)}...` : text
          })
        }
      }
    }
    // The embedded cluster makes every node (a restarted broker's and a client's too) in the
    // context it was made in: the observer reaches them all.
    const embedded = yield* Effect.orDie(EmbeddedCluster.make({ offsetsTopicPartitions: 0, ...clusterOptions })).pipe(
      Effect.provideService(Transport.Network, network),
      Effect.provideService(Supervision.FailureObserver, observer)
    )
    const [minMs, maxMs] = options.linkDelayMs ?? [1, 5]
    const delay = SimNetwork.Delay.Uniform({ minMs, maxMs })
    const everyone = (): ReadonlyArray<NodeId.NodeId> => [EmbeddedCluster.controllerNodeId, ...embedded.bootstrap, ...clients]
    const clients: Array<NodeId.NodeId> = []
    const paused = new Set<NodeId.NodeId>()
    const slowed = new Map<NodeId.NodeId, SimNetwork.Delay>()
    const slowLinks = (id: NodeId.NodeId, slowDelay: SimNetwork.Delay) =>
      Effect.forEach(everyone(), (other) =>
        other === id ? Effect.void : Effect.zipRight(network.delay(id, other, slowDelay), network.delay(other, id, slowDelay)), {
        discard: true
      })
    const applyDelays = (node: NodeId.NodeId) =>
      maxMs <= 0 ? Effect.void : Effect.forEach(everyone(), (other) =>
        other === node ? Effect.void : Effect.zipRight(network.delay(node, other, delay), network.delay(other, node, delay)), { discard: true })
    const hold = (id: NodeId.NodeId) =>
      Effect.forEach(everyone(), (other) =>
        other === id ? Effect.void : Effect.zipRight(network.hold(id, other), network.hold(other, id)), { discard: true })
    const release = (id: NodeId.NodeId) =>
      Effect.forEach(everyone(), (other) =>
        other === id || paused.has(other) ? Effect.void : Effect.zipRight(network.release(id, other), network.release(other, id)), {
        discard: true
      })
    yield* Effect.forEach(everyone(), applyDelays, { discard: true })

    const controllerAsk = embedded.controllerRef(embedded.controllerNode)
    const cluster: TestCluster = {
      seed: options.seed,
      embedded,
      network,
      brokerIds: embedded.brokerIds,
      random: seeded.stream,
      clientNode: (name) =>
        Effect.gen(function*() {
          const node = yield* Effect.orDie(embedded.clientNode(name))
          clients.push(node.id)
          yield* applyDelays(node.id)
          for (const id of paused) yield* hold(id)
          for (const [id, slowDelay] of slowed) yield* network.delay(id, node.id, slowDelay).pipe(Effect.zipRight(network.delay(node.id, id, slowDelay)))
          return node
        }),
      advance: (ms) => Effect.sleep(ms),
      partition: (groups) => network.partition(groups.map((group) => group.map(nodeId))),
      isolate: (node) => network.isolate(nodeId(node)),
      heal: Effect.suspend(() => {
        paused.clear()
        slowed.clear()
        return Effect.zipRight(network.heal, Effect.forEach(everyone(), applyDelays, { discard: true }))
      }),
      crash: (broker, crashOptions) => embedded.crash(broker, crashOptions),
      restart: (broker) => embedded.restart(broker),
      slow: (node, slowDelay) =>
        Effect.suspend(() => {
          slowed.set(nodeId(node), slowDelay)
          return slowLinks(nodeId(node), slowDelay)
        }),
      pause: (node) => Effect.suspend(() => (paused.add(nodeId(node)), hold(nodeId(node)))),
      resume: (node) => Effect.suspend(() => (paused.delete(nodeId(node)), release(nodeId(node)))),
      isRunning: embedded.isRunning,
      metadata: Effect.orElseSucceed(controllerAsk.ask(new ControllerProtocol.GetMetadata(), { timeoutMs: 5_000 }), () => undefined),
      createTopic: (name, topicOptions) =>
        Effect.gen(function*() {
          const topic = yield* controllerAsk.ask(
            new ControllerProtocol.CreateTopic({ name, ...topicOptions }),
            { timeoutMs: 10_000 }
          ).pipe(Effect.mapError((error) => error._tag))
          yield* Effect.sleep(500)
          return topic
        }),
      finalLogs: (topic) =>
        Effect.gen(function*() {
          const metadata = yield* cluster.metadata
          const info = metadata?.topics.find((t) => t.name === topic)
          if (info === undefined) return []
          const logs: Array<Checker.FinalLog> = []
          for (const p of info.partitions) {
            for (const broker of p.replicas) {
              const batches = yield* embedded.readLog(broker, topic, p.partition)
              logs.push({ topic, partition: p.partition, replica: `broker-${broker}`, records: decodeLog(batches) })
            }
          }
          return logs
        }),
      actorFailures: Effect.sync(() => failures.slice()),
      actorFailureCount: Effect.sync(() => failureCount)
    }
    return cluster
  })

/** Options of a simulation. */
export interface SimulateOptions {
  readonly seed: SeededRandom.Seed
  /** Virtual time after which the run is stopped as a runaway (a defect). Default 24 h. */
  readonly maxVirtualMs?: number
}

/**
 * Runs `effect` in a fresh deterministic world: virtual time starting at 0 that jumps to the next
 * timer whenever every fiber waits, a deterministic scheduler, and Effect's `Random` seeded from
 * `seed` (stream `effect-random`). The same effect and seed always give the same interleaving.
 */
export const simulate = <A, E>(effect: Effect.Effect<A, E>, options: SimulateOptions): Effect.Effect<A, E> =>
  internal.run(effect, {
    random: SeededRandom.random(options.seed, "effect-random"),
    ...(options.maxVirtualMs === undefined ? {} : { maxVirtualMs: options.maxVirtualMs })
  })

/** Starts a test cluster inside a fresh simulation, runs `f` on it, and stops it. */
export const run = <A, E>(
  options: Options & { readonly maxVirtualMs?: number },
  f: (cluster: TestCluster) => Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, E> =>
  simulate(Effect.scoped(Effect.flatMap(make(options), f)), {
    seed: options.seed,
    ...(options.maxVirtualMs === undefined ? {} : { maxVirtualMs: options.maxVirtualMs })
  })

/** A ref to a partition's replica on `broker`, from `node`. */
export const replicaRef = (node: Node.Node, broker: number, topic: string, partition: number): Actor.ActorRef<P.ReplicaProtocol> =>
  node.ref(Address.make(EmbeddedCluster.brokerNodeId(broker), P.replicaPath(topic, partition)), P.ReplicaProtocol)
