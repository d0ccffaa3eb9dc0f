/**
 * The PartitionLog operations of a FileLog, over `State`. Every operation takes the log's
 * lock; an append is one `write` of the batch bytes to the active segment's open handle.
 * @internal
 */
import type { PlatformError } from "@effect/platform/Error"
import { LeaderEpochCache, LogError, PartitionLog, RecordBatch } from "@fiberlog/core"
import { Clock, Effect, Either, Option } from "effect"
import * as Segment from "./Segment.js"
import * as State from "./State.js"

/** Runs `f` under the lock, failing with `LogClosed` after close. */
export const locked = <A, E>(state: State.State, f: () => Effect.Effect<A, E>): Effect.Effect<A, E | LogError.LogClosed> =>
  state.lock.withPermits(1)(
    Effect.suspend((): Effect.Effect<A, E | LogError.LogClosed> => (state.closed ? Effect.fail(new LogError.LogClosed()) : f()))
  )

const sync = (state: State.State): Effect.Effect<void, PlatformError> =>
  Effect.suspend(() => {
    state.unflushedRecords = 0
    return State.active(state).file.sync
  })

/** Writes a prepared batch to the active segment (rolling first if it is full or old). */
export const write = (
  state: State.State,
  prepared: PartitionLog.Prepared,
  nowMs: number
): Effect.Effect<PartitionLog.AppendInfo, LogError.StorageError> =>
  Effect.gen(function*() {
    const { options } = state
    let segment = State.active(state)
    if (
      segment.size > 0 &&
      (segment.size + prepared.bytes.length > options.segmentBytes || nowMs - segment.createdAtMs >= options.segmentMs)
    ) {
      yield* State.roll(state, nowMs)
      segment = State.active(state)
    }
    const epochs = PartitionLog.epochsAfterAppend(state.epochs, prepared.header)
    if (epochs !== state.epochs) {
      state.epochs = epochs
      yield* State.checkpoint(state)
    }
    const position = segment.size
    yield* segment.file.writeAll(prepared.bytes)
    Segment.track(segment, prepared.bytes, position, options.indexIntervalBytes)
    state.logEndOffset = prepared.header.lastOffset + 1
    state.unflushedRecords += prepared.header.recordCount
    if (options.flushIntervalRecords !== undefined && state.unflushedRecords >= options.flushIntervalRecords) {
      yield* sync(state)
    }
    return prepared.info
  }).pipe(State.io("append"))

/** Leader append. */
export const append = (
  state: State.State,
  batch: Uint8Array,
  options?: PartitionLog.AppendOptions
): Effect.Effect<PartitionLog.AppendInfo, LogError.CorruptRecord | LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const prepared = PartitionLog.prepareAppend(batch, state.logEndOffset, now, options)
      if (Either.isLeft(prepared)) return yield* Effect.fail(prepared.left)
      return yield* write(state, prepared.right, now)
    }))

/** Follower append. */
export const appendAsFollower = (
  state: State.State,
  batch: Uint8Array
): Effect.Effect<
  PartitionLog.AppendInfo,
  LogError.CorruptRecord | LogError.NonContiguousOffset | LogError.LogClosed | LogError.StorageError
> =>
  locked(state, () =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const prepared = PartitionLog.prepareFollowerAppend(batch, state.logEndOffset)
      if (Either.isLeft(prepared)) return yield* Effect.fail(prepared.left)
      return yield* write(state, prepared.right, now)
    }))

/** Index of the segment that may hold `offset`: the last one whose base is <= it. */
export const segmentIndexFor = (state: State.State, offset: number): number => {
  let i = state.segments.length - 1
  while (i > 0 && state.segments[i]!.baseOffset > offset) i--
  return i
}

/** First batch in `segment` whose last offset is >= `offset`: its position and size, if any. */
export const locate = (
  segment: Segment.Segment,
  offset: number
): Effect.Effect<{ position: number; size: number } | undefined, PlatformError> =>
  Effect.gen(function*() {
    let found: { position: number; size: number } | undefined
    yield* Segment.scan(
      segment.file,
      Segment.lookupOffset(segment, offset),
      segment.size,
      { strict: false, firstOffset: -1 },
      (batch, position) => {
        if (RecordBatch.lastOffset(batch) < offset) return true
        found = { position, size: batch.length }
        return false
      }
    )
    return found
  })

/** Reads whole batches from one segment (the one holding `fromOffset`, or the next ones). */
export const read = (
  state: State.State,
  fromOffset: number,
  maxBytes: number
): Effect.Effect<PartitionLog.ReadResult, LogError.OffsetOutOfRange | LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      const result = (batches: ReadonlyArray<Uint8Array>): PartitionLog.ReadResult => ({
        batches,
        sizeInBytes: batches.reduce((n, b) => n + b.length, 0),
        logStartOffset: state.logStartOffset,
        logEndOffset: state.logEndOffset
      })
      if (fromOffset < state.logStartOffset || fromOffset > state.logEndOffset) {
        return yield* Effect.fail(
          new LogError.OffsetOutOfRange({
            offset: fromOffset,
            logStartOffset: state.logStartOffset,
            logEndOffset: state.logEndOffset
          })
        )
      }
      for (let i = segmentIndexFor(state, fromOffset); i < state.segments.length; i++) {
        const segment = state.segments[i]!
        const hit = yield* locate(segment, fromOffset).pipe(State.io("read"))
        if (hit === undefined) continue
        const length = Math.min(segment.size - hit.position, Math.max(hit.size, maxBytes))
        const bytes = yield* Segment.readAt(segment.file, hit.position, length).pipe(State.io("read"))
        return result(RecordBatch.split(bytes, { verify: false }).batches)
      }
      return result([])
    }))

/** Removes every batch whose last offset is >= `offset`. */
export const truncateTo = (state: State.State, offset: number): Effect.Effect<void, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      if (offset >= state.logEndOffset) return
      const now = yield* Clock.currentTimeMillis
      if (offset <= state.logStartOffset) {
        // Everything goes: start afresh at the log start (or below it, as Kafka's truncateFullyAndStartAt).
        const start = Math.max(0, offset)
        yield* State.resetTo(state, start, now)
        state.logStartOffset = start
      } else {
        let i = segmentIndexFor(state, offset)
        let hit = yield* locate(state.segments[i]!, offset)
        while (hit === undefined && i + 1 < state.segments.length) hit = yield* locate(state.segments[++i]!, offset)
        if (hit !== undefined) {
          const segment = state.segments[i]!
          for (const s of state.segments.slice(i + 1)) yield* State.deleteSegment(state, s)
          state.segments = state.segments.slice(0, i + 1)
          yield* segment.file.truncate(hit.position)
          yield* segment.file.sync
          yield* State.removeIndexes(state, segment.baseOffset)
          yield* rebuildActive(state, segment)
          state.logEndOffset = segment.lastOffset + 1
          if (state.logEndOffset < state.logStartOffset) yield* State.resetTo(state, state.logStartOffset, now)
        }
      }
      state.epochs = LeaderEpochCache.truncateFromEnd(state.epochs, state.logEndOffset)
      yield* State.checkpoint(state)
    }).pipe(State.io("truncateTo")))

const rebuildActive = (state: State.State, segment: Segment.Segment) =>
  Effect.gen(function*() {
    const end = segment.size
    Segment.resetIndexes(segment)
    yield* Segment.scan(segment.file, 0, end, { strict: false, firstOffset: -1 }, (b, p) =>
      Segment.track(segment, b, p, state.options.indexIntervalBytes))
  })

/** Moves the log start to `offset` and deletes the segments wholly below it. */
export const deleteBefore = (state: State.State, offset: number): Effect.Effect<void, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      const target = Math.min(offset, state.logEndOffset)
      if (target <= state.logStartOffset) return
      state.logStartOffset = target
      if (target === state.logEndOffset && State.active(state).size > 0) {
        yield* State.roll(state, yield* Clock.currentTimeMillis)
      }
      while (state.segments.length > 1 && state.segments[1]!.baseOffset <= target) {
        yield* State.deleteSegment(state, state.segments.shift()!)
      }
      state.epochs = LeaderEpochCache.truncateFromStart(state.epochs, target)
      yield* State.checkpoint(state)
    }).pipe(State.io("deleteBefore")))

/** ListOffsets by timestamp, using the time index to skip ahead. */
export const offsetForTimestamp = (
  state: State.State,
  timestampMs: number
): Effect.Effect<Option.Option<PartitionLog.TimestampOffset>, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      for (const segment of state.segments) {
        if (segment.maxTimestamp < timestampMs) continue
        let found: Option.Option<PartitionLog.TimestampOffset> = Option.none()
        yield* Segment.scan(
          segment.file,
          Segment.lookupTimestamp(segment, timestampMs),
          segment.size,
          { strict: false, firstOffset: -1 },
          (batch) => {
            if (RecordBatch.lastOffset(batch) < state.logStartOffset) return true
            found = PartitionLog.findTimestampInBatch(batch, timestampMs, state.logStartOffset)
            return Option.isNone(found)
          }
        )
        if (Option.isSome(found)) return found
      }
      return Option.none<PartitionLog.TimestampOffset>()
    }).pipe(State.io("offsetForTimestamp")))

/** Syncs the active segment. */
export const flush = (state: State.State): Effect.Effect<void, LogError.LogClosed | LogError.StorageError> => locked(state, () => sync(state).pipe(State.io("flush")))

/** Syncs, then closes every file. Idempotent. */
export const close = (state: State.State): Effect.Effect<void, LogError.StorageError> =>
  state.lock.withPermits(1)(
    Effect.suspend(() => {
      if (state.closed) return Effect.void
      state.closed = true
      return Effect.gen(function*() {
        yield* State.active(state).file.sync
        yield* State.checkpoint(state)
        for (const s of state.segments) yield* Segment.close(s)
      }).pipe(State.io("close"))
    })
  )
