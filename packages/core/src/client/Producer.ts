/**
 * The producer: picks partitions (explicit, murmur2 for keys, round-robin / sticky / custom
 * for the rest), batches per partition (`lingerMs`, `batchSize`, `maxInFlight`), and sends one
 * `RecordBatch` per partition per request to its leader, retrying retriable errors with backoff
 * and metadata refresh. Idempotent by default with `acks: "all"`: a producer id from the
 * cluster and per-partition sequences, so a retried batch is never written twice.
 *
 * The hot path runs no fiber or Effect per record: `send` partitions its records in a plain
 * loop, queues one entry per partition, and awaits one Deferred per partition.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, Random } from "effect"
import type { Scope } from "effect"
import * as ControllerProtocol from "../cluster/ControllerProtocol.js"
import * as ClusterErrors from "../cluster/Errors.js"
import { tpKey } from "../cluster/Metadata.js"
import type * as ReplicaProtocol from "../cluster/ReplicaProtocol.js"
import type * as Record from "../log/Record.js"
import * as Retry from "./internal/retry.js"
import * as Sender from "./internal/sender.js"
import * as MetadataCache from "./MetadataCache.js"
import * as Partitioner from "./Partitioner.js"

/** Bytes, or a string sent as UTF-8. */
export type Bytes = Uint8Array | string

/** One message of a `send`. */
export interface Message {
  readonly key?: Bytes | null | undefined
  readonly value: Bytes | null
  /** Headers as `{ name: value }` or as a list (names may repeat). */
  readonly headers?: { readonly [key: string]: Bytes | null } | ReadonlyArray<Record.Header> | undefined
  /** An explicit partition: used as is. */
  readonly partition?: number | undefined
  /** Create time in ms; defaults to Effect's Clock. */
  readonly timestamp?: number | undefined
}

/** A `send`: messages for one topic. */
export interface SendRequest {
  readonly topic: string
  readonly messages: ReadonlyArray<Message>
}

/** Where a message landed (offset -1 with `acks: 0`). */
export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
}

/** Why a send failed: a final broker error, retries exhausted, no broker, or the producer closed. */
export type ProducerError = Sender.SendError | ClusterErrors.UnknownTopicOrPartition

/** Options of a producer (plus the metadata options: `node`, `bootstrap`, timeouts, retries). */
export interface Options extends MetadataCache.Options {
  /** 0 fire and forget, 1 the leader, "all" every ISR member (default). */
  readonly acks?: 0 | 1 | "all"
  /** Producer id + sequences (default true when acks is "all"; requires acks "all"). */
  readonly idempotent?: boolean
  /** How long a partition's batch waits for more records while below `batchSize` (default 0). */
  readonly lingerMs?: number
  /** Target batch size in bytes (default 16 384, Kafka's `batch.size`); one send never splits. */
  readonly batchSize?: number
  /** Outstanding Produce requests per partition (default 5; at most 5 with idempotence). */
  readonly maxInFlight?: number
  /** Queued `send` calls per partition before `send` suspends (default 10 000). */
  readonly maxQueuedSends?: number
  /** Keyless placement: "round-robin" (default), "sticky", or a custom function for every record. */
  readonly partitioner?: "round-robin" | "sticky" | Partitioner.Custom
}

/** A producer. */
export interface Producer {
  /** Sends messages to one topic; answers in message order once every partition's batch is acknowledged. */
  readonly send: (request: SendRequest) => Effect.Effect<ReadonlyArray<RecordMetadata>, ProducerError>
  /** The idempotent identity, if any. */
  readonly identity: Sender.Identity | undefined
  /** The producer's metadata cache. */
  readonly metadata: MetadataCache.MetadataCache
}

/** The defaults of {@link Options}. */
export const defaults = {
  lingerMs: 0,
  batchSize: 16_384,
  maxInFlight: 5,
  maxQueuedSends: 10_000,
  retries: 10
} as const

/** Largest `maxInFlight` with idempotence (the leader remembers 5 batches per producer). */
export const maxInFlightIdempotent = 5

const utf8 = new TextEncoder()
const toBytes = (b: Bytes | null | undefined): Uint8Array | null =>
  b === null || b === undefined ? null : typeof b === "string" ? utf8.encode(b) : b

/** Shared by every record sent without headers (no array per record). */
const noHeaders: ReadonlyArray<Record.Header> = Object.freeze([])

const toHeaders = (headers: Message["headers"]): ReadonlyArray<Record.Header> => {
  if (headers === undefined) return noHeaders
  if (Array.isArray(headers)) return headers as ReadonlyArray<Record.Header>
  return Object.entries(headers).map(([key, value]) => ({ key, value: toBytes(value as Bytes | null) }))
}

/** Resolves the settings: acks as the wire value, idempotence, limits. Pure. */
export const resolve = (options: Options) => {
  const acks: ReplicaProtocol.Acks = options.acks === 0 ? 0 : options.acks === 1 ? 1 : -1
  const idempotent = options.idempotent ?? acks === -1
  const maxInFlight = Math.max(1, options.maxInFlight ?? defaults.maxInFlight)
  return {
    acks,
    idempotent: idempotent && acks === -1,
    lingerMs: Math.max(0, options.lingerMs ?? defaults.lingerMs),
    batchSize: Math.max(1, options.batchSize ?? defaults.batchSize),
    maxInFlight: idempotent ? Math.min(maxInFlightIdempotent, maxInFlight) : maxInFlight,
    maxQueuedSends: Math.max(1, options.maxQueuedSends ?? defaults.maxQueuedSends),
    strategy: (options.partitioner === undefined || options.partitioner === "round-robin"
      ? Partitioner.defaultStrategy
      : options.partitioner === "sticky"
      ? { _tag: "Default", keyless: "sticky" }
      : { _tag: "Custom", partition: options.partitioner }) satisfies Partitioner.Strategy as Partitioner.Strategy
  }
}

/** Starts a producer; its partition senders stop (failing queued sends) when the scope closes. */
export const make = (options: Options): Effect.Effect<Producer, ProducerError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = resolve(options)
    const cache = yield* MetadataCache.make({ ...options, retries: options.retries ?? defaults.retries })
    const limits = cache.options
    const scope = yield* Effect.scope
    const newIdentity = cache.askBroker(new ControllerProtocol.InitProducerId()).pipe(
      Effect.retry({ schedule: Retry.schedule(limits), while: (e) => e._tag === "ControllerNotAvailable" })
    )
    const identity = settings.idempotent ? yield* newIdentity : undefined
    const senders = new Map<string, Sender.Sender>()
    const creating = yield* Effect.makeSemaphore(1)
    let partitionerState = Partitioner.initial
    const stickySent = new Map<string, number>()
    const roundRobin = new Map<string, number>()

    const senderFor = (topic: string, partition: number): Effect.Effect<Sender.Sender> => {
      const key = tpKey({ topic, partition })
      const found = senders.get(key)
      if (found !== undefined) return Effect.succeed(found)
      return creating.withPermits(1)(Effect.suspend(() => {
        const again = senders.get(key)
        if (again !== undefined) return Effect.succeed(again)
        return Effect.tap(
          Sender.make({
            topic,
            partition,
            acks: settings.acks,
            lingerMs: settings.lingerMs,
            batchSize: settings.batchSize,
            maxInFlight: settings.maxInFlight,
            maxQueuedSends: settings.maxQueuedSends,
            requestTimeoutMs: limits.requestTimeoutMs,
            retry: limits,
            node: options.node,
            cache,
            identity,
            newIdentity
          }, scope),
          (sender) => Effect.sync(() => senders.set(key, sender))
        )
      }))
    }

    const choose = (
      topic: string,
      message: Message,
      key: Uint8Array | null,
      numPartitions: number,
      randomInt: number
    ): number => {
      const strategy = settings.strategy
      if (message.partition !== undefined) return message.partition
      if (strategy._tag === "Default" && key === null && strategy.keyless === "round-robin") {
        // Partitioner.roundRobin without a Map copy per record.
        const counter = roundRobin.get(topic) ?? 0
        roundRobin.set(topic, (counter + 1) | 0)
        return Partitioner.toPositive(counter) % numPartitions
      }
      const [partition, next] = Partitioner.choose(
        strategy,
        partitionerState,
        { topic, key: key ?? undefined, numPartitions },
        randomInt
      )
      partitionerState = next
      return partition
    }

    /** Sticky: move on once the current partition's sender has sent a batch since we chose it. */
    const advanceSticky = (topic: string, numPartitions: number, randomInt: number) => {
      const current = partitionerState.sticky.get(topic)
      if (current === undefined) return
      const sender = senders.get(tpKey({ topic, partition: current }))
      const sentWhenChosen = stickySent.get(topic) ?? 0
      if (sender !== undefined && sender.batchesSent() > sentWhenChosen) {
        partitionerState = Partitioner.onNewBatch(partitionerState, topic, numPartitions, current, randomInt)
        const next = partitionerState.sticky.get(topic)!
        stickySent.set(topic, senders.get(tpKey({ topic, partition: next }))?.batchesSent() ?? 0)
      }
    }

    const send = (request: SendRequest): Effect.Effect<ReadonlyArray<RecordMetadata>, ProducerError> =>
      Effect.gen(function*() {
        const { messages, topic } = request
        if (messages.length === 0) return []
        const info = yield* cache.topic(topic).pipe(
          Effect.retry({
            schedule: Retry.schedule(limits),
            while: (e) => e._tag === "UnknownTopicOrPartition"
          })
        )
        const numPartitions = info.partitions.length
        const now = yield* Clock.currentTimeMillis
        const sticky = settings.strategy._tag === "Default" && settings.strategy.keyless === "sticky"
        const randomInt = sticky ? yield* Random.nextInt : 0
        if (sticky) advanceSticky(topic, numPartitions, randomInt)
        const partitionOf = new Array<number>(messages.length)
        const indexIn = new Array<number>(messages.length)
        const timestamps = new Array<number>(messages.length)
        // Per partition (array by partition number, plus first-seen order, no Map per record).
        const entries = new Array<{ records: Array<Record.Record>; bytes: number } | undefined>(numPartitions)
        const seen: Array<number> = []
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i]!
          const key = toBytes(m.key)
          const partition = choose(topic, m, key, numPartitions, randomInt)
          if (!Number.isInteger(partition) || partition < 0 || partition >= numPartitions) {
            return yield* Effect.fail(new ClusterErrors.UnknownTopicOrPartition({ topic, partition }))
          }
          const record: Record.Record = {
            key,
            value: toBytes(m.value),
            headers: toHeaders(m.headers),
            timestamp: m.timestamp ?? now
          }
          let entry = entries[partition]
          if (entry === undefined) {
            entries[partition] = entry = { records: [], bytes: 0 }
            seen.push(partition)
          }
          partitionOf[i] = partition
          indexIn[i] = entry.records.length
          timestamps[i] = record.timestamp
          entry.records.push(record)
          entry.bytes += Sender.estimateBytes(record)
        }
        const firstOffsets = yield* Effect.forEach(seen, (partition) =>
          Effect.gen(function*() {
            const entry = entries[partition]!
            const sender = yield* senderFor(topic, partition)
            const deferred = yield* Deferred.make<number, Sender.SendError>()
            yield* sender.offer({ records: entry.records, bytes: entry.bytes, deferred })
            return [partition, deferred] as const
          })).pipe(
            Effect.flatMap((queued) =>
              Effect.forEach(queued, ([partition, deferred]) =>
                Effect.map(Deferred.await(deferred), (offset) => [partition, offset] as const))
            ),
            Effect.map((pairs) => new Map(pairs))
          )
        const out = new Array<RecordMetadata>(messages.length)
        for (let i = 0; i < messages.length; i++) {
          const partition = partitionOf[i]!
          const base = firstOffsets.get(partition)!
          out[i] = { topic, partition, offset: base < 0 ? -1 : base + indexIn[i]!, timestamp: timestamps[i]! }
        }
        return out
      })

    return { send, identity, metadata: cache } satisfies Producer
  })
