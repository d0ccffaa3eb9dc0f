/**
 * A small fake of the cluster for client tests: one "broker" actor per broker node (answers
 * GetMetadata and InitProducerId) with one replica child per partition over a MemoryLog shared
 * by every broker (so a leader change keeps the data). Only the broker named leader in the
 * metadata accepts Produce / Fetch / ListOffsets (every Produce attempt is recorded in `produces`).
 * Faults are scripted per partition.
 */
import { Deferred, Effect, Either, FiberId, Schema } from "effect"
import type { Scope } from "effect"
import * as Actor from "../../src/actor/Actor.js"
import * as Node from "../../src/actor/Node.js"
import * as ControllerProtocol from "../../src/cluster/ControllerProtocol.js"
import * as ClusterErrors from "../../src/cluster/Errors.js"
import * as Metadata from "../../src/cluster/Metadata.js"
import * as ProducerState from "../../src/cluster/ProducerState.js"
import * as ReplicaProtocol from "../../src/cluster/ReplicaProtocol.js"
import * as MemoryLog from "../../src/log/MemoryLog.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"
import * as NodeId from "../../src/transport/NodeId.js"
import type * as Transport from "../../src/transport/Transport.js"

/** A scripted answer to the next Produce of a partition. */
export type Fault =
  | { readonly _tag: "Error"; readonly error: Schema.WithResult.Failure<ReplicaProtocol.Produce> }
  /** Append, then never answer (the producer's ask times out). */
  | { readonly _tag: "AppendThenDrop" }
  /** Do not answer at all. */
  | { readonly _tag: "Drop" }

export interface ProduceSeen {
  readonly topic: string
  readonly partition: number
  readonly broker: number
  readonly recordCount: number
  readonly baseSequence: number
  readonly producerId: number
}

export interface FakeCluster {
  readonly bootstrap: ReadonlyArray<string>
  readonly client: Node.Node
  readonly logs: Map<string, MemoryLog.MemoryLog>
  readonly produces: Array<ProduceSeen>
  readonly faults: Map<string, Array<Fault>>
  readonly metadataRequests: { count: number }
  /** Moves a partition's leadership (bumping its epoch) in the metadata the brokers serve. */
  readonly setLeader: (topic: string, partition: number, brokerId: number) => void
  /** The metadata the brokers serve now. */
  readonly metadata: () => ControllerProtocol.ClusterMetadata
  /** Makes `brokerId` answer GetMetadata with `metadata` (a broker behind the controller); undefined: the current again. */
  readonly serveMetadata: (brokerId: number, metadata: ControllerProtocol.ClusterMetadata | undefined) => void
  /** Decoded records of a partition. */
  readonly records: (topic: string, partition: number) => Effect.Effect<Array<{ offset: number; value: string }>>
}

const text = new TextDecoder()
const key = (topic: string, partition: number) => `${topic}-${partition}`

interface Shared {
  metadata: ControllerProtocol.ClusterMetadata
  readonly logs: Map<string, MemoryLog.MemoryLog>
  readonly producerStates: Map<string, ProducerState.ProducerState>
  readonly appended: Map<string, Deferred.Deferred<void>>
  readonly produces: Array<ProduceSeen>
  readonly faults: Map<string, Array<Fault>>
  readonly metadataRequests: { count: number }
  /** What a broker answers GetMetadata with instead of `metadata`. */
  readonly servedMetadata: Map<number, ControllerProtocol.ClusterMetadata>
  nextProducerId: number
}

const isLeader = (shared: Shared, brokerId: number, topic: string, partition: number) =>
  shared.metadata.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partition === partition)?.leader ===
    brokerId

const replica = (shared: Shared, brokerId: number, topic: string, partition: number) => {
  const k = key(topic, partition)
  const log = shared.logs.get(k)!
  const notLeader = () => new ClusterErrors.NotLeader({ topic, partition })
  const signal = () => {
    const d = shared.appended.get(k)!
    shared.appended.set(k, Deferred.unsafeMake<void>(FiberId.none))
    return Deferred.succeed(d, undefined)
  }
  const read = (fetchOffset: number, maxBytes: number) =>
    log.read(fetchOffset, maxBytes).pipe(
      Effect.map((r) =>
        new ReplicaProtocol.FetchResult({
          batches: r.batches,
          highWatermark: r.logEndOffset,
          logStartOffset: r.logStartOffset,
          logEndOffset: r.logEndOffset,
          leaderEpoch: 0
        })
      ),
      Effect.catchTag("OffsetOutOfRange", (e) =>
        Effect.fail(
          new ClusterErrors.OffsetOutOfRange({
            topic,
            partition,
            offset: e.offset,
            logStartOffset: e.logStartOffset,
            logEndOffset: e.logEndOffset
          })
        )),
      Effect.catchTags({ LogClosed: Effect.die, StorageError: Effect.die })
    )
  const append = (batch: Uint8Array) =>
    Effect.gen(function*() {
      const h = RecordBatch.header(batch)
      const states = shared.producerStates.get(k) ?? ProducerState.empty
      if (h.producerId >= 0) {
        const verdict = ProducerState.check(states, h)
        if (Either.isLeft(verdict)) return yield* Effect.fail(verdict.left)
        if (verdict.right._tag === "Duplicate") {
          return new ReplicaProtocol.ProduceResult({
            baseOffset: verdict.right.baseOffset,
            lastOffset: verdict.right.lastOffset,
            logAppendTimeMs: -1,
            logStartOffset: 0
          })
        }
      }
      const info = yield* Effect.orDie(log.append(batch))
      if (h.producerId >= 0) shared.producerStates.set(k, ProducerState.onAppend(states, { ...h, baseOffset: info.baseOffset }))
      yield* signal()
      return new ReplicaProtocol.ProduceResult({
        baseOffset: info.baseOffset,
        lastOffset: info.lastOffset,
        logAppendTimeMs: -1,
        logStartOffset: 0
      })
    })
  return Actor.behavior({
    protocol: ReplicaProtocol.ReplicaProtocol,
    init: () => Effect.succeed(null),
    handlers: {
      Produce: (s, msg) =>
        Effect.gen(function*() {
          const h = RecordBatch.header(msg.batch)
          shared.produces.push({
            topic,
            partition,
            broker: brokerId,
            recordCount: h.recordCount,
            baseSequence: h.baseSequence,
            producerId: h.producerId
          })
          if (!isLeader(shared, brokerId, topic, partition)) return yield* Effect.fail(notLeader())
          const fault = shared.faults.get(k)?.shift()
          if (fault?._tag === "Error") return yield* Effect.fail(fault.error)
          if (fault?._tag === "Drop") return [Actor.later(Effect.never), s] as const
          const result = yield* append(msg.batch)
          if (fault?._tag === "AppendThenDrop") return [Actor.later(Effect.never), s] as const
          return [result, s] as const
        }),
      Fetch: (s, msg) =>
        Effect.gen(function*() {
          if (!isLeader(shared, brokerId, topic, partition)) return yield* Effect.fail(notLeader())
          const now = yield* read(msg.fetchOffset, msg.maxBytes)
          if (now.batches.length > 0 || msg.maxWaitMs <= 0) return [now, s] as const
          const waitFor = shared.appended.get(k)!
          const later = Effect.raceFirst(Deferred.await(waitFor), Effect.sleep(msg.maxWaitMs)).pipe(
            Effect.zipRight(read(msg.fetchOffset, msg.maxBytes))
          )
          return [Actor.later(later), s] as const
        }),
      ListOffsets: (s, msg) =>
        Effect.gen(function*() {
          if (!isLeader(shared, brokerId, topic, partition)) return yield* Effect.fail(notLeader())
          const spec = msg.spec
          if (spec === "earliest") return [{ offset: yield* log.logStartOffset, timestamp: -1 }, s] as const
          if (spec === "latest") return [{ offset: yield* log.logEndOffset, timestamp: -1 }, s] as const
          const hit = yield* Effect.orDie(log.offsetForTimestamp(spec.timestamp))
          return [hit._tag === "Some" ? hit.value : { offset: -1, timestamp: -1 }, s] as const
        }),
      UpdatePartition: (s) => Effect.succeed(s),
      Tick: (s) => Effect.succeed(s),
      ApplyFetch: () => Effect.dieMessage("not in the fake"),
      ApplyOutOfRange: () => Effect.dieMessage("not in the fake"),
      IsrChangeDone: (s) => Effect.succeed(s),
      Describe: () => Effect.dieMessage("not in the fake")
    }
  })
}

const broker = (shared: Shared, brokerId: number) =>
  Actor.behavior<ControllerProtocol.BrokerProtocol, typeof ControllerProtocol.BrokerProtocol.Encoded, null>({
    protocol: ControllerProtocol.BrokerProtocol,
    init: (ctx) =>
      Effect.gen(function*() {
        for (const t of shared.metadata.topics) {
          for (const p of t.partitions) {
            yield* Effect.orDie(ctx.spawn(ReplicaProtocol.replicaName(t.name, p.partition), replica(shared, brokerId, t.name, p.partition)))
          }
        }
        return null
      }),
    handlers: {
      MetadataUpdate: (s) => Effect.succeed(s),
      GetMetadata: (s) =>
        Effect.sync(() => {
          shared.metadataRequests.count++
          return [shared.servedMetadata.get(brokerId) ?? shared.metadata, s] as const
        }),
      CreateTopic: () => Effect.fail(new ClusterErrors.ControllerNotAvailable({ message: "fake" })),
      DeleteTopic: () => Effect.fail(new ClusterErrors.ControllerNotAvailable({ message: "fake" })),
      InitProducerId: (s) => Effect.sync(() => [{ producerId: shared.nextProducerId++, producerEpoch: 0 }, s] as const)
    }
  })

/** Starts `brokers` fake brokers (ids 1..n on nodes `b1..bn`) serving `topics`; partition p led by broker 1 + p % n. */
export const make = (options: {
  readonly brokers: number
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: number }>
}): Effect.Effect<FakeCluster, never, Transport.Network | Scope.Scope> =>
  Effect.gen(function*() {
    const brokerIds = Array.from({ length: options.brokers }, (_, i) => i + 1)
    const topics = options.topics.map((t) => ({
      name: t.name,
      config: Schema.decodeSync(Metadata.TopicConfig)({}),
      partitions: Array.from({ length: t.partitions }, (_, p) => ({
        topic: t.name,
        partition: p,
        replicas: brokerIds,
        isr: brokerIds,
        leader: brokerIds[p % brokerIds.length]!,
        leaderEpoch: 0,
        partitionEpoch: 0
      }))
    }))
    const shared: Shared = {
      metadata: new ControllerProtocol.ClusterMetadata({
        version: 1,
        controllerNodeId: "b1",
        brokers: brokerIds.map((id) => ({ brokerId: id, nodeId: `b${id}`, fenced: false })),
        topics
      }),
      logs: new Map(),
      producerStates: new Map(),
      appended: new Map(),
      produces: [],
      faults: new Map(),
      metadataRequests: { count: 0 },
      servedMetadata: new Map(),
      nextProducerId: 1000
    }
    for (const t of topics) {
      for (const p of t.partitions) {
        shared.logs.set(key(t.name, p.partition), yield* MemoryLog.make())
        shared.appended.set(key(t.name, p.partition), yield* Deferred.make<void>())
      }
    }
    for (const id of brokerIds) {
      const node = yield* Effect.orDie(Node.make({ id: NodeId.make(`b${id}`) }))
      yield* Effect.orDie(node.spawn(ControllerProtocol.brokerPath, broker(shared, id)))
    }
    const client = yield* Effect.orDie(Node.make({ id: NodeId.make("client") }))
    return {
      bootstrap: brokerIds.map((id) => `b${id}`),
      client,
      logs: shared.logs,
      produces: shared.produces,
      faults: shared.faults,
      metadataRequests: shared.metadataRequests,
      setLeader: (topic, partition, brokerId) => {
        const m = shared.metadata
        shared.metadata = new ControllerProtocol.ClusterMetadata({
          ...m,
          version: m.version + 1,
          topics: m.topics.map((t) =>
            t.name !== topic ? t : {
              ...t,
              partitions: t.partitions.map((p) =>
                p.partition !== partition ? p : { ...p, leader: brokerId, leaderEpoch: p.leaderEpoch + 1 }
              )
            }
          )
        })
      },
      metadata: () => shared.metadata,
      serveMetadata: (brokerId, metadata) => {
        if (metadata === undefined) shared.servedMetadata.delete(brokerId)
        else shared.servedMetadata.set(brokerId, metadata)
      },
      records: (topic, partition) =>
        Effect.gen(function*() {
          const log = shared.logs.get(key(topic, partition))!
          const r = yield* Effect.orDie(log.read(0, Number.MAX_SAFE_INTEGER))
          return r.batches.flatMap((b) =>
            Either.getOrThrow(RecordBatch.decodeRecords(b)).map((rec) => ({
              offset: rec.offset,
              value: rec.value === null ? "" : text.decode(rec.value)
            }))
          )
        })
    } satisfies FakeCluster
  })
