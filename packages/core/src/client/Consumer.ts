/**
 * A consumer without a group: `assign` partitions, `seek` them (an offset, "earliest",
 * "latest" or a timestamp, via ListOffsets to the leader), then `poll` or `stream` records.
 * Each poll sends one Fetch per assigned partition to its leader, in parallel, as a long poll
 * (`maxWaitMs` / `minBytes`); it returns as soon as one partition has records. Batches are
 * validated and decoded once; records below the position (a fetch starts at a batch boundary)
 * are skipped.
 *
 * @since 0.1.0
 */
import { Chunk, Deferred, Effect, Either, Stream } from "effect"
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
}

/** Where to start when there is no valid position: the log start, the end, or fail. */
export type OffsetReset = "earliest" | "latest" | "none"

/** A `seek` target. */
export type SeekTarget = number | ReplicaProtocol.OffsetSpec

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
export const defaults = { autoOffsetReset: "latest", maxBytes: 1_048_576, minBytes: 1, maxWaitMs: 500 } as const

/**
 * The records of fetched batches at or after `fetchOffset`, and the next position. Validates
 * each batch (CRC) and decodes it once. Pure.
 */
export const recordsFromBatches = (
  tp: TopicPartition,
  fetchOffset: number,
  batches: ReadonlyArray<Uint8Array>
): Either.Either<{ readonly records: Array<ConsumerRecord>; readonly nextOffset: number }, CorruptRecord> => {
  const records: Array<ConsumerRecord> = []
  let nextOffset = fetchOffset
  const { partition, topic } = tp
  const build: RecordBatch.Build<ConsumerRecord> = (offset, timestamp, key, value, headers) => ({
    topic,
    partition,
    offset,
    timestamp,
    key,
    value,
    headers
  })
  for (const batch of batches) {
    const checked = RecordBatch.validate(batch)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    if (checked.right.lastOffset < nextOffset) continue
    const decoded = RecordBatch.decodeRecordsWith(batch, fetchOffset, build, records)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    nextOffset = checked.right.lastOffset + 1
  }
  return Either.right({ records, nextOffset })
}

interface Assigned {
  readonly tp: TopicPartition
  position: number | undefined
  highWatermark: number | undefined
  paused: boolean
  /** Bumped by every seek, so a poll that started before it does not move the position. */
  version: number
}

/** Starts a consumer. */
export const make = (options: Options): Effect.Effect<Consumer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cache = yield* MetadataCache.make(options)
    const reset = options.autoOffsetReset ?? defaults.autoOffsetReset
    const maxBytes = options.maxBytes ?? defaults.maxBytes
    const minBytes = options.minBytes ?? defaults.minBytes
    const defaultWaitMs = options.maxWaitMs ?? defaults.maxWaitMs
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
        : Effect.flatMap(listOffset(tp, target), (r) =>
          r.offset >= 0 ? Effect.succeed(r.offset) : Effect.map(listOffset(tp, "latest"), (l) => l.offset))

    const seek = (tp: TopicPartition, target: SeekTarget) =>
      Effect.flatMap(get(tp), (a) =>
        Effect.flatMap(resolveOffset(tp, target), (offset) =>
          Effect.sync(() => {
            a.position = offset
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

    /** One partition's fetch: its records (applied to the position), or [] after a retriable error and a backoff. */
    const fetchOne = (a: Assigned, maxWaitMs: number): Effect.Effect<Array<ConsumerRecord>, ConsumerError> =>
      Effect.gen(function*() {
        const fetchOffset = a.position ?? (yield* resetPosition(a))
        const version = a.version
        const result = yield* cache.leader(a.tp.topic, a.tp.partition).pipe(
          Effect.flatMap((leader) =>
            Leader.replicaRef(options.node, leader.nodeId, a.tp.topic, a.tp.partition).ask(
              new ReplicaProtocol.Fetch({
                topic: a.tp.topic,
                partition: a.tp.partition,
                fetchOffset,
                maxBytes,
                maxWaitMs,
                minBytes,
                replicaId: ReplicaProtocol.consumerReplicaId
              }, true), // the consumer's own settings: no validation per fetch
              { timeoutMs: maxWaitMs + cache.options.requestTimeoutMs }
            )
          ),
          Effect.either
        )
        if (Either.isLeft(result)) {
          const error = result.left
          if (error._tag === "OffsetOutOfRange") {
            if (reset === "none") return yield* Effect.fail(error)
            if (a.version === version) {
              a.position = undefined
              yield* resetPosition(a)
            }
            return []
          }
          if (error._tag === "MessageNotSerializable") return yield* Effect.fail(error)
          // Retriable (leader moved, not reachable, storage) or no broker at all: back off, try next poll.
          if (ClientError.needsMetadataRefresh(error) || error._tag === "BrokerNotAvailable") {
            yield* Effect.ignore(cache.refresh)
          }
          yield* Effect.sleep(Retry.backoffMs(cache.options, 1))
          return []
        }
        const fetched = result.right
        const decoded = recordsFromBatches(a.tp, fetchOffset, fetched.batches)
        if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
        a.highWatermark = fetched.highWatermark
        if (a.version !== version || a.position !== fetchOffset) return [] // a seek won
        a.position = decoded.right.nextOffset
        return decoded.right.records
      })

    const poll = (pollOptions?: { readonly maxWaitMs?: number }) =>
      Effect.gen(function*() {
        const maxWaitMs = pollOptions?.maxWaitMs ?? defaultWaitMs
        const active = [...assigned.values()].filter((a) => !a.paused)
        if (active.length === 0) {
          yield* Effect.sleep(maxWaitMs)
          return []
        }
        const results = new Array<Array<ConsumerRecord> | undefined>(active.length)
        const gotRecords = yield* Deferred.make<void>()
        yield* Effect.raceFirst(
          Effect.forEach(active, (a, i) =>
            Effect.flatMap(fetchOne(a, maxWaitMs), (records) => {
              results[i] = records
              return records.length > 0 ? Deferred.succeed(gotRecords, undefined) : Effect.void
            }), { concurrency: "unbounded", discard: true }),
          Deferred.await(gotRecords)
        )
        return concat(results)
      })

    const consumer: Consumer = {
      assign: (partitions) =>
        Effect.sync(() => {
          const keep = new Map(assigned)
          assigned.clear()
          for (const tp of partitions) {
            const key = tpKey(tp)
            assigned.set(key, keep.get(key) ?? { tp, position: undefined, highWatermark: undefined, paused: false, version: 0 })
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

/** The records of every partition that brought some, in one array (no copy when only one did). */
const concat = (results: ReadonlyArray<Array<ConsumerRecord> | undefined>): Array<ConsumerRecord> => {
  let only: Array<ConsumerRecord> | undefined
  let total = 0
  let nonEmpty = 0
  for (const r of results) {
    if (r === undefined || r.length === 0) continue
    only = r
    total += r.length
    nonEmpty++
  }
  if (nonEmpty <= 1) return only ?? []
  const out = new Array<ConsumerRecord>(total)
  let at = 0
  for (const r of results) if (r !== undefined) for (let i = 0; i < r.length; i++) out[at++] = r[i]!
  return out
}

const setPaused = (assigned: Map<string, Assigned>, partitions: ReadonlyArray<TopicPartition>, paused: boolean) => {
  for (const tp of partitions) {
    const a = assigned.get(tpKey(tp))
    if (a !== undefined) a.paused = paused
  }
}
