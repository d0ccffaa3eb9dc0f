import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const bytes = (s: string) => new TextEncoder().encode(s)

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
  headers: fc.array(
    fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }) }),
    { maxLength: 3 }
  ),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 })
})

describe("RecordBatch", () => {
  it("round-trips records, header fields and absolute offsets", () => {
    const records = [
      Record.make({ key: bytes("k1"), value: bytes("v1"), timestamp: 1000, headers: [{ key: "h", value: null }] }),
      Record.make({ key: null, value: null, timestamp: 990 }),
      Record.make({ key: bytes("k3"), value: bytes("x".repeat(300)), timestamp: 1500 })
    ]
    const batch = RecordBatch.encode({
      baseOffset: 2 ** 40,
      records,
      producerId: 2 ** 33 + 5,
      producerEpoch: 7,
      baseSequence: 11,
      partitionLeaderEpoch: 3
    })
    const h = Either.getOrThrow(RecordBatch.validate(batch))
    expect(h).toMatchObject({
      baseOffset: 2 ** 40,
      lastOffset: 2 ** 40 + 2,
      recordCount: 3,
      producerId: 2 ** 33 + 5,
      producerEpoch: 7,
      baseSequence: 11,
      partitionLeaderEpoch: 3,
      firstTimestamp: 990,
      maxTimestamp: 1500,
      timestampType: "CreateTime",
      magic: 2,
      sizeInBytes: batch.length
    })
    const decoded = Either.getOrThrow(RecordBatch.decodeRecords(batch))
    expect(decoded.map((r) => r.offset)).toEqual([2 ** 40, 2 ** 40 + 1, 2 ** 40 + 2])
    expect(decoded.map(({ offset: _, ...r }) => r)).toEqual(records)
  })

  it("defaults producer fields to -1 (negative int64 survives)", () => {
    const h = RecordBatch.header(RecordBatch.encode({ records: [Record.fromStrings("a", "b", 1)] }))
    expect([h.producerId, h.producerEpoch, h.baseSequence, h.partitionLeaderEpoch]).toEqual([-1, -1, -1, -1])
  })

  it("patches base offset and leader epoch without touching the CRC", () => {
    const batch = RecordBatch.encode({ records: [Record.fromStrings("a", "b", 1)] })
    const moved = RecordBatch.withLeaderEpoch(RecordBatch.withBaseOffset(batch, 123), 9)
    expect(RecordBatch.header(moved).crc).toBe(RecordBatch.header(batch).crc)
    expect(Either.getOrThrow(RecordBatch.validate(moved))).toMatchObject({ baseOffset: 123, partitionLeaderEpoch: 9 })
    expect(RecordBatch.baseOffset(batch)).toBe(0) // the original is untouched
  })

  it("re-checksums when stamping a LogAppendTime", () => {
    const batch = RecordBatch.encode({ records: [Record.fromStrings("a", "b", 1)], timestampType: "LogAppendTime" })
    RecordBatch.setLogAppendTime(batch, 5000)
    expect(Either.isRight(RecordBatch.validate(batch))).toBe(true)
    expect(Either.getOrThrow(RecordBatch.decodeRecords(batch))[0]!.timestamp).toBe(5000)
  })

  it("rejects a flipped bit in the CRC-covered body or a wrong length", () => {
    const batch = RecordBatch.encode({ records: [Record.fromStrings("key", "value", 1)] })
    for (let i = 17; i < batch.length; i++) {
      const bad = batch.slice()
      bad[i]! ^= 0x10
      expect(RecordBatch.validate(bad)._tag).toBe("Left")
    }
    expect(Either.getLeft(RecordBatch.validate(batch.subarray(0, batch.length - 1)))._tag).toBe("Some")
  })

  it("validateHeader checks all but the CRC, crcMatches the CRC alone; validate is both", () => {
    const batch = RecordBatch.encode({ records: [Record.fromStrings("key", "value", 1), Record.fromStrings("k", "v", 2)] })
    expect(RecordBatch.crcMatches(batch)).toBe(true)
    for (let i = RecordBatch.HEADER_BYTES; i < batch.length; i++) {
      const bad = batch.slice()
      bad[i]! ^= 0x10
      expect(Either.isRight(RecordBatch.validateHeader(bad))).toBe(true) // the records are not read
      expect(RecordBatch.crcMatches(bad)).toBe(false)
      expect(RecordBatch.validate(bad)).toMatchObject({ _tag: "Left", left: { reason: "CRC-32C mismatch" } })
    }
    const noCount = batch.slice()
    new DataView(noCount.buffer).setInt32(57, -1)
    expect(Either.isLeft(RecordBatch.validateHeader(noCount))).toBe(true)
    expect(Either.isLeft(RecordBatch.validateHeader(batch.subarray(0, batch.length - 1)))).toBe(true)
  })

  it("splits back-to-back batches and stops at a torn one", () => {
    const a = RecordBatch.encode({ records: [Record.fromStrings("a", "1", 1)] })
    const b = RecordBatch.encode({ baseOffset: 1, records: [Record.fromStrings("b", "2", 2)] })
    const joined = new Uint8Array(a.length + b.length)
    joined.set(a)
    joined.set(b, a.length)
    expect(RecordBatch.split(joined).batches.length).toBe(2)
    const torn = RecordBatch.split(joined.subarray(0, joined.length - 3))
    expect(torn.batches.length).toBe(1)
    expect(torn.validBytes).toBe(a.length)
  })

  it.prop("encode/decode is the identity for any records", [fc.array(recordArb, { minLength: 1, maxLength: 20 })], ([records]) => {
    const batch = RecordBatch.encode({ records, baseOffset: 42 })
    expect(Either.isRight(RecordBatch.validate(batch))).toBe(true)
    const decoded = Either.getOrThrow(RecordBatch.decodeRecords(batch))
    expect(decoded.map(({ offset: _, ...r }) => r)).toEqual(records)
    expect(decoded.map((r) => r.offset)).toEqual(records.map((_, i) => 42 + i))
  })
})
