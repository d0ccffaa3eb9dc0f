/**
 * One segment of a FileLog: a `.log` file of back-to-back batches named by its base offset,
 * with a sparse offset index and a time index. The active segment keeps its indexes in memory
 * (recovery rebuilds them from the file); a rolled segment writes them next to its log.
 *
 * Index files (big-endian):
 *   `.index`     8 bytes an entry:  relativeOffset int32, position int32 (of a batch's start)
 *   `.timeindex` 16 bytes an entry: maxTimestampSoFar int64, relativeOffset int32, position int32
 * @internal
 */
import type { FileSystem } from "@effect/platform"
import { RecordBatch } from "@fiberlog/core"
import { Effect, Exit, Scope } from "effect"
import type { PlatformError } from "@effect/platform/Error"

/** A file name for a segment: the base offset as 20 digits, as Kafka. */
export const fileName = (baseOffset: number, suffix: ".log" | ".index" | ".timeindex"): string =>
  String(baseOffset).padStart(20, "0") + suffix

/** Parses `00000000000000000042.log` into 42, or `undefined`. */
export const parseLogName = (name: string): number | undefined => {
  const m = /^(\d{20})\.log$/.exec(name)
  return m === null ? undefined : Number(m[1])
}

/** An offset-index entry (absolute offset in memory). */
export interface OffsetEntry {
  readonly offset: number
  readonly position: number
}

/** A time-index entry: the largest timestamp up to and including the batch at `position`. */
export interface TimeEntry {
  readonly timestamp: number
  readonly offset: number
  readonly position: number
}

/** A segment's in-memory state. */
export interface Segment {
  readonly baseOffset: number
  readonly scope: Scope.CloseableScope
  file: FileSystem.File
  /** Bytes of valid batches in the file. */
  size: number
  /** Last offset written, or `baseOffset - 1` when empty. */
  lastOffset: number
  /** Largest batch timestamp, or -1 when empty. */
  maxTimestamp: number
  offsetIndex: Array<OffsetEntry>
  timeIndex: Array<TimeEntry>
  bytesSinceIndexEntry: number
  /** Clock time the segment was opened as active: rolling by age counts from here. */
  createdAtMs: number
}

/** Reads up to `length` bytes at `position` (shorter at end of file). */
export const readAt = (
  file: FileSystem.File,
  position: number,
  length: number
): Effect.Effect<Uint8Array, PlatformError> =>
  Effect.gen(function*() {
    const buffer = new Uint8Array(length)
    yield* file.seek(position, "start")
    let filled = 0
    while (filled < length) {
      const n = Number(yield* file.read(buffer.subarray(filled)))
      if (n === 0) break
      filled += n
    }
    return filled === length ? buffer : buffer.subarray(0, filled)
  })

/** Chunk size for sequential scans. */
export const SCAN_CHUNK_BYTES = 1024 * 1024

/**
 * Visits the valid batches of `file` from `start` to `end`, in order. Stops at the first
 * batch that is torn, fails its CRC, or breaks offset order (`strict`: each batch must start
 * right after the previous one and the first at `firstOffset`). Returns where the valid run ends.
 */
export const scan = (
  file: FileSystem.File,
  start: number,
  end: number,
  options: { readonly strict: boolean; readonly firstOffset: number },
  visit: (batch: Uint8Array, position: number) => boolean | void
): Effect.Effect<number, PlatformError> =>
  Effect.gen(function*() {
    let pos = start
    let expected = options.firstOffset
    while (pos < end) {
      const chunk = yield* readAt(file, pos, Math.min(SCAN_CHUNK_BYTES, end - pos))
      let { batches, validBytes } = RecordBatch.split(chunk)
      if (batches.length === 0) {
        if (chunk.length < RecordBatch.HEADER_BYTES) return pos
        const size = RecordBatch.sizeAt(chunk)
        if (size <= chunk.length || size > RecordBatch.MAX_BATCH_BYTES || pos + size > end) return pos
        ;({ batches, validBytes } = RecordBatch.split(yield* readAt(file, pos, size)))
        if (batches.length === 0) return pos
      }
      let at = pos
      for (const batch of batches) {
        const base = RecordBatch.baseOffset(batch)
        if (options.strict ? base !== expected : base < expected) return at
        expected = RecordBatch.lastOffset(batch) + 1
        if (visit(batch, at) === false) return at
        at += batch.length
      }
      pos += validBytes
    }
    return pos
  })

/** Adds a batch just written at `position` to the segment's counters and sparse indexes. */
export const track = (segment: Segment, batch: Uint8Array, position: number, indexIntervalBytes: number): void => {
  const base = RecordBatch.baseOffset(batch)
  const ts = RecordBatch.maxTimestamp(batch)
  const size = RecordBatch.sizeAt(batch)
  if (segment.offsetIndex.length === 0 || segment.bytesSinceIndexEntry >= indexIntervalBytes) {
    segment.offsetIndex.push({ offset: base, position })
    if (ts > segment.maxTimestamp || segment.timeIndex.length === 0) {
      segment.timeIndex.push({ timestamp: Math.max(ts, segment.maxTimestamp), offset: base, position })
    }
    segment.bytesSinceIndexEntry = 0
  }
  segment.bytesSinceIndexEntry += size
  segment.size = position + size
  segment.lastOffset = RecordBatch.lastOffset(batch)
  if (ts > segment.maxTimestamp) segment.maxTimestamp = ts
}

/** Resets the counters and indexes (before a rebuild). */
export const resetIndexes = (segment: Segment): void => {
  segment.offsetIndex = []
  segment.timeIndex = []
  segment.bytesSinceIndexEntry = 0
  segment.size = 0
  segment.lastOffset = segment.baseOffset - 1
  segment.maxTimestamp = -1
}

/** Position to start scanning for `offset`: the last index entry at or below it. */
export const lookupOffset = (segment: Segment, offset: number): number => {
  let lo = 0
  let hi = segment.offsetIndex.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (segment.offsetIndex[mid]!.offset <= offset) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? 0 : segment.offsetIndex[lo - 1]!.position
}

/** Position to start scanning for timestamp `ts`: the last entry whose max so far is below it. */
export const lookupTimestamp = (segment: Segment, ts: number): number => {
  let position = 0
  for (const e of segment.timeIndex) {
    if (e.timestamp < ts) position = e.position
    else break
  }
  return position
}

/** Serialises both indexes (the time index ends with the segment's max timestamp). */
export const encodeIndexes = (segment: Segment): { readonly index: Uint8Array; readonly timeIndex: Uint8Array } => {
  const index = new Uint8Array(segment.offsetIndex.length * 8)
  const iv = new DataView(index.buffer)
  segment.offsetIndex.forEach((e, i) => {
    iv.setInt32(i * 8, e.offset - segment.baseOffset)
    iv.setInt32(i * 8 + 4, e.position)
  })
  const entries = [...segment.timeIndex]
  const last = entries[entries.length - 1]
  if (last !== undefined && last.timestamp < segment.maxTimestamp) {
    entries.push({ timestamp: segment.maxTimestamp, offset: last.offset, position: last.position })
  }
  const timeIndex = new Uint8Array(entries.length * 16)
  const tv = new DataView(timeIndex.buffer)
  entries.forEach((e, i) => {
    const hi = Math.floor(e.timestamp / 4294967296)
    tv.setInt32(i * 16, hi)
    tv.setUint32(i * 16 + 4, e.timestamp - hi * 4294967296)
    tv.setInt32(i * 16 + 8, e.offset - segment.baseOffset)
    tv.setInt32(i * 16 + 12, e.position)
  })
  return { index, timeIndex }
}

/** Loads index files into the segment; `false` if they look damaged (the caller rebuilds). */
export const decodeIndexes = (segment: Segment, index: Uint8Array, timeIndex: Uint8Array): boolean => {
  if (index.length % 8 !== 0 || timeIndex.length % 16 !== 0 || index.length === 0) return false
  const iv = new DataView(index.buffer, index.byteOffset, index.byteLength)
  const tv = new DataView(timeIndex.buffer, timeIndex.byteOffset, timeIndex.byteLength)
  const offsetIndex: Array<OffsetEntry> = []
  for (let i = 0; i < index.length; i += 8) {
    const position = iv.getInt32(i + 4)
    if (position < 0 || position >= segment.size) return false
    offsetIndex.push({ offset: segment.baseOffset + iv.getInt32(i), position })
  }
  const timeEntries: Array<TimeEntry> = []
  for (let i = 0; i < timeIndex.length; i += 16) {
    timeEntries.push({
      timestamp: tv.getInt32(i) * 4294967296 + tv.getUint32(i + 4),
      offset: segment.baseOffset + tv.getInt32(i + 8),
      position: tv.getInt32(i + 12)
    })
  }
  segment.offsetIndex = offsetIndex
  segment.timeIndex = timeEntries
  segment.maxTimestamp = timeEntries.length === 0 ? -1 : timeEntries[timeEntries.length - 1]!.timestamp
  return true
}

/** Closes the segment's file handle. */
export const close = (segment: Segment): Effect.Effect<void> => Scope.close(segment.scope, Exit.void)
