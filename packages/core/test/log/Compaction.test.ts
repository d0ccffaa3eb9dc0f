import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Compaction from "../../src/log/Compaction.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const batch = (base: number, kvs: Array<[string, string | null]>, ts = 0) =>
  RecordBatch.encode({ baseOffset: base, records: kvs.map(([k, v]) => Record.fromStrings(k, v, ts)) })
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b))
const contents = (batches: Array<Uint8Array>) =>
  batches.flatMap((b) => Either.getOrThrow(RecordBatch.decodeRecords(b)).map((r) => [r.offset, text(r.key), text(r.value)]))

describe("Compaction", () => {
  const batches = [batch(0, [["a", "1"], ["b", "1"]]), batch(2, [["a", "2"], ["c", null]]), batch(4, [["b", null], ["a", "3"]], 100)]
  const map = Compaction.buildOffsetMap(batches)

  it("keeps the last value per key with offsets and order unchanged", () => {
    const out = Compaction.compactBatches(batches, map, { nowMs: 0, deleteRetentionMs: 1000 })
    expect(contents(out)).toEqual([[3, "c", null], [4, "b", null], [5, "a", "3"]])
    expect(out.map((b) => [RecordBatch.baseOffset(b), RecordBatch.lastOffset(b)])).toEqual([[2, 3], [4, 5]])
  })

  it("drops tombstones only after deleteRetentionMs", () => {
    const out = Compaction.compactBatches(batches, map, { nowMs: 1000, deleteRetentionMs: 1000 })
    expect(contents(out)).toEqual([[4, "b", null], [5, "a", "3"]]) // c's tombstone (ts 0) expired; b's (ts 100) not
    const later = Compaction.compactBatches(batches, map, { nowMs: 1100, deleteRetentionMs: 1000 })
    expect(contents(later)).toEqual([[5, "a", "3"]])
  })

  it("returns the same bytes for an untouched batch", () => {
    expect(Compaction.compactBatch(batches[2]!, map, { nowMs: 0, deleteRetentionMs: 1000 })).toBe(batches[2])
  })
})
