/**
 * The PartitionLog operations of a FileLog, over `State`. Every operation takes the log's
 * lock, but for the common append when the lock is free (`appendNow`): an append is one write of
 * the batch to the active segment's open handle, with the batch's CRC checked before it
 * (synchronous appends, small batches) or beside it (a large batch written through the thread
 * pool). A synchronous append is one step with no effect per write (`writeSync`): a `writev` of
 * the patched header and the caller's records.
 * @internal
 */
import type { PlatformError } from "@effect/platform/Error"
import { LeaderEpochCache, LogError, PartitionLog, RecordBatch } from "@fiberlog/core"
import { Clock, Effect, Either, Option } from "effect"
import * as Segment from "./Segment.js"
import * as State from "./State.js"
import * as SyncAppend from "./syncAppend.js"

/**
 * Runs `f` under the lock, failing with `LogClosed` after close. A free lock is taken with
 * `withPermitsIfAvailable` (no async hand-off, about half the cost of `withPermits` per append);
 * only a contended one waits in `withPermits`. `state.holders` counts `f` as running from its
 * first step to its last, for `appendNow`.
 */
export const locked = <A, E>(state: State.State, f: () => Effect.Effect<A, E>): Effect.Effect<A, E | LogError.LogClosed> => {
  const body = Effect.suspend((): Effect.Effect<A, E | LogError.LogClosed> =>
    state.closed ? Effect.fail(new LogError.LogClosed()) : holding(state, f())
  )
  return Effect.flatMap(
    state.lock.withPermitsIfAvailable(1)(body),
    (taken) => Option.isSome(taken) ? Effect.succeed(taken.value) : state.lock.withPermits(1)(body)
  )
}

/** `effect`, counted in `state.holders` while it runs (its caller holds the lock). */
const holding = <A, E>(state: State.State, effect: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  state.holders++
  return Effect.ensuring(
    effect,
    Effect.sync(() => {
      state.holders--
    })
  )
}

const sync = (state: State.State): Effect.Effect<void, PlatformError> =>
  Effect.suspend(() => {
    state.unflushedRecords = 0
    return State.active(state).file.sync
  })

/** Whether a batch of `bytes` must go to a new segment: the active one is non-empty and full or old. */
export const mustRoll = (segment: Segment.Segment, bytes: number, nowMs: number, options: State.Resolved): boolean =>
  segment.size > 0 && (segment.size + bytes > options.segmentBytes || nowMs - segment.createdAtMs >= options.segmentMs)

/** The work before the write, if any: rolling the segment, checkpointing a new leader epoch. */
const beforeWrite = (
  state: State.State,
  prepared: PartitionLog.Prepared,
  nowMs: number
): Effect.Effect<void, PlatformError> | undefined => {
  const roll = mustRoll(State.active(state), prepared.bytes.length, nowMs, state.options)
  const epochs = PartitionLog.epochsAfterAppend(state.epochs, prepared.header)
  if (!roll && epochs === state.epochs) return undefined
  return Effect.gen(function*() {
    if (roll) yield* State.roll(state, nowMs)
    if (epochs !== state.epochs) {
      state.epochs = epochs
      yield* State.checkpoint(state)
    }
  })
}

/**
 * Runs `write` (Node hands it to its thread pool) and `check` beside it on the main thread.
 * `check` is queued with `setImmediate`: it runs once the current tick has submitted the write,
 * and before the write's completion is handled, so its cost hides behind the write. If the
 * write completes first (or was not submitted in this tick), `check` runs inline then: the
 * answer is the same either way, only the overlap is lost. (After a failed write a queued check
 * may still run; its answer is dropped.)
 */
const besideWrite = <E>(write: Effect.Effect<void, E>, check: () => boolean): Effect.Effect<boolean, E> =>
  Effect.suspend(() => {
    let result: boolean | undefined
    const immediate = setImmediate(() => {
      result = check()
    })
    return Effect.map(write, () => {
      if (result === undefined) {
        clearImmediate(immediate)
        result = check()
      }
      return result
    })
  })

/**
 * Cuts the active segment back to `position`, undoing a write that must not count. If even that
 * fails, the file holds bytes the counters and indexes do not know of, so the log stops (later
 * calls fail with `LogClosed`, as Kafka takes a failed log directory offline); reopening
 * recovers it, since such a tail is torn or fails its CRC.
 */
const undoWrite = (state: State.State, segment: Segment.Segment, position: number): Effect.Effect<void, PlatformError> =>
  Effect.tapError(segment.file.truncate(position), () =>
    Effect.sync(() => {
      state.closed = true
    }))

/** The bookkeeping after a batch is in the file at `position`: counters and indexes. */
const track = (state: State.State, segment: Segment.Segment, prepared: PartitionLog.Prepared, position: number): void => {
  Segment.track(segment, prepared.head ?? prepared.bytes, position, state.options.indexIntervalBytes)
  state.logEndOffset = prepared.header.lastOffset + 1
  state.unflushedRecords += prepared.header.recordCount
}

/** `track`, then the flush the policy calls for, if any (`undefined` when none is due). */
const committed = (
  state: State.State,
  segment: Segment.Segment,
  prepared: PartitionLog.Prepared,
  position: number
): Effect.Effect<void, PlatformError> | undefined => {
  track(state, segment, prepared, position)
  return flushDueAfter(state, 0) ? sync(state) : undefined
}

/** Whether the flush policy calls for a flush once `unflushedRecords` has grown by `records`. */
const flushDueAfter = (state: State.State, records: number): boolean => {
  const every = state.options.flushIntervalRecords
  return every !== undefined && state.unflushedRecords + records >= every
}

/** `committed`, answering the append's info once the flush (if one was due) is done. */
const commit = (
  state: State.State,
  segment: Segment.Segment,
  prepared: PartitionLog.Prepared,
  position: number
): Effect.Effect<PartitionLog.AppendInfo, PlatformError> => {
  const flush = committed(state, segment, prepared, position)
  return flush === undefined ? Effect.succeed(prepared.info) : Effect.as(flush, prepared.info)
}

/** The prepared batch as the pieces to write: the patched header and the records after it, or the whole batch. */
const chunksOf = (prepared: PartitionLog.Prepared): ReadonlyArray<Uint8Array> =>
  prepared.head === undefined ? [prepared.bytes] : [prepared.head, prepared.bytes.subarray(prepared.head.length)]

/** `file.writeAll` of the prepared batch (its two pieces one after the other when it has a separate head). */
const writeAllOf = (segment: Segment.Segment, prepared: PartitionLog.Prepared): Effect.Effect<void, PlatformError> =>
  prepared.head === undefined
    ? segment.file.writeAll(prepared.bytes)
    : Effect.forEach(chunksOf(prepared), (chunk) => segment.file.writeAll(chunk), { discard: true })

/**
 * One `writeAll` of the batch to the active segment, then the bookkeeping. A CRC still owed
 * (`crcChecked: false`) is checked beside the write, not before it: the check reads every byte,
 * and costs about as much as the write itself. On a mismatch the write is undone (the file cut
 * back to where the batch began) and the append fails with `CorruptRecord`, leaving the log as
 * it was; a crash before the undo leaves a tail that recovery drops for its CRC. A failed write
 * is undone too, so a partial one never lies under the next batch.
 */
const writeActive = (
  state: State.State,
  prepared: PartitionLog.Prepared
): Effect.Effect<PartitionLog.AppendInfo, PlatformError | LogError.CorruptRecord> =>
  Effect.suspend(() => {
    const segment = State.active(state)
    const position = segment.size
    const write = writeAllOf(segment, prepared)
    // (With a separate head, `bytes` keeps the caller's header, whose patched fields the CRC does not cover.)
    const written = prepared.crcChecked ? Effect.as(write, true) : besideWrite(write, () => RecordBatch.crcMatches(prepared.bytes))
    return Effect.flatMap(
      Effect.tapError(written, () => Effect.ignore(undoWrite(state, segment, position))),
      (crcOk): Effect.Effect<PartitionLog.AppendInfo, PlatformError | LogError.CorruptRecord> =>
        crcOk
          ? commit(state, segment, prepared, position)
          : Effect.zipRight(undoWrite(state, segment, position), Effect.fail(RecordBatch.crcMismatch()))
    )
  })

/**
 * Writes `prepared` to the active segment, which is written synchronously (see `SyncAppend`), in
 * one `writev`, and does the bookkeeping: `undefined` once done, or the write's error. A failed
 * write is undone in the same step (the file cut back to where the batch began, synchronously),
 * so nothing can write after its partial bytes; if even that fails the log stops (`closed`), as
 * in `undoWrite`. Nothing can interleave a synchronous step.
 */
const writeSync = (
  state: State.State,
  segment: Segment.Segment,
  prepared: PartitionLog.Prepared
): LogError.StorageError | undefined => {
  const position = segment.size
  const failed = SyncAppend.writeNow(segment.file, chunksOf(prepared))
  if (failed !== undefined) {
    if (SyncAppend.truncateNow(segment.file, position) !== undefined) state.closed = true
    return new LogError.StorageError({ operation: "append", cause: failed })
  }
  track(state, segment, prepared, position)
  return undefined
}

/**
 * The common append under the lock, in one synchronous step with no effect per write: the active
 * segment is written synchronously, the batch's CRC is already checked and it neither rolls the
 * segment nor starts an epoch (`writeSync`). Only a flush the policy calls for is an effect, and
 * that runs uninterruptibly.
 */
const writeActiveNow = (
  state: State.State,
  segment: Segment.Segment,
  prepared: PartitionLog.Prepared
): Effect.Effect<PartitionLog.AppendInfo, LogError.StorageError | LogError.CorruptRecord> => {
  const failed = writeSync(state, segment, prepared)
  if (failed !== undefined) return Effect.fail(failed)
  return flushDueAfter(state, 0)
    ? Effect.as(sync(state), prepared.info).pipe(Effect.mapError(appendError), Effect.uninterruptible)
    : Effect.succeed(prepared.info)
}

/**
 * The append without the lock, when it is free and the append is nothing but one synchronous
 * write (`writeSync`): no operation is part-way through (`holders` is 0), the active segment is
 * written synchronously, and the batch neither rolls the segment, starts an epoch nor makes a flush
 * due. Then the whole append is one synchronous step, which nothing can interleave, so the lock
 * would add only its cost (about as much as the rest of a small append). An append that is not
 * like that gets `undefined`, and takes the locked path (`prepareAndWrite`), which prepares it
 * again against the state it finds once it holds the lock.
 */
const appendNow = <E>(
  state: State.State,
  nowMs: number,
  prepare: (nowMs: number) => Either.Either<PartitionLog.Prepared, E>
): Effect.Effect<PartitionLog.AppendInfo, E | LogError.StorageError> | undefined => {
  if (state.holders > 0 || state.closed) return undefined
  const segment = State.active(state)
  if (!SyncAppend.writesSynchronously(segment.file)) return undefined
  const prepared = prepare(nowMs)
  if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
  const p = prepared.right
  if (!p.crcChecked || beforeWrite(state, p, nowMs) !== undefined || flushDueAfter(state, p.header.recordCount)) {
    return undefined
  }
  const failed = writeSync(state, segment, p)
  return failed === undefined ? Effect.succeed(p.info) : Effect.fail(failed)
}

const appendError = (e: PlatformError | LogError.CorruptRecord): LogError.StorageError | LogError.CorruptRecord =>
  e._tag === "CorruptRecord" ? e : new LogError.StorageError({ operation: "append", cause: e })

/**
 * Writes a prepared batch to the active segment (rolling first if it is full or old).
 * Uninterruptible: an append stopped half-way would leave bytes in the file that the counters
 * and indexes do not know of (and `prepared.bytes` may be the scratch buffer the next append reuses).
 * A batch that rolls the segment or starts a leader epoch has its CRC checked first, so a
 * corrupt one leaves no new segment or epoch behind. Reads the log's state when called, so call it
 * where the append runs (under the lock), not ahead of time.
 */
const write = (
  state: State.State,
  prepared: PartitionLog.Prepared,
  nowMs: number
): Effect.Effect<PartitionLog.AppendInfo, LogError.CorruptRecord | LogError.StorageError> => {
  const before = beforeWrite(state, prepared, nowMs)
  const segment = State.active(state)
  if (before === undefined && prepared.crcChecked && SyncAppend.writesSynchronously(segment.file)) {
    return writeActiveNow(state, segment, prepared)
  }
  return Effect.suspend((): Effect.Effect<PartitionLog.AppendInfo, PlatformError | LogError.CorruptRecord> => {
    if (before === undefined) return writeActive(state, prepared)
    if (!prepared.crcChecked && !RecordBatch.crcMatches(prepared.bytes)) return Effect.fail(RecordBatch.crcMismatch())
    return Effect.zipRight(before, writeActive(state, { ...prepared, crcChecked: true }))
  }).pipe(Effect.mapError(appendError), Effect.uninterruptible)
}

/**
 * Prepares (see `placementFor`) and writes, or fails with the preparation's error: at once without
 * the lock when the append is one synchronous write (`appendNow`), else under the lock.
 */
const prepareAndWrite = <E>(
  state: State.State,
  prepare: (nowMs: number) => Either.Either<PartitionLog.Prepared, E>
): Effect.Effect<PartitionLog.AppendInfo, E | LogError.CorruptRecord | LogError.LogClosed | LogError.StorageError> =>
  Effect.clockWith((clock) =>
    appendNow(state, clock.unsafeCurrentTimeMillis(), prepare) ??
      locked(state, () =>
        Effect.clockWith((clock): Effect.Effect<PartitionLog.AppendInfo, E | LogError.CorruptRecord | LogError.StorageError> => {
          const nowMs = clock.unsafeCurrentTimeMillis()
          const prepared = prepare(nowMs)
          return Either.isLeft(prepared) ? Effect.fail(prepared.left) : write(state, prepared.right, nowMs)
        }))
  )

/**
 * Batches from this size have their CRC checked beside an asynchronous write; smaller ones before
 * it, where the check (about 2.5 µs at 16 KiB) costs less than arranging the overlap.
 */
export const CRC_BESIDE_WRITE_MIN_BYTES = 16 * 1024

/**
 * When the append checks the batch's CRC: before the write for a small batch, and for any batch
 * when the active segment is written synchronously (nothing could run beside the write, and a
 * corrupt batch then never reaches the file); beside the write otherwise.
 */
const crcCheckFor = (state: State.State, batch: Uint8Array): PartitionLog.CrcCheck =>
  batch.length < CRC_BESIDE_WRITE_MIN_BYTES || SyncAppend.writesSynchronously(State.active(state).file) ? "now" : "later"

/**
 * Where a leader append patches the batch: on a synchronously written segment, a copy of the
 * header alone, written before the caller's records (`"header"`: the records are never copied,
 * and the write is done before the append returns); otherwise a copy of the whole batch in the
 * scratch buffer, which stays unchanged while a thread-pool write reads it.
 */
const placementFor = (state: State.State): PartitionLog.Placement =>
  SyncAppend.writesSynchronously(State.active(state).file) ? "header" : State.borrowScratch(state)

/**
 * Leader append: validate the header, patch the offsets (and epoch) into a copy (see
 * `placementFor`), one write with the CRC checked before it (or beside it: a large batch on a
 * thread-pool write).
 */
export const append = (
  state: State.State,
  batch: Uint8Array,
  options?: PartitionLog.AppendOptions
): Effect.Effect<PartitionLog.AppendInfo, LogError.CorruptRecord | LogError.LogClosed | LogError.StorageError> =>
  prepareAndWrite(
    state,
    (nowMs) => PartitionLog.prepareAppend(batch, state.logEndOffset, nowMs, options, placementFor(state), crcCheckFor(state, batch))
  )

/**
 * Follower append: validate the header, check contiguity, one write of the caller's bytes as
 * they are (written before the append returns, and never kept), with the CRC checked beside it
 * (before it, for a small batch).
 */
export const appendAsFollower = (
  state: State.State,
  batch: Uint8Array
): Effect.Effect<
  PartitionLog.AppendInfo,
  LogError.CorruptRecord | LogError.NonContiguousOffset | LogError.LogClosed | LogError.StorageError
> =>
  prepareAndWrite(
    state,
    () => PartitionLog.prepareFollowerAppend(batch, state.logEndOffset, "keep", crcCheckFor(state, batch))
  )

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
      if (offset >= state.logEndOffset) {
        // No record goes, but an epoch that starts at or after `offset` (a leader's epoch with no
        // record yet) must: a follower fetching with it would be told to truncate here forever.
        const epochs = LeaderEpochCache.truncateFromEnd(state.epochs, offset)
        if (epochs.length !== state.epochs.length) {
          state.epochs = epochs
          yield* State.checkpoint(state)
        }
        return
      }
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

/**
 * Drops every segment and the epoch cache and starts afresh with one empty segment at `offset`
 * (Kafka's `truncateFullyAndStartAt`). The segments go before the checkpoints are written, so a
 * crash in between still recovers to an empty log at `offset` (recovery takes the log start
 * from the first segment when the checkpoint is older).
 */
export const truncateFullyAndStartAt = (
  state: State.State,
  offset: number
): Effect.Effect<void, LogError.LogClosed | LogError.StorageError> =>
  locked(state, () =>
    Effect.gen(function*() {
      yield* State.resetTo(state, offset, yield* Clock.currentTimeMillis)
      state.logStartOffset = offset
      state.unflushedRecords = 0
      state.epochs = LeaderEpochCache.empty
      yield* State.checkpoint(state)
    }).pipe(State.io("truncateFullyAndStartAt"), Effect.uninterruptible))

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
      return holding(
        state,
        Effect.gen(function*() {
          yield* State.active(state).file.sync
          yield* State.checkpoint(state)
          for (const s of state.segments) yield* Segment.close(s)
        }).pipe(State.io("close"))
      )
    })
  )
