/**
 * The producer: picks partitions (explicit, murmur2 for keys, round-robin / sticky / custom
 * for the rest), batches per partition (`lingerMs`, `batchSize`, `maxInFlight`), and sends one
 * `RecordBatch` per partition per request to its leader, retrying retriable errors with backoff
 * and metadata refresh. Idempotent by default with `acks: "all"`: a producer id from the
 * cluster and per-partition sequences, so a retried batch is never written twice.
 *
 * The hot path runs no fiber or Effect per record and keeps no object per record: `send`
 * partitions its messages in a plain loop, hands one entry per partition to the partition's
 * sender, which encodes the records at once into its open batch, and awaits one Deferred per
 * partition.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, FiberId, Random } from "effect"
import type { Scope } from "effect"
import * as ControllerProtocol from "../cluster/ControllerProtocol.js"
import * as ClusterErrors from "../cluster/Errors.js"
import { tpKey } from "../cluster/Metadata.js"
import type * as ReplicaProtocol from "../cluster/ReplicaProtocol.js"
import type * as BatchBuilder from "../log/BatchBuilder.js"
import type * as Record from "../log/Record.js"
import * as RecordBatch from "../log/RecordBatch.js"
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

/** Batch working buffers a producer keeps for reuse (about `batchSize` each). */
const maxPooledBuffers = 8

/** Largest `maxInFlight` with idempotence (the leader remembers 5 batches per producer). */
export const maxInFlightIdempotent = 5

const utf8 = new TextEncoder()
const toBytes = (b: Bytes | null | undefined): Uint8Array | null =>
  b === null || b === undefined ? null : typeof b === "string" ? utf8.encode(b) : b

/**
 * The fields of a `send`'s messages that had to be converted to bytes (strings, headers given as
 * an object), by message index; made only when a send has such a message.
 */
class Converted {
  readonly keys: Array<Uint8Array | undefined>
  readonly values: Array<Uint8Array | undefined>
  readonly headers: Array<ReadonlyArray<Record.Header> | undefined>
  constructor(n: number) {
    this.keys = new Array(n)
    this.values = new Array(n)
    this.headers = new Array(n)
  }
}

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
    const buffers = new Sender.BufferPool(maxPooledBuffers, 2 * (settings.batchSize + RecordBatch.HEADER_BYTES))
    const creating = yield* Effect.makeSemaphore(1)
    let partitionerState = Partitioner.initial
    const stickySent = new Map<string, number>()
    /** Keyless round-robin counters by topic (a cell per topic: looked up once per send, not per record). */
    const roundRobin = new Map<string, { next: number }>()

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
            newIdentity,
            buffers
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
      randomInt: number,
      counter: { next: number }
    ): number => {
      const strategy = settings.strategy
      if (message.partition !== undefined) return message.partition
      if (strategy._tag === "Default" && key === null && strategy.keyless === "round-robin") {
        // Partitioner.roundRobin without a Map copy per record.
        const n = counter.next
        counter.next = (n + 1) | 0
        return Partitioner.toPositive(n) % numPartitions
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

    /** Retries a topic missing from metadata (just created, not known to every broker yet). Built once. */
    const topicRetry = {
      schedule: Retry.schedule(limits),
      while: (e: { readonly _tag: string }) => e._tag === "UnknownTopicOrPartition"
    }

    const send = (request: SendRequest): Effect.Effect<ReadonlyArray<RecordMetadata>, ProducerError> =>
      Effect.gen(function*() {
        const { messages, topic } = request
        const n = messages.length
        if (n === 0) return []
        const info = yield* Effect.retry(cache.topic(topic), topicRetry)
        const numPartitions = info.partitions.length
        const now = yield* Clock.currentTimeMillis
        const sticky = settings.strategy._tag === "Default" && settings.strategy.keyless === "sticky"
        const randomInt = sticky ? yield* Random.nextInt : 0
        if (sticky) advanceSticky(topic, numPartitions, randomInt)
        // One pass: partition, convert what is not bytes yet (kept aside, so nothing is converted
        // twice), estimate sizes. Per partition: a count and a size (arrays by partition number),
        // no object per record.
        let counter = roundRobin.get(topic)
        if (counter === undefined) roundRobin.set(topic, counter = { next: 0 })
        const partitionOf = new Int32Array(n)
        const indexIn = new Int32Array(n)
        const counts = new Int32Array(numPartitions)
        const estimates = new Float64Array(numPartitions)
        const seen: Array<number> = []
        let converted: Converted | undefined
        for (let i = 0; i < n; i++) {
          const m = messages[i]!
          let key: Uint8Array | null = null
          if (m.key !== undefined && m.key !== null) {
            key = typeof m.key === "string" ? ((converted ??= new Converted(n)).keys[i] = utf8.encode(m.key)) : m.key
          }
          const partition = choose(topic, m, key, numPartitions, randomInt, counter)
          if (!Number.isInteger(partition) || partition < 0 || partition >= numPartitions) {
            return yield* Effect.fail(new ClusterErrors.UnknownTopicOrPartition({ topic, partition }))
          }
          const value = typeof m.value === "string"
            ? ((converted ??= new Converted(n)).values[i] = utf8.encode(m.value))
            : m.value ?? null
          const headers = m.headers === undefined || Array.isArray(m.headers)
            ? (m.headers as ReadonlyArray<Record.Header> | undefined) ?? noHeaders
            : ((converted ??= new Converted(n)).headers[i] = toHeaders(m.headers))
          if (counts[partition] === 0) seen.push(partition)
          partitionOf[i] = partition
          indexIn[i] = counts[partition]!++
          estimates[partition] += Sender.estimateBytes(key, value, headers)
        }
        // The records of each partition in send order: all of them, or a counting sort by partition.
        let order: Int32Array | undefined
        const starts = new Int32Array(numPartitions)
        if (seen.length > 1) {
          order = new Int32Array(n)
          let at = 0
          for (const partition of seen) {
            starts[partition] = at
            at += counts[partition]!
          }
          for (let i = 0; i < n; i++) order[starts[partitionOf[i]!]! + indexIn[i]!] = i
        }
        const write = (partition: number) => (builder: BatchBuilder.Builder) => {
          const start = starts[partition]!
          const end = start + counts[partition]!
          for (let k = start; k < end; k++) {
            const i = order === undefined ? k : order[k]!
            const m = messages[i]!
            builder.append(
              converted?.keys[i] ?? (m.key as Uint8Array | null | undefined) ?? null,
              converted?.values[i] ?? (m.value as Uint8Array | null | undefined) ?? null,
              converted?.headers[i] ?? (m.headers as ReadonlyArray<Record.Header> | undefined) ?? noHeaders,
              m.timestamp ?? now
            )
          }
        }
        const deferreds = new Array<Deferred.Deferred<number, Sender.SendError>>(seen.length)
        for (let k = 0; k < seen.length; k++) {
          const partition = seen[k]!
          const sender = yield* senderFor(topic, partition)
          const deferred = Deferred.unsafeMake<number, Sender.SendError>(FiberId.none)
          deferreds[k] = deferred
          yield* sender.offer({ count: counts[partition]!, bytes: estimates[partition]!, write: write(partition), deferred })
        }
        // A plain array: small offsets stay small integers, so the sums below need no boxing.
        const firstOffsets = new Array<number>(numPartitions)
        for (let k = 0; k < seen.length; k++) firstOffsets[seen[k]!] = yield* Deferred.await(deferreds[k]!)
        const out = new Array<RecordMetadata>(n)
        for (let i = 0; i < n; i++) {
          const partition = partitionOf[i]!
          const base = firstOffsets[partition]!
          out[i] = { topic, partition, offset: base < 0 ? -1 : base + indexIn[i]!, timestamp: messages[i]!.timestamp ?? now }
        }
        return out
      })

    return { send, identity, metadata: cache } satisfies Producer
  })
