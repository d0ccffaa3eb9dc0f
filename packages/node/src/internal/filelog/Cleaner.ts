/**
 * Retention and compaction of a FileLog. Both work on whole non-active segments only.
 * @internal
 */
import { Compaction, LeaderEpochCache, type LogError, RecordBatch } from "@fiberlog/core"
import { Clock, Effect } from "effect"
import { locked } from "./Ops.js"
import * as Recovery from "./Recovery.js"
import * as Segment from "./Segment.js"
import * as State from "./State.js"

/** Which segments retention deletes: the oldest non-active ones that are too old or over size. Pure. */
export const segmentsToDelete = (
  segments: ReadonlyArray<{ readonly size: number; readonly maxTimestamp: number }>,
  nowMs: number,
  retentionMs: number | undefined,
  retentionBytes: number | undefined
): number => {
  let total = segments.reduce((n, s) => n + s.size, 0)
  let count = 0
  while (count < segments.length - 1) {
    const s = segments[count]!
    const expired = retentionMs !== undefined && nowMs - s.maxTimestamp > retentionMs
    const oversize = retentionBytes !== undefined && total - s.size >= retentionBytes
    if (!expired && !oversize) break
    total -= s.size
    count++
  }
  return count
}

/** Deletes segments past retention (time by the segment's largest timestamp, and size). */
export const enforceRetention = (state: State.State): Effect.Effect<number, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      const { retentionMs, retentionBytes } = state.options
      const now = yield* Clock.currentTimeMillis
      const count = segmentsToDelete(state.segments, now, retentionMs, retentionBytes)
      if (count === 0) return 0
      for (const s of state.segments.splice(0, count)) yield* State.deleteSegment(state, s)
      state.logStartOffset = Math.max(state.logStartOffset, state.segments[0]!.baseOffset)
      state.epochs = LeaderEpochCache.truncateFromStart(state.epochs, state.logStartOffset)
      yield* State.checkpoint(state)
      return count
    }).pipe(State.io("retention")))

/** What a compaction pass did. */
export interface CompactionStats {
  readonly segmentsCleaned: number
  readonly bytesBefore: number
  readonly bytesAfter: number
}

/**
 * Compacts every non-active segment: builds the key → latest offset map over them, rewrites
 * each changed segment to `<name>.log.cleaned`, and swaps it in with a rename. A crash before
 * the rename leaves the old segment (the `.cleaned` file is deleted on open); index files are
 * removed before the swap and rewritten after it (rebuilt on open if missing).
 */
export const compact = (state: State.State): Effect.Effect<CompactionStats, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const sealed = state.segments.slice(0, -1)
      const contents: Array<Array<Uint8Array>> = []
      for (const s of sealed) {
        contents.push(RecordBatch.split(yield* Segment.readAt(s.file, 0, s.size), { verify: false }).batches)
      }
      const map = Compaction.buildOffsetMap(contents.flat())
      const options = { nowMs: now, deleteRetentionMs: state.options.deleteRetentionMs }
      let segmentsCleaned = 0
      let bytesBefore = 0
      let bytesAfter = 0
      for (let i = 0; i < sealed.length; i++) {
        const segment = sealed[i]!
        const cleaned = Compaction.compactBatches(contents[i]!, map, options)
        const size = cleaned.reduce((n, b) => n + b.length, 0)
        bytesBefore += segment.size
        bytesAfter += size
        if (size === segment.size) continue
        segmentsCleaned++
        const logPath = State.path(state, Segment.fileName(segment.baseOffset, ".log"))
        const out = new Uint8Array(size)
        let at = 0
        for (const b of cleaned) {
          out.set(b, at)
          at += b.length
        }
        yield* state.fs.writeFile(`${logPath}.cleaned`, out)
        yield* State.removeIndexes(state, segment.baseOffset)
        yield* Segment.close(segment)
        yield* state.fs.rename(`${logPath}.cleaned`, logPath)
        const reopened = yield* State.openSegment(state, segment.baseOffset, segment.createdAtMs)
        yield* Recovery.rebuild(reopened, false, state.options.indexIntervalBytes)
        yield* State.writeIndexes(state, reopened)
        state.segments[i] = reopened
      }
      return { segmentsCleaned, bytesBefore, bytesAfter } satisfies CompactionStats
    }).pipe(State.io("compact")))
