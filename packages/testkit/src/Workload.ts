/**
 * Workload generators for a `TestCluster`: producers (acks 0 / 1 / all, idempotent or not) and
 * consumers talking to partition leaders with raw `Produce` / `Fetch` asks, consumer-group members
 * (core's `GroupConsumer`, committing after each batch), an observer recording leader elections,
 * and the liveness check. Every operation goes into a `History` (invoke, then ok / fail / info),
 * with unique values (`<process>-<n>`) so checkers can key on them.
 *
 * @since 0.1.0
 */
import { Effect, Fiber, type Scope } from "effect"
import { type ControllerProtocol, EmbeddedCluster, type Node, ReplicaProtocol as P } from "@fiberlog/core"
import type * as History from "./History.js"
import type * as Nemesis from "./Nemesis.js"
import * as TestCluster from "./TestCluster.js"
import * as internal from "./internal/workload.js"

/** A producer process. */
export interface ProducerSpec {
  readonly name: string
  /** 0: fire and forget (recorded `info`), 1: leader append, -1: every ISR member. */
  readonly acks: P.Acks
  /** Producer id + per-partition sequence: the leader drops duplicates, so retries never duplicate. */
  readonly idempotent: boolean
  /** Mean pause between two sends, in virtual ms (uniform over [0, 2 × mean]). */
  readonly intervalMs: number
  /** Retries of one send (idempotent: same sequence). Default 3. */
  readonly retries?: number
  /** How long one produce may take, in ms. Default 3_000. */
  readonly requestTimeoutMs?: number
}

/**
 * A consumer group: `members` processes, each a `GroupConsumer` subscribed to the topic. Each
 * records its assignments (`assign`, with generation and member id), its polls (`poll`, with the
 * generation they were fetched in) and a commit of the next offset after every batch (`commit`).
 * A member that crashes (a `crash-member` fault) comes back as a new process (`<group>-m<i>.<n>`)
 * with a new member id; members never leave on purpose, so the coordinator must notice.
 */
export interface GroupSpec {
  readonly group: string
  readonly members: number
  /** Default "range" (eager); "cooperative-sticky" exercises incremental rebalances. */
  readonly assignor?: "range" | "roundrobin" | "cooperative-sticky"
  /** Default 3_000. */
  readonly sessionTimeoutMs?: number
  /** Default 500. */
  readonly heartbeatIntervalMs?: number
  /** Default 6_000. */
  readonly rebalanceTimeoutMs?: number
  /** Poll wait, in ms. Default 1_000. */
  readonly maxWaitMs?: number
}

/** What a workload runs against a test cluster. */
export interface Spec {
  readonly topic: string
  readonly partitions: number
  readonly replicationFactor: number
  readonly config?: ControllerProtocol.CreateTopic["config"]
  readonly producers: ReadonlyArray<ProducerSpec>
  /** Consumer processes; each reads every partition from offset 0. */
  readonly consumers: number
  /** Consumer groups (none by default). Their members are numbered in order across groups for member faults. */
  readonly groups?: ReadonlyArray<GroupSpec>
  /** Consumer long-poll wait, in ms. Default 1_000. */
  readonly fetchMaxWaitMs?: number
}

/** A started workload. */
export interface Running {
  /** Stops the producers (their in-flight sends end as `info`). */
  readonly stopProducers: Effect.Effect<void>
  /** Stops the consumers and the observer. */
  readonly stopConsumers: Effect.Effect<void>
  /** Every consumer reads each partition up to its leader's high watermark (after heal). */
  readonly drain: Effect.Effect<void>
  /** The client node the workload uses (for probes). */
  readonly client: Node.Node
  /** The group members, for the nemesis's member faults. */
  readonly members: Nemesis.Members
}

/** A liveness failure found by {@link liveness}. */
export interface LivenessFinding {
  readonly _tag: "liveness"
  readonly topic: string
  readonly partition: number
  readonly reason: string
}

/** Creates the topic and starts the producers, the consumers and the election observer. */
export const start = (
  cluster: TestCluster.TestCluster,
  recorder: History.Recorder,
  spec: Spec
): Effect.Effect<Running, string, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* cluster.clientNode("workload")
    yield* cluster.createTopic(spec.topic, {
      partitions: spec.partitions,
      replicationFactor: spec.replicationFactor,
      ...(spec.config === undefined ? {} : { config: spec.config })
    })
    const ctx = internal.context(cluster, client, recorder, spec)
    const producers = yield* Effect.forEach(spec.producers, (p) => Effect.forkScoped(internal.producer(ctx, p)))
    const consumers = yield* Effect.forEach(
      Array.from({ length: spec.consumers }, (_, i) => i),
      (i) => Effect.forkScoped(internal.consumer(ctx, `consumer-${i}`))
    )
    const observer = yield* Effect.forkScoped(internal.observer(ctx))
    const members = yield* internal.groupMembers(ctx, spec.groups ?? [])
    return {
      client,
      members,
      stopProducers: Fiber.interruptAll(producers),
      stopConsumers: Effect.zipRight(Fiber.interruptAll([...consumers, observer]), members.stopAll),
      drain: Effect.forEach(ctx.positions.keys(), (process) => internal.drain(ctx, process), { discard: true })
    }
  })

/**
 * The liveness check, to run after `heal()` and enough time: every partition of `topic` has a
 * leader, every replica is back in the ISR with the leader's log end, and a probe record produced
 * with acks=all can be consumed. Retries for `timeoutMs` of virtual time before reporting.
 */
export const liveness = (
  cluster: TestCluster.TestCluster,
  client: Node.Node,
  topic: string,
  timeoutMs = 20_000
): Effect.Effect<ReadonlyArray<LivenessFinding>> =>
  Effect.gen(function*() {
    let findings: ReadonlyArray<LivenessFinding> = []
    const deadline = (yield* internal.now) + timeoutMs
    let probe = 0
    while (true) {
      findings = yield* livenessOnce(cluster, client, topic, `liveness-probe-${probe++}`)
      if (findings.length === 0 || (yield* internal.now) >= deadline) return findings
      yield* Effect.sleep(500)
    }
  })

const livenessOnce = (cluster: TestCluster.TestCluster, client: Node.Node, topic: string, value: string) =>
  Effect.gen(function*() {
    const metadata = yield* cluster.metadata
    const info = metadata?.topics.find((t) => t.name === topic)
    if (info === undefined) return [{ _tag: "liveness" as const, topic, partition: -1, reason: "no metadata" }]
    const findings: Array<LivenessFinding> = []
    const fail = (partition: number, reason: string) => findings.push({ _tag: "liveness", topic, partition, reason })
    for (const p of info.partitions) {
      if (p.leader < 0) {
        fail(p.partition, "no leader")
        continue
      }
      if ([...p.isr].sort().join() !== [...p.replicas].sort().join()) {
        fail(p.partition, `ISR ${p.isr.join(",")} is not all of ${p.replicas.join(",")}`)
        continue
      }
      const ends = new Set<number>()
      for (const broker of p.replicas) {
        const d = yield* Effect.either(cluster.embedded.describeReplica(broker, topic, p.partition))
        if (d._tag === "Left") fail(p.partition, `broker ${broker} does not answer`)
        else ends.add(d.right.logEndOffset)
      }
      if (ends.size > 1) {
        fail(p.partition, `replica log ends differ: ${[...ends].join(",")}`)
        continue
      }
      const leader = TestCluster.replicaRef(client, p.leader, topic, p.partition)
      const produced = yield* Effect.either(leader.ask(
        new P.Produce({ topic, partition: p.partition, acks: -1, timeoutMs: 2_000, batch: internal.batchOf(`${value}-${p.partition}`) }),
        { timeoutMs: 3_000 }
      ))
      if (produced._tag === "Left") {
        fail(p.partition, `probe produce failed: ${produced.left._tag}`)
        continue
      }
      const fetched = yield* Effect.either(leader.ask(
        new P.Fetch({
          topic,
          partition: p.partition,
          fetchOffset: produced.right.baseOffset,
          maxBytes: 1 << 20,
          maxWaitMs: 0,
          minBytes: 1,
          replicaId: P.consumerReplicaId
        }),
        { timeoutMs: 3_000 }
      ))
      if (fetched._tag === "Left" || fetched.right.batches.length === 0) fail(p.partition, "probe not consumable")
    }
    return findings
  })

/** One record with `value` as a batch, optionally idempotent (producer id, epoch, base sequence). */
export const batchOf: (
  value: string,
  producer?: { readonly id: number; readonly epoch: number; readonly sequence: number }
) => Uint8Array = internal.batchOf

/** The broker node of a broker id (for clients). */
export const brokerNode = EmbeddedCluster.brokerNodeId

/** Re-exported for workload writers: one history operation. */
export type Op = History.Op
