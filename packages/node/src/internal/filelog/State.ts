/**
 * The mutable state of an open FileLog and the segment-level operations every part of it
 * uses: open, create, roll, delete, checkpoints. All callers hold the log's lock.
 * @internal
 */
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { LeaderEpochCache, LogError } from "@fiberlog/core"
import { Effect, ExecutionStrategy, Exit, Scope } from "effect"
import * as Segment from "./Segment.js"

/** FileLog options with every default filled in. */
export interface Resolved {
  readonly dir: string
  readonly initialOffset: number
  readonly segmentBytes: number
  readonly segmentMs: number
  readonly retentionMs: number | undefined
  readonly retentionBytes: number | undefined
  readonly flushIntervalRecords: number | undefined
  readonly flushIntervalMs: number | undefined
  readonly indexIntervalBytes: number
  readonly cleanupPolicy: "delete" | "compact" | "compact,delete"
  readonly deleteRetentionMs: number
  readonly retentionCheckIntervalMs: number | undefined
}

/** The open log. */
export interface State {
  readonly fs: FileSystem.FileSystem
  readonly options: Resolved
  readonly scope: Scope.Scope
  readonly lock: Effect.Semaphore
  /**
   * Operations running under the lock (0 or 1), counted from their first step to their last: an
   * append that needs nothing but one synchronous write runs without the lock when this is 0
   * (see `Ops.appendNow`).
   */
  holders: number
  segments: Array<Segment.Segment>
  logStartOffset: number
  logEndOffset: number
  epochs: LeaderEpochCache.LeaderEpochCache
  unflushedRecords: number
  closed: boolean
  /** The reusable buffer an append copies its batch into (see `borrowScratch`). */
  scratch: Uint8Array
}

/**
 * Batches larger than this get a fresh array instead of growing the reusable scratch buffer
 * (Kafka's default `max.message.bytes` is about 1 MiB); so an open log holds at most this much
 * for it, and only as much as its largest batch so far.
 */
export const SCRATCH_MAX_BYTES = 1024 * 1024

/** An empty scratch buffer, for a new `State`. */
export const emptyScratch = (): Uint8Array => new Uint8Array(0)

/**
 * A `PartitionLog.Allocate` over the log's scratch buffer: a view of `sizeInBytes` bytes,
 * valid until the next append. A leader append copies its batch here (the offsets are patched in
 * the copy), writes it and forgets it, so one warm buffer replaces a fresh allocation per append —
 * which for a 100 KB batch cost more than the write itself (page faults and GC of external memory).
 * Callers hold the lock and write uninterruptibly, so no two appends share the buffer at once.
 */
export const borrowScratch = (state: State) => (sizeInBytes: number): Uint8Array => {
  if (sizeInBytes > SCRATCH_MAX_BYTES) return new Uint8Array(sizeInBytes)
  if (state.scratch.length < sizeInBytes) {
    state.scratch = new Uint8Array(Math.min(SCRATCH_MAX_BYTES, Math.max(sizeInBytes, state.scratch.length * 2)))
  }
  return state.scratch.subarray(0, sizeInBytes)
}

/** The checkpoint file of the leader-epoch cache. */
export const EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
/** The checkpoint file of the log start offset. */
export const START_CHECKPOINT = "log-start-offset-checkpoint"

/** Maps a platform failure to the log's typed storage error. */
export const io = (operation: string) => <A, R>(effect: Effect.Effect<A, PlatformError, R>) =>
  Effect.mapError(effect, (cause) => new LogError.StorageError({ operation, cause }))

/** Path of a file in the log directory. */
export const path = (state: State, name: string): string => `${state.options.dir}/${name}`

/** The active (last) segment. */
export const active = (state: State): Segment.Segment => state.segments[state.segments.length - 1]!

/** Opens (creating if absent) the segment file for `baseOffset`, in its own scope. */
export const openSegment = (
  state: Pick<State, "fs" | "options" | "scope">,
  baseOffset: number,
  nowMs: number
): Effect.Effect<Segment.Segment, PlatformError> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(state.scope, ExecutionStrategy.sequential)
    const file = yield* state.fs
      .open(`${state.options.dir}/${Segment.fileName(baseOffset, ".log")}`, { flag: "a+" })
      .pipe(Scope.extend(scope), Effect.tapError(() => Scope.close(scope, Exit.void)))
    const size = Number((yield* file.stat).size)
    return {
      baseOffset,
      scope,
      file,
      size,
      lastOffset: baseOffset - 1,
      maxTimestamp: -1,
      offsetIndex: [],
      timeIndex: [],
      bytesSinceIndexEntry: 0,
      createdAtMs: nowMs
    }
  })

/** Writes a file atomically: a temp file, then a rename over the old one. */
export const writeAtomic = (state: State, name: string, data: Uint8Array): Effect.Effect<void, PlatformError> =>
  Effect.zipRight(state.fs.writeFile(path(state, `${name}.tmp`), data), state.fs.rename(path(state, `${name}.tmp`), path(state, name)))

const encoder = new TextEncoder()

/** Persists the epoch cache and the log start offset. */
export const checkpoint = (state: State): Effect.Effect<void, PlatformError> =>
  Effect.zipRight(
    writeAtomic(state, EPOCH_CHECKPOINT, encoder.encode(LeaderEpochCache.serialize(state.epochs))),
    writeAtomic(state, START_CHECKPOINT, encoder.encode(`${state.logStartOffset}\n`))
  )

/** Writes a rolled segment's index files. */
export const writeIndexes = (state: State, segment: Segment.Segment): Effect.Effect<void, PlatformError> => {
  const { index, timeIndex } = Segment.encodeIndexes(segment)
  return Effect.zipRight(
    state.fs.writeFile(path(state, Segment.fileName(segment.baseOffset, ".index")), index),
    state.fs.writeFile(path(state, Segment.fileName(segment.baseOffset, ".timeindex")), timeIndex)
  )
}

/** Removes a segment's index files (they are rebuilt or rewritten later). */
export const removeIndexes = (state: State, baseOffset: number): Effect.Effect<void, PlatformError> =>
  Effect.zipRight(
    state.fs.remove(path(state, Segment.fileName(baseOffset, ".index")), { force: true }),
    state.fs.remove(path(state, Segment.fileName(baseOffset, ".timeindex")), { force: true })
  )

/** Closes and deletes a segment's files. */
export const deleteSegment = (state: State, segment: Segment.Segment): Effect.Effect<void, PlatformError> =>
  Effect.gen(function*() {
    yield* Segment.close(segment)
    yield* state.fs.remove(path(state, Segment.fileName(segment.baseOffset, ".log")), { force: true })
    yield* removeIndexes(state, segment.baseOffset)
  })

/** Seals the active segment (sync + index files) and starts a new one at the log end. */
export const roll = (state: State, nowMs: number): Effect.Effect<void, PlatformError> =>
  Effect.gen(function*() {
    const old = active(state)
    yield* old.file.sync
    yield* writeIndexes(state, old)
    state.segments.push(yield* openSegment(state, state.logEndOffset, nowMs))
  })

/** Replaces every segment with one empty segment at `offset` (truncate or delete everything). */
export const resetTo = (state: State, offset: number, nowMs: number): Effect.Effect<void, PlatformError> =>
  Effect.gen(function*() {
    const fresh = state.segments.some((s) => s.baseOffset === offset) ? undefined : yield* openSegment(state, offset, nowMs)
    for (const s of state.segments) {
      if (s.baseOffset === offset) {
        yield* s.file.truncate(0)
        yield* removeIndexes(state, offset)
        Segment.resetIndexes(s)
        s.createdAtMs = nowMs
      } else yield* deleteSegment(state, s)
    }
    state.segments = fresh === undefined ? state.segments.filter((s) => s.baseOffset === offset) : [fresh]
    state.logEndOffset = offset
  })
