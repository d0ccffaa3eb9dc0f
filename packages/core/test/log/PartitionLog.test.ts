import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as PartitionLog from "../../src/log/PartitionLog.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const batch = (timestampType: RecordBatch.TimestampType = "CreateTime", baseOffset = 0) =>
  RecordBatch.encode({ records: [Record.fromStrings("k", "v", 7), Record.fromStrings("k", "w", 8)], timestampType, baseOffset })

const corrupt = (b: Uint8Array) => {
  b[b.length - 1]! ^= 1
  return b
}

describe("PartitionLog prepare", () => {
  it("checks the CRC now by default, or leaves it to the caller with crc: later", () => {
    expect(Either.getLeft(PartitionLog.prepareAppend(corrupt(batch()), 5, 0))).toMatchObject({
      _tag: "Some",
      value: { _tag: "CorruptRecord", reason: "CRC-32C mismatch" }
    })
    const later = Either.getOrThrow(PartitionLog.prepareAppend(corrupt(batch()), 5, 0, undefined, undefined, "later"))
    expect(later.crcChecked).toBe(false)
    expect(later.info).toEqual({ baseOffset: 5, lastOffset: 6, logAppendTimeMs: -1 })
    expect(RecordBatch.crcMatches(later.bytes)).toBe(false) // the caller's check finds it
    expect(Either.getOrThrow(PartitionLog.prepareAppend(batch(), 5, 0, undefined, undefined, "later")).crcChecked).toBe(false)
    expect(Either.getOrThrow(PartitionLog.prepareAppend(batch(), 5, 0)).crcChecked).toBe(true)
  })

  it("checks a LogAppendTime batch now even with crc: later (restamping re-checksums it)", () => {
    expect(Either.isLeft(PartitionLog.prepareAppend(corrupt(batch("LogAppendTime")), 0, 99, undefined, undefined, "later")))
      .toBe(true)
    const ok = Either.getOrThrow(PartitionLog.prepareAppend(batch("LogAppendTime"), 0, 99, undefined, undefined, "later"))
    expect(ok.crcChecked).toBe(true)
    expect(ok.info.logAppendTimeMs).toBe(99)
    expect(RecordBatch.crcMatches(ok.bytes)).toBe(true)
  })

  it("header placement: only the header is copied and patched; the caller's batch is untouched", () => {
    const original = batch()
    const before = Uint8Array.from(original)
    const p = Either.getOrThrow(PartitionLog.prepareAppend(original, 40, 0, { leaderEpoch: 3 }, "header"))
    expect(p.bytes).toBe(original)
    expect(Array.from(original)).toEqual(Array.from(before))
    expect(p.head?.length).toBe(RecordBatch.HEADER_BYTES)
    expect(p.header).toMatchObject({ baseOffset: 40, lastOffset: 41, partitionLeaderEpoch: 3, sizeInBytes: original.length })
    // head + the records after it is the batch a copying placement stores, byte for byte
    const stored = new Uint8Array(original.length)
    stored.set(p.head!)
    stored.set(original.subarray(RecordBatch.HEADER_BYTES), RecordBatch.HEADER_BYTES)
    const copied = Either.getOrThrow(PartitionLog.prepareAppend(batch(), 40, 0, { leaderEpoch: 3 }))
    expect(Array.from(stored)).toEqual(Array.from(copied.bytes))
    expect(RecordBatch.crcMatches(stored)).toBe(true)
  })

  it("header placement copies a LogAppendTime batch whole (its restamped time changes the CRC)", () => {
    const original = batch("LogAppendTime")
    const p = Either.getOrThrow(PartitionLog.prepareAppend(original, 0, 99, undefined, "header"))
    expect(p.head).toBeUndefined()
    expect(p.bytes).not.toBe(original)
    expect(RecordBatch.header(p.bytes).maxTimestamp).toBe(99)
    expect(RecordBatch.crcMatches(p.bytes)).toBe(true)
  })

  it("follower: crc later keeps the caller's bytes unchecked, contiguity still checked", () => {
    const bad = corrupt(batch("CreateTime", 3))
    const later = Either.getOrThrow(PartitionLog.prepareFollowerAppend(bad, 3, "keep", "later"))
    expect(later.bytes).toBe(bad)
    expect(later.crcChecked).toBe(false)
    expect(Either.isLeft(PartitionLog.prepareFollowerAppend(bad, 3, "keep"))).toBe(true)
    expect(Either.getLeft(PartitionLog.prepareFollowerAppend(batch("CreateTime", 4), 3, "keep", "later"))).toMatchObject({
      _tag: "Some",
      value: { _tag: "NonContiguousOffset" }
    })
  })
})
