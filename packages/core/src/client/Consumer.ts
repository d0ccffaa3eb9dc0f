/**
 * A consumer without a group: `assign` partitions, `seek` them (an offset, "earliest",
 * "latest" or a timestamp, via ListOffsets to the leader), then `poll` or `stream` records.
 * Each poll sends one Fetch per assigned partition to its leader, in parallel, as a long poll
 * (`maxWaitMs` / `minBytes`); it returns as soon as one partition has records. Batches are
 * validated (CRC) when they arrive and decoded once, a batch at a time as polls take their records
 * (at most `maxPollRecords` per poll); records below the position (a fetch starts at a batch
 * boundary) are skipped.
 *
 * @since 0.1.0
 */
import { Chunk, Clock, Deferred, Effect, Either, FiberId, Stream } from "effect"
import type { Schema, Scope } from "effect"
import type { DeliveryError } from "../actor/ActorError.js"
import type * as ClusterErrors from "../cluster/Errors.js"
import type { TopicPartition } from "../cluster/Metadata.js"
import { tpKey } from "../cluster/Metadata.js"
import * as ReplicaProtocol from "../cluster/ReplicaProtocol.js"
import type { CorruptRecord } from "../log/LogError.js"
import type * as Record from "../log/Record.js"
import * as RecordBatch from "../log/RecordBatch.js"
import * as ClientError from "./ClientError.js"
import * as Leader from "./internal/leader.js"
import * as Retry from "./internal/retry.js"
import * as MetadataCache from "./MetadataCache.js"

/** A record as the consumer returns it. */
export interface ConsumerRecord extends Record.RecordWithOffset {
  readonly topic: string
  readonly partition: number
  /** The leader epoch its batch was written in (-1 unknown): what a commit carries (KIP-320). */
  readonly leaderEpoch: number
}

/** Where to start when there is no valid position: the log start, the end, or fail. */
export type OffsetReset = "earliest" | "latest" | "none"

/**
 * A `seek` target: an offset, a spec resolved by ListOffsets, or an offset with the leader epoch
 * it was read in (a committed offset, KIP-320): the consumer then fetches only from a leader at
 * that epoch or later, so stale metadata cannot send it to a deposed leader whose log is shorter.
 */
export type SeekTarget = number | ReplicaProtocol.OffsetSpec | { readonly offset: number; readonly leaderEpoch: number }

/** Why a consumer call failed. */
export type ConsumerError =
  | ClientError.NoOffsetForPartition
  | ClientError.NotAssigned
  | ClientError.RetriesExhausted
  | ClientError.BrokerNotAvailable
  | ClusterErrors.OffsetOutOfRange
  | CorruptRecord
  | Schema.WithResult.Failure<ReplicaProtocol.ListOffsets>
  | DeliveryError

/** Options of a consumer (plus the metadata options: `node`, `bootstrap`, timeouts, retries). */
export interface Options extends MetadataCache.Options {
  /** What to do without a valid position (default "latest", as Kafka). */
  readonly autoOffsetReset?: OffsetReset
  /** Bytes per partition per fetch (default 1 MiB; the first batch always comes whole). */
  readonly maxBytes?: number
  /** A fetch waits for this many bytes... (default 1) */
  readonly minBytes?: number
  /** ...or this long (default 500). */
  readonly maxWaitMs?: number
  /**
   * At most this many records per `poll` (default 500, Kafka's `max.poll.records`). A fetch's
   * batches are kept as they came and decoded a batch at a time as polls take them, so a large
   * fetch never becomes one large array of record objects.
   */
  readonly maxPollRecords?: number
}

/** Position, high watermark (from the last fetch) and their difference for one partition. */
export interface PartitionLag extends TopicPartition {
  readonly position: number | undefined
  readonly highWatermark: number | undefined
  readonly lag: number | undefined
}

/** A consumer. Not meant for concurrent polls (as Kafka's); `seek` during a poll wins over it. */
export interface Consumer {
  /** Replaces the assignment; partitions kept keep their positions. */
  readonly assign: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly assignment: Effect.Effect<ReadonlyArray<TopicPartition>>
  readonly seek: (tp: TopicPartition, target: SeekTarget) => Effect.Effect<void, ConsumerError>
  /** The next offset to read, resolved by `autoOffsetReset` if not set yet. */
  readonly position: (tp: TopicPartition) => Effect.Effect<number, ConsumerError>
  /** Records from the assigned, unpaused partitions; waits up to `maxWaitMs` when there are none. */
  readonly poll: (options?: { readonly maxWaitMs?: number }) => Effect.Effect<ReadonlyArray<ConsumerRecord>, ConsumerError>
  /** Polls forever. */
  readonly stream: Stream.Stream<ConsumerRecord, ConsumerError>
  readonly lag: Effect.Effect<ReadonlyArray<PartitionLag>>
  readonly pause: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly resume: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly metadata: MetadataCache.MetadataCache
}

/** The defaults of {@link Options}. */
export const defaults = { autoOffsetReset: "latest", maxBytes: 1_048_576, minBytes: 1, maxWaitMs: 500, maxPollRecords: 500 } as const

/**
 * The records of fetched batches at or after `fetchOffset`, and the next position. Validates
 * each batch (CRC) and decodes it once. Pure.
 */
export const recordsFromBatches = (
  tp: TopicPartition,
  fetchOffset: number,
  batches: ReadonlyArray<Uint8Array>
): Either.Either<{ readonly records: Array<ConsumerRecord>; readonly nextOffset: number }, CorruptRecord> =>
  Either.flatMap(checkFetched(fetchOffset, batches), (fetched) => {
    const records: Array<ConsumerRecord> = []
    for (let i = 0; i < fetched.batches.length; i++) {
      const decoded = decodeBatch(tp, fetchOffset, fetched.batches[i]!, records)
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
    }
    return Either.right({ records, nextOffset: fetched.nextOffset })
  })

/** Fetched batches, checked, that hold records at or after the fetch offset. */
export interface Fetched {
  readonly batches: ReadonlyArray<Uint8Array>
  /** The position after the last of them (the fetch offset when there are none). */
  readonly nextOffset: number
}

/**
 * Validates each fetched batch (header and CRC), as Kafka's consumer does with `check.crcs`,
 * and keeps those with records at or after `fetchOffset` (a fetch starts at a batch boundary).
 * The CRC of a batch this process already checked (handed over in process from a leader's
 * memory log, see `RecordBatch.validateOnce`) is not computed again. No record is decoded.
 */
export const checkFetched = (fetchOffset: number, batches: ReadonlyArray<Uint8Array>): Either.Either<Fetched, CorruptRecord> => {
  const kept: Array<Uint8Array> = []
  let nextOffset = fetchOffset
  for (const batch of batches) {
    const checked = RecordBatch.validateOnce(batch)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    if (checked.right.lastOffset < nextOffset) continue
    kept.push(batch)
    nextOffset = checked.right.lastOffset + 1
  }
  return Either.right({ batches: kept, nextOffset })
}

/** Decodes the records of a checked batch at or after `fromOffset` onto `into`. */
const decodeBatch = (
  tp: TopicPartition,
  fromOffset: number,
  batch: Uint8Array,
  into: Array<ConsumerRecord>
): Either.Either<Array<ConsumerRecord>, CorruptRecord> => {
  const { partition, topic } = tp
  // The batch's partition leader epoch (bytes 12-15, big-endian): what a commit of its records carries.
  const leaderEpoch = (batch[12]! << 24) | (batch[13]! << 16) | (batch[14]! << 8) | batch[15]!
  return RecordBatch.decodeRecordsWith(batch, fromOffset, (offset, timestamp, key, value, headers) => ({
    topic,
    partition,
    offset,
    timestamp,
    key,
    value,
    headers,
    leaderEpoch
  }), into)
}

/**
 * A partition's fetched batches that polls have not taken all of yet: decoded one batch at a
 * time (`records` from `at` on are the current batch's records not returned yet).
 */
interface Buffered {
  /** The assignment version the fetch was made at (a seek since drops the buffer). */
  readonly version: number
  readonly fetchOffset: number
  readonly fetched: Fetched
  /** The next batch to decode. */
  index: number
  records: Array<ConsumerRecord>
  at: number
}

/**
 * Takes up to `max` records of `b` onto `out`, decoding batches as it needs them, and moves the
 * position past what it took (past the whole fetch once every batch is taken). Returns whether
 * the buffer is used up, or the error of a batch that would not decode.
 */
const takeFrom = (
  a: Assigned,
  b: Buffered,
  out: Array<ConsumerRecord>,
  max: number
): Either.Either<boolean, CorruptRecord> => {
  while (out.length < max) {
    if (b.at < b.records.length) {
      const end = Math.min(b.records.length, b.at + max - out.length)
      for (let i = b.at; i < end; i++) out.push(b.records[i]!)
      b.at = end
      a.position = b.records[end - 1]!.offset + 1
      continue
    }
    if (b.index >= b.fetched.batches.length) break
    const decoded = decodeBatch(a.tp, b.fetchOffset, b.fetched.batches[b.index++]!, [])
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    b.records = decoded.right
    b.at = 0
  }
  const usedUp = b.at >= b.records.length && b.index >= b.fetched.batches.length
  if (usedUp) a.position = b.fetched.nextOffset
  return Either.right(usedUp)
}

interface Assigned {
  readonly tp: TopicPartition
  position: number | undefined
  highWatermark: number | undefined
  paused: boolean
  /** Bumped by every seek, so a fetch that started before it does not move the position. */
  version: number
  /** Fetch only from a leader at this epoch or later (set by a seek to a committed offset). */
  minLeaderEpoch: number
  /** The version a fetch in flight was started at (at most one per version). */
  fetching: number | undefined
  /** Batches a fetch brought that polls have not taken all of yet. */
  buffered: Buffered | undefined
}

/** Starts a consumer. */
export const make = (options: Options): Effect.Effect<Consumer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cache = yield* MetadataCache.make(options)
    const reset = options.autoOffsetReset ?? defaults.autoOffsetReset
    const maxBytes = options.maxBytes ?? defaults.maxBytes
    const minBytes = options.minBytes ?? defaults.minBytes
    const defaultWaitMs = options.maxWaitMs ?? defaults.maxWaitMs
    const maxPollRecords = Math.max(1, Math.floor(options.maxPollRecords ?? defaults.maxPollRecords))
    const assigned = new Map<string, Assigned>()

    const get = (tp: TopicPartition) =>
      Effect.suspend(() => {
        const a = assigned.get(tpKey(tp))
        return a === undefined ? Effect.fail(new ClientError.NotAssigned(tp)) : Effect.succeed(a)
      })

    const listOffset = (tp: TopicPartition, spec: ReplicaProtocol.OffsetSpec) =>
      Leader.withRetries(cache, options.node, tp.topic, tp.partition, (ref) =>
        ref.ask(new ReplicaProtocol.ListOffsets({ topic: tp.topic, partition: tp.partition, spec }), {
          timeoutMs: cache.options.requestTimeoutMs
        }))

    const resolveOffset = (tp: TopicPartition, target: SeekTarget): Effect.Effect<number, ConsumerError> =>
      typeof target === "number"
        ? Effect.succeed(target)
        : typeof target === "object" && "offset" in target
        ? Effect.succeed(target.offset)
        : Effect.flatMap(listOffset(tp, target), (r) =>
          r.offset >= 0 ? Effect.succeed(r.offset) : Effect.map(listOffset(tp, "latest"), (l) => l.offset))

    const seek = (tp: TopicPartition, target: SeekTarget) =>
      Effect.flatMap(get(tp), (a) =>
        Effect.flatMap(resolveOffset(tp, target), (offset) =>
          Effect.sync(() => {
            a.position = offset
            a.minLeaderEpoch = typeof target === "object" && "leaderEpoch" in target ? target.leaderEpoch : -1
            a.version++
          })))

    const resetPosition = (a: Assigned): Effect.Effect<number, ConsumerError> => {
      if (reset === "none") return Effect.fail(new ClientError.NoOffsetForPartition(a.tp))
      const version = a.version
      return Effect.map(resolveOffset(a.tp, reset), (offset) => {
        if (a.version === version) a.position = offset
        return a.position ?? offset
      })
    }

    const position = (tp: TopicPartition) =>
      Effect.flatMap(get(tp), (a) => a.position !== undefined ? Effect.succeed(a.position) : resetPosition(a))

    /** Backs off after a retriable error (refreshing metadata first when it may be stale). */
    const backOff = (refresh: boolean) =>
      Effect.zipRight(refresh ? Effect.ignore(cache.refresh) : Effect.void, Effect.sleep(Retry.backoffMs(cache.options, 1)))

    /**
     * One partition's fetch from its position: the records and the position after them (none
     * after a retriable error and a backoff). It tells the leader the epoch it believes current,
     * so a deposed leader refuses it, and waits for metadata as new as a committed offset's epoch.
     */
    const fetchOne = (
      a: Assigned,
      maxWaitMs: number
    ): Effect.Effect<{ readonly fetchOffset: number; readonly fetched: Fetched }, ConsumerError> =>
      Effect.gen(function*() {
        const fetchOffset = a.position ?? (yield* resetPosition(a))
        const version = a.version
        const none = { fetchOffset, fetched: { batches: [], nextOffset: fetchOffset } }
        const leader = yield* Effect.either(cache.leader(a.tp.topic, a.tp.partition))
        if (Either.isRight(leader) && leader.right.leaderEpoch < a.minLeaderEpoch) {
          yield* backOff(true)
          return none
        }
        if (Either.isLeft(leader)) {
          yield* backOff(true)
          return none
        }
        const result = yield* Effect.either(Leader.replicaRef(
          options.node,
          leader.right.nodeId,
          a.tp.topic,
          a.tp.partition
        ).ask(
          new ReplicaProtocol.Fetch({
            topic: a.tp.topic,
            partition: a.tp.partition,
            fetchOffset,
            maxBytes,
            maxWaitMs,
            minBytes,
            replicaId: ReplicaProtocol.consumerReplicaId,
            ...(leader.right.leaderEpoch >= 0 ? { currentLeaderEpoch: leader.right.leaderEpoch } : {})
          }, true), // the consumer's own settings: no validation per fetch
          { timeoutMs: maxWaitMs + cache.options.requestTimeoutMs }
        ))
        if (Either.isLeft(result)) {
          const error = result.left
          if (error._tag === "OffsetOutOfRange") {
            if (reset === "none") return yield* Effect.fail(error)
            if (a.version === version) {
              a.position = undefined
              yield* resetPosition(a)
            }
            return none
          }
          if (error._tag === "MessageNotSerializable") return yield* Effect.fail(error)
          // Retriable (leader moved, not reachable, storage) or no broker at all: back off, try again.
          yield* backOff(ClientError.needsMetadataRefresh(error))
          return none
        }
        const checked = checkFetched(fetchOffset, result.right.batches)
        if (Either.isLeft(checked)) return yield* Effect.fail(checked.left)
        a.highWatermark = result.right.highWatermark
        return { fetchOffset, fetched: checked.right }
      })

    // Fetches run in the background, at most one per partition, as Kafka's fetcher does: a poll
    // returns what any of them brought and leaves the others in flight for the next poll (it
    // never abandons a long poll a broker is about to answer). A partition fetches again as soon
    // as a poll took its records, so the next batch travels while the caller handles this one.
    const scope = yield* Effect.scope
    let arrived = Deferred.unsafeMake<void>(FiberId.none)
    let failure: ConsumerError | undefined

    /** Starts a fetch of `a` unless one is in flight or records wait; the deferred completes with it. */
    const startFetch = (a: Assigned, maxWaitMs: number): Effect.Effect<Deferred.Deferred<void> | undefined> =>
      Effect.suspend(() => {
        if (a.fetching === a.version || a.buffered !== undefined || a.paused) return Effect.succeed(undefined)
        const version = a.version
        a.fetching = version
        const done = Deferred.unsafeMake<void>(FiberId.none)
        return fetchOne(a, maxWaitMs).pipe(
          Effect.matchEffect({
            onFailure: (error) => Effect.sync(() => void (failure ??= error)),
            // Dropped when a seek came in meanwhile.
            onSuccess: (got) =>
              Effect.sync(() => {
                if (got.fetched.batches.length > 0 && a.version === version) {
                  a.buffered = { version, fetchOffset: got.fetchOffset, fetched: got.fetched, index: 0, records: [], at: 0 }
                }
              })
          }),
          Effect.ensuring(Effect.sync(() => {
            if (a.fetching === version) a.fetching = undefined
            Deferred.unsafeDone(done, Effect.void)
            Deferred.unsafeDone(arrived, Effect.void)
          })),
          Effect.forkIn(scope),
          Effect.as(done)
        )
      })

    /** Where the next `takeBuffered` starts, so that no partition's records always come first. */
    let firstPartition = 0

    /**
     * Takes up to `maxPollRecords` buffered records of unpaused, still-assigned partitions, moving
     * their positions; a batch that fails to decode becomes the next poll's failure.
     */
    const takeBuffered = (): Array<ConsumerRecord> => {
      const out: Array<ConsumerRecord> = []
      const all = [...assigned.values()]
      const n = all.length
      if (n === 0) return out
      const start = firstPartition++ % n
      for (let k = 0; k < n && out.length < maxPollRecords; k++) {
        const a = all[(start + k) % n]!
        const b = a.buffered
        if (b === undefined || a.paused) continue
        if (b.version !== a.version) {
          a.buffered = undefined
          continue
        }
        const taken = takeFrom(a, b, out, maxPollRecords)
        if (Either.isLeft(taken)) failure ??= taken.left
        if (Either.isLeft(taken) || taken.right) a.buffered = undefined
      }
      return out
    }

    /**
     * Returns buffered records at once; otherwise starts fetches and waits for records up to
     * `maxWaitMs`. When the time is up it still waits for the fetches it started itself (each
     * asked the broker to wait no longer than the time left), so `poll({ maxWaitMs: 0 })` is one
     * round trip that returns what the brokers have.
     */
    const poll = (pollOptions?: { readonly maxWaitMs?: number }) =>
      Effect.gen(function*() {
        const maxWaitMs = pollOptions?.maxWaitMs ?? defaultWaitMs
        const deadline = (yield* Clock.currentTimeMillis) + maxWaitMs
        const mine: Array<Deferred.Deferred<void>> = []
        for (let round = 0;; round++) {
          if (failure !== undefined) {
            const error = failure
            failure = undefined
            return yield* Effect.fail(error)
          }
          if (yield* Deferred.isDone(arrived)) arrived = Deferred.unsafeMake(FiberId.none)
          const out = takeBuffered()
          const leftMs = deadline - (yield* Clock.currentTimeMillis)
          if (out.length > 0 || leftMs > 0 || round === 0) {
            for (const a of assigned.values()) {
              const started = yield* startFetch(a, Math.max(0, out.length > 0 ? maxWaitMs : leftMs))
              if (started !== undefined) mine.push(started)
            }
          }
          if (out.length > 0) return out
          if (leftMs > 0) {
            yield* Effect.raceFirst(Deferred.await(arrived), Effect.sleep(leftMs))
            continue
          }
          let pending = false
          for (const d of mine) if (!(yield* Deferred.isDone(d))) pending = true
          if (pending) yield* Deferred.await(arrived)
          else if (failure === undefined) return takeBuffered()
        }
      })

    const consumer: Consumer = {
      assign: (partitions) =>
        Effect.sync(() => {
          const keep = new Map(assigned)
          assigned.clear()
          for (const tp of partitions) {
            const key = tpKey(tp)
            assigned.set(key, keep.get(key) ?? {
              tp,
              position: undefined,
              highWatermark: undefined,
              paused: false,
              version: 0,
              minLeaderEpoch: -1,
              fetching: undefined,
              buffered: undefined
            })
          }
        }),
      assignment: Effect.sync(() => [...assigned.values()].map((a) => a.tp)),
      seek,
      position,
      poll,
      stream: Stream.repeatEffectChunk(Effect.map(poll(), Chunk.unsafeFromArray)),
      lag: Effect.sync(() =>
        [...assigned.values()].map((a) => ({
          topic: a.tp.topic,
          partition: a.tp.partition,
          position: a.position,
          highWatermark: a.highWatermark,
          lag: a.position === undefined || a.highWatermark === undefined
            ? undefined
            : Math.max(0, a.highWatermark - a.position)
        }))
      ),
      pause: (partitions) => Effect.sync(() => setPaused(assigned, partitions, true)),
      resume: (partitions) => Effect.sync(() => setPaused(assigned, partitions, false)),
      metadata: cache
    }
    return consumer
  })

const setPaused = (assigned: Map<string, Assigned>, partitions: ReadonlyArray<TopicPartition>, paused: boolean) => {
  for (const tp of partitions) {
    const a = assigned.get(tpKey(tp))
    if (a !== undefined) a.paused = paused
  }
}
