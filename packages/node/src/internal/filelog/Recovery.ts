/**
 * Opening a FileLog: list segments, load or rebuild indexes, and recover the last segment by
 * scanning it batch by batch (CRC, length, offset order), truncating a torn or corrupt tail.
 * @internal
 */
import type { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { LeaderEpochCache, RecordBatch } from "@fiberlog/core"
import { Clock, Effect, Option } from "effect"
import * as Segment from "./Segment.js"
import * as State from "./State.js"

const readOptional = (fs: FileSystem.FileSystem, file: string): Effect.Effect<Option.Option<Uint8Array>, PlatformError> =>
  Effect.flatMap(fs.exists(file), (exists) => (exists ? Effect.map(fs.readFile(file), Option.some) : Effect.succeedNone))

/** Rebuilds a segment's indexes by scanning its file; returns where the valid batches end. */
export const rebuild = (
  segment: Segment.Segment,
  strict: boolean,
  indexIntervalBytes: number
): Effect.Effect<number, PlatformError> =>
  Effect.gen(function*() {
    const end = segment.size
    Segment.resetIndexes(segment)
    const validEnd = yield* Segment.scan(
      segment.file,
      0,
      end,
      { strict, firstOffset: segment.baseOffset },
      (batch, position) => Segment.track(segment, batch, position, indexIntervalBytes)
    )
    segment.size = validEnd
    return validEnd
  })

/** Opens the log in `state.options.dir`, recovering it; returns the ready state. */
export const open = (state: State.State): Effect.Effect<void, PlatformError> =>
  Effect.gen(function*() {
    const { fs, options } = state
    const now = yield* Clock.currentTimeMillis
    yield* fs.makeDirectory(options.dir, { recursive: true })
    const names = yield* fs.readDirectory(options.dir)
    for (const name of names) {
      if (name.endsWith(".cleaned") || name.endsWith(".tmp")) yield* fs.remove(State.path(state, name), { force: true })
    }
    const bases = names.flatMap((n) => {
      const b = Segment.parseLogName(n)
      return b === undefined ? [] : [b]
    }).sort((a, b) => a - b)
    for (let i = 0; i < bases.length; i++) {
      const segment = yield* State.openSegment(state, bases[i]!, now)
      state.segments.push(segment)
      const last = i === bases.length - 1
      if (last) {
        // The active segment's indexes live in memory: always rebuilt, and the tail recovered.
        const fileSize = segment.size
        const validEnd = yield* rebuild(segment, true, options.indexIntervalBytes)
        if (validEnd < fileSize) {
          yield* segment.file.truncate(validEnd)
          yield* segment.file.sync
        }
        yield* State.removeIndexes(state, segment.baseOffset)
      } else {
        const index = yield* readOptional(fs, State.path(state, Segment.fileName(segment.baseOffset, ".index")))
        const time = yield* readOptional(fs, State.path(state, Segment.fileName(segment.baseOffset, ".timeindex")))
        const loaded = Option.isSome(index) && Option.isSome(time) && Segment.decodeIndexes(segment, index.value, time.value)
        if (loaded) {
          // Only the tail past the last index entry is read, to learn the segment's last offset.
          const from = segment.offsetIndex[segment.offsetIndex.length - 1]!.position
          yield* Segment.scan(segment.file, from, segment.size, { strict: false, firstOffset: -1 }, (batch) => {
            segment.lastOffset = RecordBatch.lastOffset(batch)
          })
        } else {
          yield* rebuild(segment, false, options.indexIntervalBytes)
          yield* State.writeIndexes(state, segment)
        }
      }
    }
    if (state.segments.length === 0) state.segments.push(yield* State.openSegment(state, options.initialOffset, now))
    const last = State.active(state)
    state.logEndOffset = last.lastOffset + 1
    const start = yield* readOptional(fs, State.path(state, State.START_CHECKPOINT))
    const epochs = yield* readOptional(fs, State.path(state, State.EPOCH_CHECKPOINT))
    const checkpointed = Option.match(start, { onNone: () => 0, onSome: (b) => Number(new TextDecoder().decode(b).trim()) || 0 })
    state.logStartOffset = Math.min(Math.max(checkpointed, state.segments[0]!.baseOffset), state.logEndOffset)
    state.epochs = LeaderEpochCache.truncateFromStart(
      LeaderEpochCache.truncateFromEnd(
        Option.match(epochs, { onNone: () => LeaderEpochCache.empty, onSome: (b) => LeaderEpochCache.parse(new TextDecoder().decode(b)) }),
        // Epochs starting past the end lost their data; one assigned exactly at the end (no
        // records yet) was checkpointed by the leader and stays.
        state.logEndOffset + 1
      ),
      state.logStartOffset
    )
  })
