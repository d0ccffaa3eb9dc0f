/**
 * FileLog: a durable `PartitionLog` in a directory of segment files, as Kafka lays it out.
 *
 * - Segments are named by base offset (`00000000000000000000.log`, `.index`, `.timeindex`);
 *   the active one keeps its file handle open and takes one write per appended batch. The
 *   batch's CRC is checked on every append, as Kafka's broker does. On {@link layerFileSystem}
 *   the check comes before a synchronous `writev` of the patched header and the caller's records
 *   (never copied), so a corrupt batch never reaches the file. On a thread-pool `FileSystem` the
 *   check runs beside the write of a copy, and a batch that fails it is cut back out of the file.
 * - Rolling by size (`segmentBytes`) and age (`segmentMs`); retention by time (the segment's
 *   largest timestamp against the Clock) and size, deleting whole non-active segments.
 * - Flush policy: every `flushIntervalRecords` records, every `flushIntervalMs`, or (default)
 *   left to the OS and replication, which is Kafka's default.
 * - Recovery on open scans the last segment, checks every batch's CRC, length and offset order,
 *   truncates a torn or corrupt tail, and rebuilds missing or damaged indexes.
 * - `cleanupPolicy: "compact"` keeps the last value per key in non-active segments
 *   (see `Compaction`); tombstones go after `deleteRetentionMs`.
 * - The leader-epoch cache and log start offset live in small checkpoint files.
 *
 * All file access goes through `@effect/platform`'s `FileSystem`; the log is scoped and closes
 * its files when the scope closes. Run it on {@link layerFileSystem} (Node's, with appends
 * written synchronously into the page cache, as Kafka's log does); it works on any `FileSystem`.
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { LeaderEpochCache, type LogError, type PartitionLog } from "@fiberlog/core"
import { Duration, Effect, Layer, type Scope } from "effect"
import * as Cleaner from "./internal/filelog/Cleaner.js"
import * as Ops from "./internal/filelog/Ops.js"
import * as Recovery from "./internal/filelog/Recovery.js"
import * as State from "./internal/filelog/State.js"
import * as SyncAppend from "./internal/filelog/syncAppend.js"

/**
 * Replaces the context's `FileSystem` with one whose files opened for appending (`a`, `a+`)
 * take their writes synchronously (`fs.writeSync`) on the calling thread; everything else is the
 * wrapped `FileSystem`'s. A log append waits for its write either way; done in place, the write
 * skips the round trip through Node's thread pool, which costs more than copying a 100 KiB batch
 * into the page cache (`npm run bench:log`: `filelog-*` against `filelog-threadpool-*`). The
 * price is Kafka's: the event loop is held while the kernel takes the bytes, so a stalled disk
 * stalls the process rather than one log.
 */
export const layerSyncAppends: Layer.Layer<FileSystem.FileSystem, never, FileSystem.FileSystem> = SyncAppend.layer

/** Node's `FileSystem` with synchronous appends ({@link layerSyncAppends}): what a broker runs a FileLog on. */
export const layerFileSystem: Layer.Layer<FileSystem.FileSystem> = SyncAppend.layer.pipe(Layer.provide(NodeFileSystem.layer))

/** Options of a file log; only `dir` is required. */
export interface Options {
  /** Directory holding this partition's segments (created if absent). */
  readonly dir: string
  /** Offset of the first record of a new, empty log (default 0). */
  readonly initialOffset?: number
  /** Roll when the active segment would exceed this size (default 1 GiB). */
  readonly segmentBytes?: number
  /** Roll when the active segment is older than this (default 7 days). */
  readonly segmentMs?: number
  /** Delete segments whose largest timestamp is older than this (default: keep). */
  readonly retentionMs?: number
  /** Delete oldest segments while the log stays at least this large without them (default: keep). */
  readonly retentionBytes?: number
  /** fsync after this many records (default: leave it to the OS). */
  readonly flushIntervalRecords?: number
  /** fsync every this many ms, from a background fiber (default: leave it to the OS). */
  readonly flushIntervalMs?: number
  /** Bytes between sparse index entries (default 4096). */
  readonly indexIntervalBytes?: number
  /** `delete` (retention), `compact`, or both (default `delete`). */
  readonly cleanupPolicy?: "delete" | "compact" | "compact,delete"
  /** How long a tombstone survives compaction (default 1 day). */
  readonly deleteRetentionMs?: number
  /** Run `cleanup` every this many ms from a background fiber (default: only when called). */
  readonly retentionCheckIntervalMs?: number
}

/** Segment figures, for tests and metrics. */
export interface SegmentInfo {
  readonly baseOffset: number
  readonly sizeInBytes: number
  readonly lastOffset: number
  readonly maxTimestamp: number
}

/** A file log: the `PartitionLog` service plus retention, compaction and inspection. */
export interface FileLog extends PartitionLog.PartitionLog {
  /** Deletes whole segments past `retentionMs` / `retentionBytes`; returns how many. */
  readonly enforceRetention: Effect.Effect<number, LogError.LogClosed | LogError.StorageError>
  /** Compacts the non-active segments (whatever the cleanup policy). */
  readonly compact: Effect.Effect<Cleaner.CompactionStats, LogError.LogClosed | LogError.StorageError>
  /** Runs what the cleanup policy asks for: retention, compaction, or both. */
  readonly cleanup: Effect.Effect<void, LogError.LogClosed | LogError.StorageError>
  /** The segments, oldest first (the last is active). */
  readonly segments: Effect.Effect<ReadonlyArray<SegmentInfo>>
}

/** The compaction report. */
export type CompactionStats = Cleaner.CompactionStats

/** The pure retention decision: how many of the oldest segments to delete. */
export const segmentsToDelete = Cleaner.segmentsToDelete

const resolve = (options: Options): State.Resolved => ({
  dir: options.dir,
  initialOffset: options.initialOffset ?? 0,
  segmentBytes: options.segmentBytes ?? 1024 * 1024 * 1024,
  segmentMs: options.segmentMs ?? 7 * 24 * 60 * 60 * 1000,
  retentionMs: options.retentionMs,
  retentionBytes: options.retentionBytes,
  flushIntervalRecords: options.flushIntervalRecords,
  flushIntervalMs: options.flushIntervalMs,
  indexIntervalBytes: options.indexIntervalBytes ?? 4096,
  cleanupPolicy: options.cleanupPolicy ?? "delete",
  deleteRetentionMs: options.deleteRetentionMs ?? 24 * 60 * 60 * 1000,
  retentionCheckIntervalMs: options.retentionCheckIntervalMs
})

/** Opens (recovering) or creates the log in `options.dir`; closed with the scope. */
export const make = (
  options: Options
): Effect.Effect<FileLog, LogError.StorageError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const scope = yield* Effect.scope
    const state: State.State = {
      fs,
      options: resolve(options),
      scope,
      lock: yield* Effect.makeSemaphore(1),
      holders: 0,
      segments: [],
      logStartOffset: 0,
      logEndOffset: 0,
      epochs: [],
      unflushedRecords: 0,
      closed: false,
      scratch: State.emptyScratch()
    }
    yield* Effect.addFinalizer(() => Effect.ignore(Ops.close(state)))
    yield* Recovery.open(state).pipe(State.io("open"))
    const policy = state.options.cleanupPolicy
    const cleanup = Effect.gen(function*() {
      if (policy !== "compact") yield* Cleaner.enforceRetention(state)
      if (policy !== "delete") yield* Cleaner.compact(state)
    })
    const every = (ms: number | undefined, task: Effect.Effect<unknown, unknown>) =>
      ms === undefined
        ? Effect.void
        : Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(ms)), Effect.ignore(task))))
    yield* every(state.options.flushIntervalMs, Ops.flush(state))
    yield* every(state.options.retentionCheckIntervalMs, cleanup)
    const log: FileLog = {
      append: (batch, appendOptions) => Ops.append(state, batch, appendOptions),
      appendAsFollower: (batch) => Ops.appendAsFollower(state, batch),
      read: (fromOffset, maxBytes) => Ops.read(state, fromOffset, maxBytes),
      truncateTo: (offset) => Ops.truncateTo(state, offset),
      deleteBefore: (offset) => Ops.deleteBefore(state, offset),
      truncateFullyAndStartAt: (offset) => Ops.truncateFullyAndStartAt(state, offset),
      logStartOffset: Effect.sync(() => state.logStartOffset),
      logEndOffset: Effect.sync(() => state.logEndOffset),
      assignEpoch: (epoch, startOffset) =>
        Ops.locked(state, () =>
          Effect.suspend(() => {
            const next = LeaderEpochCache.assign(state.epochs, epoch, startOffset)
            if (next === state.epochs) return Effect.void
            state.epochs = next
            return State.checkpoint(state).pipe(State.io("assignEpoch"))
          })),
      endOffsetFor: (epoch) => Effect.sync(() => LeaderEpochCache.endOffsetFor(state.epochs, epoch, state.logEndOffset)),
      epochs: Effect.sync(() => state.epochs),
      offsetForTimestamp: (timestampMs) => Ops.offsetForTimestamp(state, timestampMs),
      flush: Ops.flush(state),
      close: Ops.close(state),
      enforceRetention: Cleaner.enforceRetention(state),
      compact: Cleaner.compact(state),
      cleanup,
      segments: Effect.sync(() =>
        state.segments.map((s) => ({
          baseOffset: s.baseOffset,
          sizeInBytes: s.size,
          lastOffset: s.lastOffset,
          maxTimestamp: s.maxTimestamp
        }))
      )
    }
    return log
  })
