import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import * as Errors from "../../src/cluster/Errors.js"
import * as Metadata from "../../src/cluster/Metadata.js"

const left = <R, L>(e: Either.Either<R, L>): L => Option.getOrThrow(Either.getLeft(e))

describe("Metadata.makeTopicConfig", () => {
  it("fills Kafka's defaults", () => {
    expect(Metadata.makeTopicConfig(undefined, 3)).toEqual(Either.right({
      minInsyncReplicas: 1,
      uncleanLeaderElection: false,
      retentionMs: 604_800_000,
      retentionBytes: -1,
      cleanupPolicy: "delete",
      maxMessageBytes: 1_048_588,
      segmentBytes: 1_073_741_824
    }))
  })

  it("keeps given values", () => {
    const config = Either.getOrThrow(
      Metadata.makeTopicConfig({ minInsyncReplicas: 2, cleanupPolicy: "compact", uncleanLeaderElection: true }, 3)
    )
    expect([config.minInsyncReplicas, config.cleanupPolicy, config.uncleanLeaderElection]).toEqual([2, "compact", true])
  })

  it("rejects bad values with InvalidConfig naming the key", () => {
    const cases: ReadonlyArray<readonly [Metadata.TopicConfigInput, string]> = [
      [{ minInsyncReplicas: 0 }, "minInsyncReplicas"],
      [{ minInsyncReplicas: 1.5 }, "minInsyncReplicas"],
      [{ minInsyncReplicas: 4 }, "minInsyncReplicas"],
      [{ retentionMs: -2 }, "retentionMs"],
      [{ retentionBytes: -5 }, "retentionBytes"],
      [{ cleanupPolicy: "shred" as never }, "cleanupPolicy"],
      [{ maxMessageBytes: 0 }, "maxMessageBytes"],
      [{ segmentBytes: 10 }, "segmentBytes"],
      [{ bogus: 1 } as never, "bogus"]
    ]
    for (const [input, key] of cases) {
      const error = left(Metadata.makeTopicConfig(input, 3))
      expect(error).toBeInstanceOf(Errors.InvalidConfig)
      expect(error.key).toBe(key)
    }
  })

  it("validates topic names like Kafka", () => {
    for (const ok of ["orders", "a.b_c-D9", "x".repeat(249)]) expect(Either.isRight(Metadata.validateTopicName(ok))).toBe(true)
    for (const bad of ["", ".", "..", "x".repeat(250), "has space", "ünïcode"]) {
      expect(left(Metadata.validateTopicName(bad))._tag).toBe("InvalidTopic")
    }
  })

  it("PartitionState round-trips through its schema", () => {
    const p: Metadata.PartitionState = {
      topic: "t",
      partition: 0,
      replicas: [1, 2],
      isr: [1],
      leader: 1,
      leaderEpoch: 3,
      partitionEpoch: 7
    }
    const encoded = Schema.encodeSync(Metadata.PartitionState)(p)
    expect(Schema.decodeUnknownSync(Metadata.PartitionState)(JSON.parse(JSON.stringify(encoded)))).toEqual(p)
  })
})

describe("Errors", () => {
  it("marks Kafka's retriable errors", () => {
    expect(Errors.isRetriable(new Errors.NotLeader({ topic: "t", partition: 0 }))).toBe(true)
    expect(Errors.isRetriable(new Errors.NotEnoughReplicas({ topic: "t", partition: 0, isrSize: 1, minInsyncReplicas: 2 })))
      .toBe(true)
    expect(Errors.isRetriable(new Errors.UnknownTopicOrPartition({ topic: "t" }))).toBe(true)
    expect(Errors.isRetriable(new Errors.RecordTooLarge({ topic: "t", partition: 0, sizeBytes: 2, maxMessageBytes: 1 })))
      .toBe(false)
    expect(Errors.isRetriable(new Errors.OutOfOrderSequence({
      producerId: 1,
      producerEpoch: 0,
      expectedSequence: 1,
      receivedSequence: 3
    }))).toBe(false)
  })

  it("errors survive the wire (encode, JSON, decode)", () => {
    const error = new Errors.NotLeader({ topic: "t", partition: 2, leaderId: 3, leaderEpoch: 4 })
    const wire = JSON.parse(JSON.stringify(Schema.encodeSync(Errors.ClusterError)(error)))
    const back = Schema.decodeUnknownSync(Errors.ClusterError)(wire)
    expect(back).toBeInstanceOf(Errors.NotLeader)
    expect(back).toEqual(error)
  })
})
