import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Stream, TestClock } from "effect"
import * as Consumer from "../../src/client/Consumer.js"
import * as Producer from "../../src/client/Producer.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"
import * as FakeCluster from "./FakeCluster.js"
import { network, text, withClock } from "./support.js"

const tp0 = { topic: "t", partition: 0 }
const tp1 = { topic: "t", partition: 1 }

const setup = Effect.gen(function*() {
  const fake = yield* FakeCluster.make({ brokers: 2, topics: [{ name: "t", partitions: 2 }] })
  const producer = yield* Producer.make({ node: fake.client, bootstrap: fake.bootstrap })
  const produce = (partition: number, vals: ReadonlyArray<string>, timestamp?: number) =>
    producer.send({ topic: "t", messages: vals.map((value) => ({ value, partition, timestamp })) })
  return { fake, produce }
})

describe("Consumer", () => {
  it("recordsFromBatches skips records below the fetch offset and gives the next position", () => {
    const batch = RecordBatch.encode({
      records: ["a", "b", "c"].map((v) => Record.fromStrings(null, v, 5)),
      baseOffset: 10
    })
    const out = Either.getOrThrow(Consumer.recordsFromBatches(tp0, 11, [batch]))
    expect(out.records.map((r) => [r.offset, text(r.value)])).toEqual([[11, "b"], [12, "c"]])
    expect(out.nextOffset).toBe(13)
    expect(out.records[0]!.topic).toBe("t")
    const corrupt = new Uint8Array(batch)
    corrupt[corrupt.length - 1]! ^= 0xff
    expect(Either.isLeft(Consumer.recordsFromBatches(tp0, 10, [corrupt]))).toBe(true)
  })

  it.scoped("assign + seek earliest + poll reads every partition in order", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a", "b"])
      yield* produce(0, ["c"])
      yield* produce(1, ["x"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([tp0, tp1])
      const seen: Array<string> = []
      while (seen.length < 4) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 100 }))) seen.push(`${r.partition}:${r.offset}:${text(r.value)}`)
      }
      expect(seen.filter((s) => s.startsWith("0:"))).toEqual(["0:0:a", "0:1:b", "0:2:c"])
      expect(seen.filter((s) => s.startsWith("1:"))).toEqual(["1:0:x"])
      expect(yield* consumer.position(tp0)).toBe(3)
      const lag = yield* consumer.lag
      expect(lag.find((l) => l.partition === 0)?.lag).toBe(0)
    }).pipe(Effect.provide(network)))

  it.scoped("seek to an offset in the middle of a batch skips the records before it", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a", "b", "c", "d"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap })
      yield* consumer.assign([tp0])
      yield* consumer.seek(tp0, 2)
      const records = yield* consumer.poll({ maxWaitMs: 0 })
      expect(records.map((r) => text(r.value))).toEqual(["c", "d"])
    }).pipe(Effect.provide(network)))

  it.scoped("seek latest and by timestamp via ListOffsets", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["old"], 1_000)
      yield* produce(0, ["new"], 2_000)
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap })
      yield* consumer.assign([tp0])
      yield* consumer.seek(tp0, "latest")
      expect(yield* consumer.position(tp0)).toBe(2)
      yield* consumer.seek(tp0, { timestamp: 1_500 })
      expect(yield* consumer.position(tp0)).toBe(1)
      yield* consumer.seek(tp0, { timestamp: 9_999 })
      expect(yield* consumer.position(tp0)).toBe(2)
      yield* consumer.seek(tp0, "earliest")
      expect(yield* consumer.position(tp0)).toBe(0)
    }).pipe(Effect.provide(network)))

  it.scoped("poll long-polls on the TestClock: returns when a record arrives, not before", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "latest" })
      yield* consumer.assign([tp0, tp1])
      expect(yield* consumer.position(tp0)).toBe(0)
      const poll = yield* Effect.fork(consumer.poll({ maxWaitMs: 10_000 }))
      yield* TestClock.adjust(5_000)
      expect(poll.unsafePoll()).toBeNull()
      yield* produce(1, ["late"])
      const records = yield* Fiber.join(poll)
      expect(records.map((r) => text(r.value))).toEqual(["late"])
      // Nothing more: an empty poll takes its full maxWaitMs.
      const empty = yield* Effect.fork(consumer.poll({ maxWaitMs: 1_000 }))
      yield* TestClock.adjust(999)
      expect(empty.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(empty)).toEqual([])
    }).pipe(Effect.provide(network)))

  it.scoped("out of range: autoOffsetReset earliest resets, none fails", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([tp0])
      yield* consumer.seek(tp0, 99)
      expect(yield* consumer.poll({ maxWaitMs: 0 })).toEqual([])
      expect(yield* consumer.position(tp0)).toBe(0)
      const strict = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "none" })
      yield* strict.assign([tp0])
      expect((yield* Effect.flip(strict.position(tp0)))._tag).toBe("NoOffsetForPartition")
      yield* strict.seek(tp0, 99)
      expect((yield* Effect.flip(strict.poll({ maxWaitMs: 0 })))._tag).toBe("OffsetOutOfRange")
      expect((yield* Effect.flip(strict.seek(tp1, 0)))._tag).toBe("NotAssigned")
    }).pipe(Effect.provide(network)))

  it.scoped("pause / resume; the leader moving is followed after a metadata refresh", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a"])
      yield* produce(1, ["b"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([tp0, tp1])
      yield* consumer.pause([tp1])
      expect((yield* consumer.poll({ maxWaitMs: 0 })).map((r) => text(r.value))).toEqual(["a"])
      yield* consumer.resume([tp1])
      fake.setLeader("t", 1, 1)
      const seen: Array<string> = []
      for (let i = 0; i < 5 && seen.length === 0; i++) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 0 }))) seen.push(text(r.value))
      }
      expect(seen).toEqual(["b"])
    }).pipe(Effect.provide(network)))

  it.scoped("a seek to a committed offset with its leader epoch fetches only once metadata reaches that epoch", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a", "b"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap })
      yield* consumer.assign([tp0])
      yield* consumer.seek(tp0, { offset: 1, leaderEpoch: 1 })
      // Metadata still says epoch 0: a leader that old may be deposed, so nothing is fetched.
      expect(yield* withClock(consumer.poll({ maxWaitMs: 200 }))).toEqual([])
      const leader = (yield* consumer.metadata.leader("t", 0)).brokerId
      fake.setLeader("t", 0, leader) // same broker, epoch 1
      const seen: Array<string> = []
      for (let i = 0; i < 5 && seen.length === 0; i++) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 100 }))) seen.push(`${r.offset}:${text(r.value)}`)
      }
      expect(seen).toEqual(["1:b"])
    }).pipe(Effect.provide(network)))

  it.scoped("a poll leaves the other partitions' fetches in flight and returns their records next time", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([tp0, tp1])
      expect((yield* withClock(consumer.poll({ maxWaitMs: 1_000 }))).map((r) => text(r.value))).toEqual(["a"])
      // Partition 1's long poll is still parked at the broker; a record there answers it.
      yield* produce(1, ["b"])
      const next = yield* withClock(consumer.poll({ maxWaitMs: 1_000 }))
      expect(next.map((r) => `${r.partition}:${text(r.value)}`)).toEqual(["1:b"])
      expect(yield* consumer.position(tp1)).toBe(1)
    }).pipe(Effect.provide(network)))

  it.scoped("stream emits the records in order", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["1", "2"])
      yield* produce(0, ["3"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([tp0])
      const out = yield* withClock(Stream.runCollect(Stream.take(consumer.stream, 3)))
      expect(Chunk.toArray(out).map((r) => text(r.value))).toEqual(["1", "2", "3"])
    }).pipe(Effect.provide(network)))

  it.scoped("maxPollRecords: each poll returns at most that many, positions move record by record, nothing lost or repeated", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a", "b", "c", "d", "e"])
      yield* produce(0, ["f", "g"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest", maxPollRecords: 3 })
      yield* consumer.assign([tp0])
      const first = yield* withClock(consumer.poll({ maxWaitMs: 100 }))
      expect(first.map((r) => text(r.value))).toEqual(["a", "b", "c"])
      // Mid-batch: the position is just past the last record returned.
      expect(yield* consumer.position(tp0)).toBe(3)
      const seen = first.map((r) => `${r.offset}:${text(r.value)}`)
      while (seen.length < 7) {
        const records = yield* withClock(consumer.poll({ maxWaitMs: 100 }))
        expect(records.length).toBeLessThanOrEqual(3)
        for (const r of records) seen.push(`${r.offset}:${text(r.value)}`)
      }
      expect(seen).toEqual(["0:a", "1:b", "2:c", "3:d", "4:e", "5:f", "6:g"])
      expect(yield* consumer.position(tp0)).toBe(7)
    }).pipe(Effect.provide(network)))

  it.scoped("maxPollRecords: partitions take turns, and a seek drops what was buffered before it", () =>
    Effect.gen(function*() {
      const { fake, produce } = yield* setup
      yield* produce(0, ["a0", "a1", "a2", "a3"])
      yield* produce(1, ["b0", "b1", "b2", "b3"])
      const consumer = yield* Consumer.make({ node: fake.client, bootstrap: fake.bootstrap, autoOffsetReset: "earliest", maxPollRecords: 2 })
      yield* consumer.assign([tp0, tp1])
      // Both fetches are buffered after the first poll: the polls alternate between them.
      const polls: Array<ReadonlyArray<string>> = []
      while (polls.length < 4) {
        const records = yield* withClock(consumer.poll({ maxWaitMs: 100 }))
        if (records.length > 0) polls.push(records.map((r) => `${r.partition}:${text(r.value)}`))
      }
      expect(polls).toEqual([["1:b0", "1:b1"], ["0:a0", "0:a1"], ["1:b2", "1:b3"], ["0:a2", "0:a3"]])
      // Partition 0 re-read from offset 1 after a seek: the old buffer (if any) is not returned.
      yield* consumer.seek(tp0, 1)
      const again: Array<string> = []
      while (again.length < 3) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 100 }))) again.push(`${r.partition}:${r.offset}`)
      }
      expect(again).toEqual(["0:1", "0:2", "0:3"])
    }).pipe(Effect.provide(network)))
})
