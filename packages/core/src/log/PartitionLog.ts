/**
 * PartitionLog: the storage of one partition replica. Batches go in as `RecordBatch` bytes and
 * come out as the same bytes; offsets are contiguous from `logStartOffset` to `logEndOffset`
 * (compaction may leave holes below the active segment, never reorder).
 *
 * Semantics shared by every implementation (the conformance suite checks them):
 * - `append` assigns offsets from `logEndOffset`, stamps the leader epoch if given, and records
 *   a new epoch in the leader-epoch cache when the batch carries one newer than the latest.
 * - `appendAsFollower` keeps the leader's offsets and fails with `NonContiguousOffset` unless
 *   the batch starts exactly at `logEndOffset`.
 * - `read(from, maxBytes)` returns whole batches starting with the one that contains `from`,
 *   at least one even if larger than `maxBytes`, and fails with `OffsetOutOfRange` when `from`
 *   is below `logStartOffset` or above `logEndOffset` (at `logEndOffset` it returns nothing).
 * - `truncateTo(offset)` removes every batch whose last offset is >= `offset`: a batch holding
 *   `offset` goes entirely (the follower fetches it again), so the new end may be below `offset`.
 * - `deleteBefore(offset)` moves `logStartOffset` up to `offset` (capped at the end) and drops
 *   storage that lies wholly below it.
 * - `truncateFullyAndStartAt(offset)` drops every batch and the whole leader-epoch cache and
 *   starts the log afresh with `logStartOffset = logEndOffset = offset`, above or below the old
 *   end (Kafka's `truncateFullyAndStartAt`: a follower whose next offset the leader no longer has).
 */
import { Context, type Effect, Either, Option } from "effect"
import * as LeaderEpochCache from "./LeaderEpochCache.js"
import type { LogClosed, OffsetOutOfRange, StorageError } from "./LogError.js"
import { CorruptRecord, NonContiguousOffset } from "./LogError.js"
import * as RecordBatch from "./RecordBatch.js"

/** What an append reports: the offsets given to the batch and, for LogAppendTime, the time used. */
export interface AppendInfo {
  readonly baseOffset: number
  readonly lastOffset: number
  /** The broker time stamped into a `LogAppendTime` batch, or -1 for `CreateTime`. */
  readonly logAppendTimeMs: number
}

/** Whole batches read from the log, as stored (views; do not mutate). */
export interface ReadResult {
  readonly batches: ReadonlyArray<Uint8Array>
  /** The length of `batches`, summed. */
  readonly sizeInBytes: number
  readonly logStartOffset: number
  readonly logEndOffset: number
}

/** Options of a leader append. */
export interface AppendOptions {
  /** The leader epoch to stamp into the batch header (the leader's current epoch). */
  readonly leaderEpoch?: number
  /**
   * The caller hands the bytes over (nobody writes them any more): a log that keeps batches
   * (MemoryLog) may patch and keep them instead of copying. Others ignore it.
   */
  readonly transfer?: boolean
}

/** The answer of a timestamp lookup: first offset whose timestamp is >= the target. */
export interface TimestampOffset {
  readonly offset: number
  readonly timestamp: number
}

/** The service: one partition's log. */
export interface PartitionLog {
  /** Appends a batch as the leader, assigning offsets from the log end. */
  readonly append: (
    batch: Uint8Array,
    options?: AppendOptions
  ) => Effect.Effect<AppendInfo, CorruptRecord | LogClosed | StorageError>
  /** Appends a batch fetched from the leader, keeping its offsets and epoch. */
  readonly appendAsFollower: (
    batch: Uint8Array
  ) => Effect.Effect<AppendInfo, CorruptRecord | NonContiguousOffset | LogClosed | StorageError>
  /** Reads whole batches from `fromOffset`, up to `maxBytes` (but always at least one batch). */
  readonly read: (
    fromOffset: number,
    maxBytes: number
  ) => Effect.Effect<ReadResult, OffsetOutOfRange | LogClosed | StorageError>
  /** Removes every batch whose last offset is >= `offset`. */
  readonly truncateTo: (offset: number) => Effect.Effect<void, LogClosed | StorageError>
  /** Moves the log start up to `offset` and frees what lies wholly below it. */
  readonly deleteBefore: (offset: number) => Effect.Effect<void, LogClosed | StorageError>
  /**
   * Drops every batch and epoch; the log restarts empty at `offset` (start = end = `offset`).
   * What a follower does when the leader's log start has passed its fetch offset.
   */
  readonly truncateFullyAndStartAt: (offset: number) => Effect.Effect<void, LogClosed | StorageError>
  /** The first offset a consumer may read. */
  readonly logStartOffset: Effect.Effect<number>
  /** The offset the next appended record will get. */
  readonly logEndOffset: Effect.Effect<number>
  /** Records that leader `epoch` begins at `startOffset` (the leader does this on election). */
  readonly assignEpoch: (epoch: number, startOffset: number) => Effect.Effect<void, LogClosed | StorageError>
  /** OffsetsForLeaderEpoch: see `LeaderEpochCache.endOffsetFor`. */
  readonly endOffsetFor: (epoch: number) => Effect.Effect<LeaderEpochCache.EpochEndOffset>
  /** The cache's entries, oldest first. */
  readonly epochs: Effect.Effect<LeaderEpochCache.LeaderEpochCache>
  /** ListOffsets: the first offset whose record timestamp is >= `timestampMs`. */
  readonly offsetForTimestamp: (
    timestampMs: number
  ) => Effect.Effect<Option.Option<TimestampOffset>, LogClosed | StorageError>
  /** Makes everything appended so far durable (a no-op in memory beyond the crash model). */
  readonly flush: Effect.Effect<void, LogClosed | StorageError>
  /** Flushes and releases resources; later calls fail with `LogClosed`. */
  readonly close: Effect.Effect<void, StorageError>
}

/** The service tag, for code that is handed a single partition's log through the context. */
export const PartitionLog = Context.GenericTag<PartitionLog>("@fiberlog/core/log/PartitionLog")

/** Default `maxBytes` for reads when the caller has no better figure (Kafka's 1 MiB). */
export const DEFAULT_MAX_READ_BYTES = 1024 * 1024

/** A batch validated and prepared for storage: the bytes to write and their header. */
export interface Prepared {
  /** The batch to store; when `head` is set, the caller's array, whose header is not patched. */
  readonly bytes: Uint8Array
  /**
   * Set by a `"header"` preparation: the patched header (`RecordBatch.HEADER_BYTES` long). The
   * batch to store is then `head` followed by `bytes` after its first `head.length` bytes.
   */
  readonly head?: Uint8Array
  readonly header: RecordBatch.Header
  readonly info: AppendInfo
  /**
   * Whether the CRC of `bytes` was checked. Only a preparation asked for `crc: "later"` leaves it
   * `false`, and then the caller must check `RecordBatch.crcMatches(bytes)` before the append counts.
   */
  readonly crcChecked: boolean
}

/**
 * Gives the prepare functions the array to copy a batch into: exactly `sizeInBytes` long, any
 * contents. By default a fresh array; a log that writes the bytes out and then forgets them
 * (FileLog) lends one reusable buffer instead of allocating per append.
 */
export type Allocate = (sizeInBytes: number) => Uint8Array

/** The default `Allocate`: a fresh array the caller may keep. */
export const allocateFresh: Allocate = (sizeInBytes) => new Uint8Array(sizeInBytes)

/**
 * Where a leader's preparation puts the patched batch: copied into an `Allocate`'s array;
 * `"keep"`, the batch itself patched (a batch handed over with `transfer`); or `"header"`, only
 * its header copied and patched (`Prepared.head`), the records left where they are in the
 * caller's array, for a log that writes the batch out before the append returns and then forgets
 * it (FileLog on synchronous writes: the records are never copied). A `LogAppendTime` batch is
 * copied fresh even then (its restamped time changes the CRC over the records).
 */
export type Placement = Allocate | "keep" | "header"

/**
 * When the prepare functions check the batch CRC: `"now"` (before anything else), or `"later"`,
 * left to the caller (`Prepared.crcChecked` is then `false`) when the check can run beside the
 * write and the write can be undone on a mismatch (FileLog). A `LogAppendTime` batch on the leader
 * is always checked now: restamping its time re-checksums it, which would hide a bad CRC.
 */
export type CrcCheck = "now" | "later"

const copyInto = (batch: Uint8Array, allocate: Allocate): Uint8Array => {
  const bytes = allocate(batch.length)
  bytes.set(batch)
  return bytes
}

/** The header checks, and with `"now"` the CRC too, unless this process checked the batch already (`RecordBatch.isTrusted`). */
const validateFor = (batch: Uint8Array, crc: CrcCheck) =>
  crc === "now" ? RecordBatch.validateOnce(batch) : RecordBatch.validateHeader(batch)

/**
 * The leader's side of an append, shared by every implementation: validate, copy with offsets
 * from `nextOffset` (the caller's bytes are never mutated), stamp the epoch and, for
 * `LogAppendTime` batches, the append time. The copy goes into `placement(batch.length)`; with
 * `"keep"` the batch itself is patched and kept (a batch handed over with `transfer`); with
 * `"header"` only the header is copied (see `Placement`).
 */
export const prepareAppend = (
  batch: Uint8Array,
  nextOffset: number,
  nowMs: number,
  options?: AppendOptions,
  placement: Placement = allocateFresh,
  crc: CrcCheck = "now"
): Either.Either<Prepared, CorruptRecord> =>
  Either.flatMap(validateFor(batch, crc), (h) => {
    if (h.recordCount === 0) return Either.left(new CorruptRecord({ reason: "empty batch" }))
    const logAppendTime = h.timestampType === "LogAppendTime"
    if (logAppendTime && crc === "later" && !RecordBatch.crcMatches(batch)) return Either.left(RecordBatch.crcMismatch())
    const headOnly = placement === "header" && !logAppendTime
    // The array whose header is patched: the header alone, the batch itself, or a copy of it.
    const patched = headOnly
      ? batch.slice(0, RecordBatch.HEADER_BYTES)
      : placement === "keep"
      ? batch
      : copyInto(batch, placement === "header" ? allocateFresh : placement)
    RecordBatch.setBaseOffset(patched, nextOffset)
    if (options?.leaderEpoch !== undefined) RecordBatch.setLeaderEpoch(patched, options.leaderEpoch)
    const appendTime = logAppendTime ? nowMs : -1
    if (appendTime >= 0) RecordBatch.setLogAppendTime(patched, appendTime)
    const header = RecordBatch.header(patched)
    const info = { baseOffset: nextOffset, lastOffset: header.lastOffset, logAppendTimeMs: appendTime }
    const crcChecked = crc === "now" || logAppendTime
    return Either.right(headOnly ? { bytes: batch, head: patched, header, info, crcChecked } : { bytes: patched, header, info, crcChecked })
  })

/**
 * The follower's side: validate and check the batch continues exactly at `logEndOffset`; the
 * bytes are copied unchanged into `allocate(batch.length)`, or kept as they are with `"keep"`
 * (for a log that stores batches and may hold the caller's array, like `MemoryLog`, or one that
 * writes them out before it returns and forgets them, like FileLog).
 */
export const prepareFollowerAppend = (
  batch: Uint8Array,
  logEndOffset: number,
  allocate: Allocate | "keep" = allocateFresh,
  crc: CrcCheck = "now"
): Either.Either<Prepared, CorruptRecord | NonContiguousOffset> =>
  Either.flatMap(validateFor(batch, crc), (h): Either.Either<Prepared, CorruptRecord | NonContiguousOffset> => {
    if (h.recordCount === 0) return Either.left(new CorruptRecord({ reason: "empty batch" }))
    if (h.baseOffset !== logEndOffset) {
      return Either.left(new NonContiguousOffset({ expectedOffset: logEndOffset, actualOffset: h.baseOffset }))
    }
    return Either.right({
      bytes: allocate === "keep" ? batch : copyInto(batch, allocate), // a copy (Buffer.slice would be a view)
      header: h,
      info: {
        baseOffset: h.baseOffset,
        lastOffset: h.lastOffset,
        logAppendTimeMs: h.timestampType === "LogAppendTime" ? h.maxTimestamp : -1
      },
      crcChecked: crc === "now"
    })
  })

/** The epoch cache after appending a batch: a newer epoch in its header starts at its base offset. */
export const epochsAfterAppend = (
  cache: LeaderEpochCache.LeaderEpochCache,
  header: RecordBatch.Header
): LeaderEpochCache.LeaderEpochCache =>
  header.partitionLeaderEpoch > LeaderEpochCache.latestEpoch(cache)
    ? LeaderEpochCache.assign(cache, header.partitionLeaderEpoch, header.baseOffset)
    : cache

/** Within one batch: the first record at or after `minOffset` whose timestamp is >= `timestampMs`. */
export const findTimestampInBatch = (
  batch: Uint8Array,
  timestampMs: number,
  minOffset: number
): Option.Option<TimestampOffset> => {
  if (RecordBatch.maxTimestamp(batch) < timestampMs) return Option.none()
  const records = RecordBatch.decodeRecords(batch)
  if (Either.isLeft(records)) return Option.none()
  const hit = records.right.find((r) => r.offset >= minOffset && r.timestamp >= timestampMs)
  return hit === undefined ? Option.none() : Option.some({ offset: hit.offset, timestamp: hit.timestamp })
}
