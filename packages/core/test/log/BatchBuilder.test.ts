/**
 * The producer's batch encoder (`log/BatchBuilder`): records written one at a time read back as
 * `RecordBatch.encode` would give them, and a built batch can be claimed once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as BatchBuilder from "../../src/log/BatchBuilder.js"
import * as MemoryLog from "../../src/log/MemoryLog.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const bytes = (s: string) => new TextEncoder().encode(s)
const producer = { producerId: 2 ** 33 + 5, producerEpoch: 7, baseSequence: 11 }

const build = (records: ReadonlyArray<Record.Record>, capacity = 64, limit = 1 << 20, scratch?: Uint8Array) => {
  const builder = BatchBuilder.make(capacity, limit, scratch)
  for (const r of records) builder.append(r.key, r.value, r.headers, r.timestamp)
  return { builder, batch: builder.build(producer) }
}

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
  headers: fc.array(
    fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }) }),
    { maxLength: 3 }
  ),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 })
})

describe("BatchBuilder", () => {
  it("round-trips records; first record's time is the base, later ones may be older", () => {
    const records = [
      Record.make({ key: bytes("k1"), value: bytes("v1"), timestamp: 1000, headers: [{ key: "h", value: null }] }),
      Record.make({ key: null, value: null, timestamp: 990 }),
      Record.make({ key: bytes("k3"), value: bytes("x".repeat(300)), timestamp: 1500 })
    ]
    const { batch, builder } = build(records)
    expect(builder.count).toBe(3)
    expect(batch.length).toBe(builder.sizeInBytes)
    const h = Either.getOrThrow(RecordBatch.validate(batch))
    expect(h).toMatchObject({
      baseOffset: 0,
      lastOffset: 2,
      recordCount: 3,
      ...producer,
      partitionLeaderEpoch: -1,
      firstTimestamp: 1000,
      maxTimestamp: 1500,
      timestampType: "CreateTime",
      sizeInBytes: batch.length
    })
    const decoded = Either.getOrThrow(RecordBatch.decodeRecords(batch))
    expect(decoded.map(({ offset: _, ...r }) => r)).toEqual(records)
  })

  it("decodes as RecordBatch.encode does, whatever it grows through (property)", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 4096 }), (records, capacity) => {
        const { batch } = build(records, capacity, 2 * capacity)
        const encoded = RecordBatch.encode({ records, ...producer })
        expect(RecordBatch.decodeRecords(batch)).toEqual(RecordBatch.decodeRecords(encoded))
        expect(Either.isRight(RecordBatch.validate(batch))).toBe(true)
      })
    )
  })

  it("writes the same bytes as RecordBatch.encode at every varint width (lengths, deltas)", () => {
    // Lengths, offset deltas and timestamp deltas on both sides of each varint width (1 byte below
    // 64, 2 below 8192, 3 below 2^20, ... 5 up to 2^30, the general int64 path beyond).
    const lengths = [0, 63, 64, 65, 8191, 8192, 8193, 2 ** 20 - 1, 2 ** 20, 2 ** 20 + 1]
    const timestampDeltas = [0, 63, 64, 8192, 2 ** 30 - 1, 2 ** 30, 2 ** 40]
    const records = Array.from({ length: 8300 }, (_, i) =>
      Record.make({
        key: i % 7 === 0 ? null : new Uint8Array(i % 70).fill(i),
        value: new Uint8Array(i < lengths.length ? lengths[i]! : i % 130).fill(i + 1),
        timestamp: 10_000 + timestampDeltas[i % timestampDeltas.length]!
      })
    )
    const { batch } = build(records, 64, 1 << 30)
    const encoded = RecordBatch.encode({ records, ...producer })
    expect(Buffer.from(batch).equals(Buffer.from(encoded))).toBe(true)
  })

  it("writes into a large enough scratch buffer and gives it back when the batch was copied out", () => {
    const scratch = new Uint8Array(4096)
    const { batch, builder } = build([Record.fromStrings("a", "b", 1)], 100, 4096, scratch)
    expect(batch.buffer).not.toBe(scratch.buffer)
    expect(batch.length).toBeLessThan(scratch.length)
    expect(builder.spare()).toBe(scratch)
    expect(builder.spare()).toBeUndefined()
    // A batch that fills its buffer exactly is the buffer itself: nothing to give back.
    const exact = build([Record.fromStrings("a", "b", 1)], 1, 1)
    expect(exact.batch.byteLength).toBe(exact.batch.buffer.byteLength)
    expect(exact.builder.spare()).toBeUndefined()
  })

  it("reset drops what was appended after mark", () => {
    const builder = BatchBuilder.make(64, 1024)
    builder.append(null, bytes("kept"), [], 5)
    const mark = builder.mark()
    builder.append(null, bytes("dropped"), [], 1)
    builder.reset(mark)
    builder.append(null, bytes("next"), [], 6)
    const batch = builder.build(producer)
    const decoded = Either.getOrThrow(RecordBatch.decodeRecords(batch))
    expect(decoded.map((r) => [r.offset, new TextDecoder().decode(r.value!), r.timestamp])).toEqual([[0, "kept", 5], [1, "next", 6]])
    expect(RecordBatch.header(batch).maxTimestamp).toBe(6)
  })

  it("a built batch is claimed once; nothing else is", () => {
    const { batch } = build([Record.fromStrings("a", "b", 1)])
    expect(BatchBuilder.claim(batch)).toBe(true)
    expect(BatchBuilder.claim(batch)).toBe(false)
    expect(BatchBuilder.claim(new Uint8Array(batch))).toBe(false)
    expect(BatchBuilder.claim(RecordBatch.encode({ records: [Record.fromStrings("a", "b", 1)] }))).toBe(false)
  })

  it.effect("a MemoryLog keeps a batch handed over (offsets patched in place) and copies one that is not", () =>
    Effect.gen(function*() {
      const log = yield* MemoryLog.make()
      const first = build([Record.fromStrings("a", "b", 1), Record.fromStrings("c", "d", 1)]).batch
      yield* log.append(first, { leaderEpoch: 3, transfer: true })
      const second = build([Record.fromStrings("e", "f", 1)]).batch
      yield* log.append(second, { leaderEpoch: 3 })
      const read = yield* log.read(0, 1 << 20)
      expect(read.batches[0]).toBe(first)
      expect(RecordBatch.header(first)).toMatchObject({ baseOffset: 0, partitionLeaderEpoch: 3 })
      expect(read.batches[1]).not.toBe(second)
      expect(RecordBatch.header(read.batches[1]!)).toMatchObject({ baseOffset: 2, partitionLeaderEpoch: 3 })
      expect(RecordBatch.header(second).baseOffset).toBe(0) // the caller's copy is untouched
      // A view pinning a larger buffer is copied even when handed over.
      const big = new Uint8Array(second.length + 10)
      big.set(second)
      const view = big.subarray(0, second.length)
      yield* log.append(view, { transfer: true })
      expect((yield* log.read(3, 1 << 20)).batches[0]).not.toBe(view)
      expect(RecordBatch.baseOffset(view)).toBe(0)
    }))
})
