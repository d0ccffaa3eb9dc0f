/**
 * A replica on the in-process network without serialisation (what `EmbeddedCluster` users and the
 * benchmarks run): batches travel as the very arrays the producer built, so a leader may keep the
 * one handed over (`BatchBuilder.claim`) and its followers share it, while a batch sent again
 * (a retry) is copied and leaves the stored one intact.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { EmbeddedCluster, InProcess, ReplicaProtocol as P } from "../../src/index.js"
import * as BatchBuilder from "../../src/log/BatchBuilder.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"
import { advance, createTopic, leaderOf, replicaRef } from "../server/harness.js"

const utf8 = new TextEncoder()

const batchOf = (
  values: ReadonlyArray<string>,
  producer: BatchBuilder.ProducerFields = { producerId: -1, producerEpoch: -1, baseSequence: -1 }
) => {
  const builder = BatchBuilder.make(64, 1024)
  for (const v of values) builder.append(null, utf8.encode(v), [], 7)
  return builder.build(producer)
}

/** A 3-broker embedded cluster with topic "t" (1 partition, RF 3), and a ref to its leader replica. */
const threeReplicas = Effect.gen(function*() {
  const cluster = yield* EmbeddedCluster.make({ brokers: 3, fetchMaxWaitMs: 100 })
  const client = yield* cluster.clientNode("client")
  yield* advance(500)
  yield* createTopic(cluster, client, "t", 1, 3)
  const state = yield* leaderOf(cluster, "t", 0)
  return { cluster, leaderId: state.leader, leader: replicaRef(client, state.leader, "t", 0) }
})

const offsetsOf = (batches: ReadonlyArray<Uint8Array>) =>
  batches.flatMap((b) => Either.getOrThrow(RecordBatch.decodeRecords(b)).map((r) => r.offset))

describe("Replica (in process, no copies)", () => {
  it.scoped("the leader keeps a handed-over batch, followers share it; the same array sent again is copied", () =>
    Effect.gen(function*() {
      const { cluster, leader, leaderId } = yield* threeReplicas
      const batch = batchOf(["a", "b", "c"])
      const produce = leader.ask(new P.Produce({ topic: "t", partition: 0, acks: 1, timeoutMs: 1_000, batch }))
      expect((yield* produce).baseOffset).toBe(0)
      expect((yield* produce).baseOffset).toBe(3) // the same array again: appended as a copy at 3
      yield* advance(1_000)
      for (const id of cluster.brokerIds) {
        const stored = yield* cluster.readLog(id, "t", 0)
        expect(offsetsOf(stored)).toEqual([0, 1, 2, 3, 4, 5])
        expect(stored.map(RecordBatch.baseOffset)).toEqual([0, 3])
        expect(stored[0]).toBe(batch) // kept by the leader (offsets patched), then shared by the followers
        expect(stored[1]).not.toBe(batch)
      }
      const described = yield* cluster.describeReplica(leaderId, "t", 0)
      expect(described).toMatchObject({ highWatermark: 6, logEndOffset: 6 })
    }).pipe(Effect.provide(InProcess.layer())))
})

describe("Replica: a corrupt batch", () => {
  const corrupted = (batch: Uint8Array) => {
    const copy = new Uint8Array(batch)
    copy[copy.length - 1]! ^= 0xff // a value byte: only the CRC can tell
    return copy
  }

  it.scoped("gets InvalidRequest and leaves every replica's log as it was (acks 1 and all, a retried duplicate)", () =>
    Effect.gen(function*() {
      const { cluster, leader } = yield* threeReplicas
      const produce = (batch: Uint8Array, acks: P.Acks) =>
        leader.ask(new P.Produce({ topic: "t", partition: 0, acks, timeoutMs: 1_000, batch }))
      for (const acks of [1, -1] as const) {
        const error = yield* Effect.flip(produce(corrupted(batchOf(["x", "y"])), acks))
        expect(error).toMatchObject({ _tag: "InvalidRequest" })
        expect(String((error as { message?: string }).message)).toContain("CRC")
      }
      // an idempotent batch, then the "same" batch again with a flipped bit: not a duplicate to answer
      const idempotent = batchOf(["once"], { producerId: 1000, producerEpoch: 0, baseSequence: 0 })
      const bad = corrupted(idempotent)
      expect((yield* produce(idempotent, -1)).baseOffset).toBe(0)
      expect(yield* Effect.flip(produce(bad, -1))).toMatchObject({ _tag: "InvalidRequest" })
      yield* advance(1_000)
      for (const id of cluster.brokerIds) {
        expect(offsetsOf(yield* cluster.readLog(id, "t", 0))).toEqual([0])
      }
    }).pipe(Effect.provide(InProcess.layer())))
})
