/**
 * MemoryLog: a `PartitionLog` held in memory, for the embedded cluster, the testkit and tests.
 *
 * Crash model: the log keeps a "flushed" mark (everything appended before the last `flush`,
 * or every `flushIntervalRecords` records). `MemoryLog.crash(log, { loseUnflushed })` returns the
 * log a restarted broker would find: with `loseUnflushed`, batches after the mark are gone (as
 * when the OS page cache dies with the machine). Truncations, deletions and the epoch cache
 * count as durable at once, as their checkpoints are on disk in a real log.
 */
import { Clock, Effect, Either, Option } from "effect"
import * as LeaderEpochCache from "./LeaderEpochCache.js"
import { LogClosed, OffsetOutOfRange } from "./LogError.js"
import * as PartitionLog from "./PartitionLog.js"
import * as RecordBatch from "./RecordBatch.js"

/** Options of an in-memory log. */
export interface Options {
  /** Offset of the first record when the log is empty (default 0). */
  readonly initialOffset?: number
  /** Move the flushed mark every N appended records (default: only on `flush`). */
  readonly flushIntervalRecords?: number
}

interface Stored {
  readonly bytes: Uint8Array
  readonly baseOffset: number
  readonly lastOffset: number
}

interface State {
  batches: Array<Stored>
  logStartOffset: number
  logEndOffset: number
  epochs: LeaderEpochCache.LeaderEpochCache
  flushedCount: number
  unflushedRecords: number
  closed: boolean
}

/** A memory log: the `PartitionLog` service plus access for the crash model. */
export interface MemoryLog extends PartitionLog.PartitionLog {
  /** @internal the state, for `crash` */
  readonly state: State
  readonly options: Options
}

/**
 * How an append stores a batch nobody writes any more: a follower's batch (what the leader's log
 * read returned, which nobody mutates (`ReadResult`: "do not mutate"); in process, the leader's
 * own stored arrays) or a leader's batch handed over with `transfer`. Such a batch that is a whole
 * array (not a view pinning a larger buffer, such as a network frame or a file read) is kept as
 * is, sparing a copy per replica; anything else is copied.
 */
const keepAllocate = (batch: Uint8Array): PartitionLog.Allocate | "keep" =>
  batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength ? "keep" : PartitionLog.allocateFresh

/** First index whose batch has `lastOffset >= offset` (batches.length if none). */
const search = (batches: ReadonlyArray<Stored>, offset: number): number => {
  let lo = 0
  let hi = batches.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (batches[mid]!.lastOffset < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

const fromState = (state: State, options: Options): MemoryLog => {
  const open = <A, E>(f: () => Effect.Effect<A, E>): Effect.Effect<A, E | LogClosed> =>
    Effect.suspend((): Effect.Effect<A, E | LogClosed> => (state.closed ? Effect.fail(new LogClosed()) : f()))

  const store = (prepared: PartitionLog.Prepared): PartitionLog.AppendInfo => {
    const h = prepared.header
    // Checked on the way in (a memory log checks every CRC now) and never written again: in-process
    // readers of it (followers, consumers) need not check it again.
    if (prepared.crcChecked) RecordBatch.trust(prepared.bytes)
    state.epochs = PartitionLog.epochsAfterAppend(state.epochs, h)
    state.batches.push({ bytes: prepared.bytes, baseOffset: h.baseOffset, lastOffset: h.lastOffset })
    state.logEndOffset = h.lastOffset + 1
    state.unflushedRecords += h.recordCount
    if (options.flushIntervalRecords !== undefined && state.unflushedRecords >= options.flushIntervalRecords) {
      state.flushedCount = state.batches.length
      state.unflushedRecords = 0
    }
    return prepared.info
  }

  const truncateTo = (offset: number): void => {
    if (offset >= state.logEndOffset) {
      // No record goes, but an epoch starting at or after `offset` (a leader's epoch with no
      // record yet) must: a follower fetching with it would be told to truncate here forever.
      state.epochs = LeaderEpochCache.truncateFromEnd(state.epochs, offset)
      return
    }
    const keep = search(state.batches, offset)
    state.batches.length = keep
    state.flushedCount = Math.min(state.flushedCount, keep)
    const last = state.batches[keep - 1]
    if (last === undefined) {
      state.logStartOffset = Math.min(state.logStartOffset, offset)
      state.logEndOffset = state.logStartOffset
    } else {
      state.logEndOffset = last.lastOffset + 1
    }
    state.epochs = LeaderEpochCache.truncateFromEnd(state.epochs, state.logEndOffset)
  }

  const deleteBefore = (offset: number): void => {
    const target = Math.min(offset, state.logEndOffset)
    if (target <= state.logStartOffset) return
    state.logStartOffset = target
    const drop = search(state.batches, target)
    state.batches.splice(0, drop)
    state.flushedCount = Math.max(0, state.flushedCount - drop)
    state.epochs = LeaderEpochCache.truncateFromStart(state.epochs, target)
  }

  const truncateFullyAndStartAt = (offset: number): void => {
    state.batches = []
    state.flushedCount = 0
    state.unflushedRecords = 0
    state.logStartOffset = offset
    state.logEndOffset = offset
    state.epochs = LeaderEpochCache.empty
  }

  const read = (fromOffset: number, maxBytes: number): Effect.Effect<PartitionLog.ReadResult, OffsetOutOfRange> => {
    if (fromOffset < state.logStartOffset || fromOffset > state.logEndOffset) {
      return Effect.fail(
        new OffsetOutOfRange({
          offset: fromOffset,
          logStartOffset: state.logStartOffset,
          logEndOffset: state.logEndOffset
        })
      )
    }
    const batches: Array<Uint8Array> = []
    let size = 0
    for (let i = search(state.batches, fromOffset); i < state.batches.length; i++) {
      const bytes = state.batches[i]!.bytes
      if (batches.length > 0 && size + bytes.length > maxBytes) break
      batches.push(bytes)
      size += bytes.length
    }
    return Effect.succeed({
      batches,
      sizeInBytes: size,
      logStartOffset: state.logStartOffset,
      logEndOffset: state.logEndOffset
    })
  }

  const offsetForTimestamp = (timestampMs: number): Option.Option<PartitionLog.TimestampOffset> => {
    for (let i = search(state.batches, state.logStartOffset); i < state.batches.length; i++) {
      const hit = PartitionLog.findTimestampInBatch(state.batches[i]!.bytes, timestampMs, state.logStartOffset)
      if (Option.isSome(hit)) return hit
    }
    return Option.none()
  }

  return {
    state,
    options,
    append: (batch, appendOptions) =>
      open(() =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Either.match(
            PartitionLog.prepareAppend(
              batch,
              state.logEndOffset,
              now,
              appendOptions,
              appendOptions?.transfer === true ? keepAllocate(batch) : PartitionLog.allocateFresh
            ),
            { onLeft: Effect.fail, onRight: (prepared) => Effect.succeed(store(prepared)) }
          )
        )
      ),
    appendAsFollower: (batch) =>
      open(() =>
        Either.match(PartitionLog.prepareFollowerAppend(batch, state.logEndOffset, keepAllocate(batch)), {
          onLeft: Effect.fail,
          onRight: (prepared) => Effect.succeed(store(prepared))
        })
      ),
    read: (fromOffset, maxBytes) => open(() => read(fromOffset, maxBytes)),
    truncateTo: (offset) => open(() => Effect.sync(() => truncateTo(offset))),
    deleteBefore: (offset) => open(() => Effect.sync(() => deleteBefore(offset))),
    truncateFullyAndStartAt: (offset) => open(() => Effect.sync(() => truncateFullyAndStartAt(offset))),
    logStartOffset: Effect.sync(() => state.logStartOffset),
    logEndOffset: Effect.sync(() => state.logEndOffset),
    assignEpoch: (epoch, startOffset) =>
      open(() => Effect.sync(() => void (state.epochs = LeaderEpochCache.assign(state.epochs, epoch, startOffset)))),
    endOffsetFor: (epoch) => Effect.sync(() => LeaderEpochCache.endOffsetFor(state.epochs, epoch, state.logEndOffset)),
    epochs: Effect.sync(() => state.epochs),
    offsetForTimestamp: (timestampMs) => open(() => Effect.sync(() => offsetForTimestamp(timestampMs))),
    flush: open(() =>
      Effect.sync(() => {
        state.flushedCount = state.batches.length
        state.unflushedRecords = 0
      })
    ),
    close: Effect.sync(() => {
      state.flushedCount = state.batches.length
      state.closed = true
    })
  }
}

/** Creates an empty in-memory log. */
export const make = (options: Options = {}): Effect.Effect<MemoryLog> =>
  Effect.sync(() => {
    const start = options.initialOffset ?? 0
    return fromState(
      {
        batches: [],
        logStartOffset: start,
        logEndOffset: start,
        epochs: LeaderEpochCache.empty,
        flushedCount: 0,
        unflushedRecords: 0,
        closed: false
      },
      options
    )
  })

/**
 * Simulates a crash and restart: closes `log` and returns the log a restarted broker would
 * open. With `loseUnflushed`, batches appended after the last flush mark are lost, and epochs
 * that start past the surviving end go (one starting exactly at the end stays), as FileLog
 * recovery does.
 */
export const crash = (log: MemoryLog, options: { readonly loseUnflushed: boolean }): Effect.Effect<MemoryLog> =>
  Effect.sync(() => {
    const old = log.state
    old.closed = true
    const batches = options.loseUnflushed ? old.batches.slice(0, old.flushedCount) : old.batches.slice()
    const last = batches[batches.length - 1]
    const logEndOffset = last === undefined ? old.logStartOffset : Math.max(last.lastOffset + 1, old.logStartOffset)
    return fromState(
      {
        batches,
        logStartOffset: old.logStartOffset,
        logEndOffset,
        epochs: LeaderEpochCache.truncateFromEnd(old.epochs, logEndOffset + 1), // as FileLog recovery
        flushedCount: batches.length,
        unflushedRecords: 0,
        closed: false
      },
      log.options
    )
  })

/** Number of bytes held (sum of batch sizes), for metrics and retention by size. */
export const sizeInBytes = (log: MemoryLog): Effect.Effect<number> =>
  Effect.sync(() => log.state.batches.reduce((n, b) => n + b.bytes.length, 0))
