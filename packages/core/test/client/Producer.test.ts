import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Scope, TestClock } from "effect"
import * as ClusterErrors from "../../src/cluster/Errors.js"
import * as Partitioner from "../../src/client/Partitioner.js"
import * as Producer from "../../src/client/Producer.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"
import * as FakeCluster from "./FakeCluster.js"
import { network, withClock } from "./support.js"

const values = (n: number, prefix = "v") => Array.from({ length: n }, (_, i) => ({ value: `${prefix}${i}` }))

const setup = (partitions = 3, brokers = 2) => FakeCluster.make({ brokers, topics: [{ name: "t", partitions }] })

describe("Producer", () => {
  it.scoped("round trip: keyless records round-robin over partitions, offsets per partition", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
      const sent = yield* producer.send({ topic: "t", messages: values(6) })
      expect(sent.map((m) => [m.partition, m.offset])).toEqual([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]])
      expect((yield* fake.records("t", 0)).map((r) => r.value)).toEqual(["v0", "v3"])
      expect(producer.identity?.producerId).toBe(1000)
    }).pipe(Effect.provide(network)))

  it.scoped("one send to one partition is ONE batch, in order", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
      const sent = yield* producer.send({ topic: "t", messages: values(100).map((m) => ({ ...m, partition: 1 })) })
      expect(fake.produces).toHaveLength(1)
      expect(fake.produces[0]!.recordCount).toBe(100)
      expect(sent.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i))
      expect((yield* fake.records("t", 1)).map((r) => r.value)).toEqual(values(100).map((m) => m.value))
    }).pipe(Effect.provide(network)))

  it.scoped("keyed records land on murmur2(key) % partitions", () =>
    Effect.gen(function*() {
      const fake = yield* setup(7)
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
      const keys = ["21", "foobar", "abc", "12345", "a-little-bit-long-string"]
      const sent = yield* producer.send({ topic: "t", messages: keys.map((key) => ({ key, value: "x" })) })
      const utf8 = new TextEncoder()
      expect(sent.map((m) => m.partition)).toEqual(keys.map((k) => Partitioner.partitionForKey(utf8.encode(k), 7)))
    }).pipe(Effect.provide(network)))

  it.scoped("lingerMs gathers concurrent sends into one batch on the TestClock", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, lingerMs: 100 })
      const fibers = yield* Effect.forEach([0, 1, 2], (i) =>
        Effect.fork(producer.send({ topic: "t", messages: [{ value: `s${i}`, partition: 0 }] })))
      yield* TestClock.adjust(99)
      expect(fake.produces).toHaveLength(0)
      yield* TestClock.adjust(1)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(fake.produces.map((p) => p.recordCount)).toEqual([3])
      expect(results.map((r) => r[0]!.offset)).toEqual([0, 1, 2])
    }).pipe(Effect.provide(network)))

  it.scoped("a full batch goes without waiting for lingerMs; batchSize splits drained sends", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({
        node: fake.client,
        bootstrap: fake.bootstrap,
        lingerMs: 60_000,
        batchSize: 100
      })
      const big = "x".repeat(120)
      const sent = yield* producer.send({ topic: "t", messages: [{ value: big, partition: 2 }] })
      expect(sent[0]!.offset).toBe(0)
      const pending = yield* Effect.fork(producer.send({ topic: "t", messages: [{ value: "small", partition: 2 }] }))
      yield* TestClock.adjust(59_999)
      expect(pending.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      expect((yield* Fiber.join(pending))[0]!.offset).toBe(1)
    }).pipe(Effect.provide(network)))

  it.scoped("order within a partition is kept across many concurrent sends with maxInFlight 5", () =>
    Effect.gen(function*() {
      const fake = yield* setup(1, 1)
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, batchSize: 1 })
      const fibers = []
      for (let i = 0; i < 50; i++) fibers.push(yield* Effect.fork(producer.send({ topic: "t", messages: [{ value: `m${i}` }] })))
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(results.map((r) => r[0]!.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i))
      expect((yield* fake.records("t", 0)).map((r) => r.value)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
      expect(fake.produces.length).toBeGreaterThan(1)
    }).pipe(Effect.provide(network)))

  it.scoped("NotLeader: refreshes metadata, retries on the new leader after a backoff", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, retryBackoffMs: 100 })
      yield* producer.send({ topic: "t", messages: [{ value: "warm", partition: 0 }] })
      const before = fake.metadataRequests.count
      fake.setLeader("t", 0, 2)
      const sent = yield* withClock(producer.send({ topic: "t", messages: [{ value: "moved", partition: 0 }] }))
      expect(sent[0]!.offset).toBe(1)
      expect(fake.produces.map((p) => p.broker)).toEqual([1, 1, 2])
      expect(fake.metadataRequests.count).toBeGreaterThan(before)
      // The retry kept the batch's sequence.
      expect(fake.produces[1]!.baseSequence).toBe(1)
      expect(fake.produces[2]!.baseSequence).toBe(1)
    }).pipe(Effect.provide(network)))

  it.scoped("idempotence: a batch appended but unanswered is retried and answered with its original offsets, one copy", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, requestTimeoutMs: 1_000 })
      fake.faults.set("t-0", [{ _tag: "AppendThenDrop" }])
      const sent = yield* withClock(producer.send({ topic: "t", messages: [{ value: "a", partition: 0 }, { value: "b", partition: 0 }] }), 100)
      expect(sent.map((m) => m.offset)).toEqual([0, 1])
      expect((yield* fake.records("t", 0)).map((r) => r.value)).toEqual(["a", "b"])
      expect(fake.produces).toHaveLength(2)
      expect(fake.produces[0]!.baseSequence).toBe(fake.produces[1]!.baseSequence)
    }).pipe(Effect.provide(network)))

  it.scoped("a non-retriable error fails the send at once", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
      const error = new ClusterErrors.RecordTooLarge({ topic: "t", partition: 0, sizeBytes: 10, maxMessageBytes: 1 })
      fake.faults.set("t-0", [{ _tag: "Error", error }])
      const failure = yield* Effect.flip(producer.send({ topic: "t", messages: [{ value: "a", partition: 0 }] }))
      expect(failure._tag).toBe("RecordTooLarge")
      expect(fake.produces).toHaveLength(1)
    }).pipe(Effect.provide(network)))

  it.scoped("retriable errors until retries run out: RetriesExhausted wrapping the last one", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, retries: 3, idempotent: false, acks: 1 })
      const error = new ClusterErrors.NotEnoughReplicas({ topic: "t", partition: 0, isrSize: 1, minInsyncReplicas: 2 })
      fake.faults.set("t-0", Array.from({ length: 10 }, () => ({ _tag: "Error" as const, error })))
      const failure = yield* Effect.flip(withClock(producer.send({ topic: "t", messages: [{ value: "a", partition: 0 }] }), 50))
      expect(failure._tag).toBe("RetriesExhausted")
      if (failure._tag === "RetriesExhausted") {
        expect(failure.attempts).toBe(4)
        expect(failure.lastError._tag).toBe("NotEnoughReplicas")
      }
      expect(fake.produces).toHaveLength(4)
    }).pipe(Effect.provide(network)))

  it.scoped("an unknown topic fails with UnknownTopicOrPartition after retries", () =>
    Effect.gen(function*() {
      const fake = yield* setup()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, retries: 2 })
      const failure = yield* Effect.flip(withClock(producer.send({ topic: "nope", messages: [{ value: "a" }] }), 50))
      expect(failure._tag).toBe("UnknownTopicOrPartition")
    }).pipe(Effect.provide(network)))

  it.scoped("every message shape is encoded once: string or byte keys, null values, headers as object or list, own timestamps", () =>
    Effect.gen(function*() {
      const fake = yield* setup(1, 1)
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
      const utf8 = new TextEncoder()
      const sent = yield* producer.send({
        topic: "t",
        messages: [
          { key: "k1", value: "v1", headers: { a: "x", b: null }, timestamp: 500 },
          { key: utf8.encode("k2"), value: null, headers: [{ key: "c", value: utf8.encode("y") }] },
          { value: utf8.encode("v3"), timestamp: 400 }
        ]
      })
      expect(sent.map((m) => [m.offset, m.timestamp])).toEqual([[0, 500], [1, 0], [2, 400]])
      const read = yield* fake.logs.get("t-0")!.read(0, 1 << 20)
      const records = Either.getOrThrow(RecordBatch.decodeRecords(read.batches[0]!))
      const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b))
      expect(records.map((r) => ({
        key: text(r.key),
        value: text(r.value),
        headers: r.headers.map((h) => [h.key, text(h.value)]),
        timestamp: r.timestamp
      }))).toEqual([
        { key: "k1", value: "v1", headers: [["a", "x"], ["b", null]], timestamp: 500 },
        { key: "k2", value: null, headers: [["c", "y"]], timestamp: 0 },
        { key: null, value: "v3", headers: [], timestamp: 400 }
      ])
    }).pipe(Effect.provide(network)))

  it.scoped("maxQueuedSends makes a send wait for room; closing the producer fails whatever is still queued", () =>
    Effect.gen(function*() {
      const fake = yield* setup(1, 1)
      const scope = yield* Scope.make()
      const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, lingerMs: 60_000, maxQueuedSends: 2 })
        .pipe(Scope.extend(scope))
      const fibers = yield* Effect.forEach([0, 1, 2], (i) => Effect.fork(producer.send({ topic: "t", messages: [{ value: `m${i}` }] })))
      yield* TestClock.adjust(10)
      expect(fibers.map((f) => f.unsafePoll())).toEqual([null, null, null])
      // Lingering ends: the two queued sends go as one batch, the third takes their room.
      yield* TestClock.adjust(60_000)
      const first = yield* Effect.forEach(fibers.slice(0, 2), Fiber.join)
      expect(first.map((r) => r[0]!.offset)).toEqual([0, 1])
      expect(fake.produces.map((p) => p.recordCount)).toEqual([2])
      yield* Scope.close(scope, Exit.void)
      const last = yield* Fiber.await(fibers[2]!)
      expect(Exit.isFailure(last) && Exit.causeOption(last).pipe((c) => c._tag === "Some" && String(c.value))).toContain("ProducerClosed")
    }).pipe(Effect.provide(network)))

  it.scoped("acks=0 answers offset -1 without waiting; sticky keeps keyless records of a send together", () =>
    Effect.gen(function*() {
      const fake = yield* setup(4)
      const fire = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, acks: 0 })
      expect(fire.identity).toBeUndefined()
      const sent = yield* fire.send({ topic: "t", messages: [{ value: "a", partition: 0 }] })
      expect(sent[0]!.offset).toBe(-1)
      const sticky = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap, partitioner: "sticky" })
      const batch = yield* sticky.send({ topic: "t", messages: values(10) })
      expect(new Set(batch.map((m) => m.partition)).size).toBe(1)
    }).pipe(Effect.provide(network)))
})
