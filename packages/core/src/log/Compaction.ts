/**
 * Compaction of keyed topics, as pure functions over batches (the log decides which segments
 * to clean; these decide which records stay). Rules, as Kafka's cleaner:
 * - the last record of every key is kept; earlier ones for the same key go;
 * - records without a key are kept;
 * - offsets and order never change: a thinned batch keeps its base offset, last offset delta,
 *   producer fields and epoch; a batch left empty is dropped (a hole in the offsets);
 * - a tombstone (null value) that is the last of its key is dropped once its batch's max
 *   timestamp is at least `deleteRetentionMs` old, so consumers had that long to see the delete.
 */
import { Either } from "effect"
import * as RecordBatch from "./RecordBatch.js"

/** A key in map-friendly form (one char per byte). */
export const keyString = (key: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < key.length; i += 4096) {
    s += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as Array<number>)
  }
  return s
}

/** Latest offset per key: the cleaner's offset map. */
export type OffsetMap = Map<string, number>

/** Adds the keys of `batches` to `map` (later offsets win); returns the map. */
export const buildOffsetMap = (batches: Iterable<Uint8Array>, map: OffsetMap = new Map()): OffsetMap => {
  for (const batch of batches) {
    const records = RecordBatch.decodeRecords(batch)
    if (Either.isLeft(records)) continue
    for (const r of records.right) if (r.key !== null) map.set(keyString(r.key), r.offset)
  }
  return map
}

/** When tombstones may go. */
export interface Options {
  readonly nowMs: number
  readonly deleteRetentionMs: number
}

/**
 * Cleans one batch against the offset map: the same bytes when nothing goes, a re-encoded
 * batch when some records go, `null` when all do.
 */
export const compactBatch = (batch: Uint8Array, map: OffsetMap, options: Options): Uint8Array | null => {
  const decoded = RecordBatch.decodeRecords(batch)
  if (Either.isLeft(decoded)) return batch
  const h = RecordBatch.header(batch)
  const tombstonesExpired = h.maxTimestamp + options.deleteRetentionMs <= options.nowMs
  const kept = decoded.right.filter((r) => {
    if (r.key === null) return true
    const latest = map.get(keyString(r.key))
    if (latest !== undefined && r.offset < latest) return false
    return !(r.value === null && tombstonesExpired)
  })
  if (kept.length === decoded.right.length) return batch
  if (kept.length === 0) return null
  return RecordBatch.encodeAt(
    {
      baseOffset: h.baseOffset,
      producerId: h.producerId,
      producerEpoch: h.producerEpoch,
      baseSequence: h.baseSequence,
      partitionLeaderEpoch: h.partitionLeaderEpoch,
      timestampType: h.timestampType,
      records: kept.map((record) => ({ record, offsetDelta: record.offset - h.baseOffset }))
    },
    h.lastOffsetDelta
  )
}

/** Cleans a run of batches (a segment) in order, dropping emptied ones. */
export const compactBatches = (
  batches: ReadonlyArray<Uint8Array>,
  map: OffsetMap,
  options: Options
): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (const b of batches) {
    const cleaned = compactBatch(b, map, options)
    if (cleaned !== null) out.push(cleaned)
  }
  return out
}
