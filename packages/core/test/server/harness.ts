/** Helpers for cluster tests: raw produce and fetch against partition leaders. */
import { Effect, Either, Schema, TestClock } from "effect"
import {
  Address,
  ControllerProtocol,
  EmbeddedCluster,
  InProcess,
  type Node,
  Record,
  RecordBatch,
  ReplicaProtocol as P
} from "../../src/index.js"

export const network = InProcess.layer({ serialize: true })

/** Lets time pass in steps so timers, heartbeats and fetch loops run. */
export const advance = (ms: number, stepMs = 100) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += stepMs) {
      yield* TestClock.adjust(Math.min(stepMs, ms - t))
      yield* Effect.yieldNow()
    }
  })

export const createTopic = (
  cluster: EmbeddedCluster.EmbeddedCluster,
  node: Node.Node,
  name: string,
  partitions: number,
  replicationFactor: number,
  config: ControllerProtocol.CreateTopic["config"] = undefined
) =>
  Effect.gen(function*() {
    const topic = yield* cluster.controllerRef(node).ask(
      new ControllerProtocol.CreateTopic({ name, partitions, replicationFactor, ...(config ? { config } : {}) })
    )
    yield* advance(500)
    return topic
  })

export const leaderOf = (cluster: EmbeddedCluster.EmbeddedCluster, topic: string, partition: number) =>
  Effect.map(cluster.metadata, (m) => m.topics.find((t) => t.name === topic)!.partitions[partition]!)

const utf8 = new TextEncoder()
const text = new TextDecoder()

export const batchOf = (values: ReadonlyArray<string>, producer?: { id: number; epoch: number; sequence: number }) =>
  RecordBatch.encode({
    records: values.map((v) => Record.make({ value: utf8.encode(v), timestamp: 0 })),
    ...(producer ? { producerId: producer.id, producerEpoch: producer.epoch, baseSequence: producer.sequence } : {})
  })

export const replicaRef = (node: Node.Node, brokerId: number, topic: string, partition: number) =>
  node.ref(Address.make(EmbeddedCluster.brokerNodeId(brokerId), P.replicaPath(topic, partition)), P.ReplicaProtocol)

/** Produces one batch to the current leader. */
export const produce = (
  cluster: EmbeddedCluster.EmbeddedCluster,
  node: Node.Node,
  topic: string,
  partition: number,
  values: ReadonlyArray<string>,
  options: { acks?: P.Acks; producer?: { id: number; epoch: number; sequence: number }; timeoutMs?: number } = {}
) =>
  Effect.gen(function*() {
    const state = yield* leaderOf(cluster, topic, partition)
    return yield* replicaRef(node, state.leader, topic, partition).ask(
      new P.Produce({
        topic,
        partition,
        acks: options.acks ?? -1,
        timeoutMs: options.timeoutMs ?? 10_000,
        batch: batchOf(values, options.producer)
      }),
      { timeoutMs: 30_000 }
    )
  })

/** Values in a list of batches. */
export const valuesOf = (batches: ReadonlyArray<Uint8Array>) =>
  batches.flatMap((b) => {
    const records = RecordBatch.decodeRecords(b)
    if (Either.isLeft(records)) throw new Error("corrupt batch")
    return records.right.map((r) => text.decode(r.value!))
  })

/** Everything a consumer can read (below the high watermark) from the leader. */
export const consumeAll = (cluster: EmbeddedCluster.EmbeddedCluster, node: Node.Node, topic: string, partition: number) =>
  Effect.gen(function*() {
    const state = yield* leaderOf(cluster, topic, partition)
    const ref = replicaRef(node, state.leader, topic, partition)
    const values: Array<string> = []
    let offset = 0
    while (true) {
      const result = yield* ref.ask(
        new P.Fetch({ topic, partition, fetchOffset: offset, maxBytes: 1 << 20, maxWaitMs: 0, minBytes: 1, replicaId: -1 })
      )
      if (result.batches.length === 0) return values
      for (const b of result.batches) {
        const records = RecordBatch.decodeRecords(b)
        if (Either.isRight(records)) {
          for (const r of records.right) if (r.offset >= offset) values.push(text.decode(r.value!))
        }
        offset = RecordBatch.lastOffset(b) + 1
      }
    }
  })

export const decode = Schema.decodeUnknownSync
