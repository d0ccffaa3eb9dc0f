/**
 * A client's view of the cluster: the last `ClusterMetadata` a broker gave it, where each
 * partition's leader lives, and a way to ask "any broker". Bootstrap brokers are tried in turn
 * (rotating on failure, then the brokers metadata names); a refresh is coalesced with any
 * refresh that started after it was asked for; entries older than `maxAgeMs` are refetched.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Either } from "effect"
import type { Schema } from "effect"
import type * as Actor from "../actor/Actor.js"
import type { AskTimeout, DeliveryError } from "../actor/ActorError.js"
import * as Address from "../actor/Address.js"
import * as ControllerProtocol from "../cluster/ControllerProtocol.js"
import { NotLeader, UnknownTopicOrPartition } from "../cluster/Errors.js"
import { NoLeader } from "../cluster/Metadata.js"
import * as NodeId from "../transport/NodeId.js"
import { BrokerNotAvailable } from "./ClientError.js"
import * as Retry from "./internal/retry.js"

/** Options of a metadata cache (and of every client, which builds one). */
export interface Options {
  /** The client's node (it sends the asks). */
  readonly node: Actor.NodeLike
  /** Broker node ids to ask first. At least one. */
  readonly bootstrap: ReadonlyArray<string>
  /** Refetch metadata older than this (Kafka `metadata.max.age.ms`, default 300 000). */
  readonly maxAgeMs?: number
  /** Timeout of each ask to a broker (default 5 000). */
  readonly requestTimeoutMs?: number
  /** Retries of a broker ask that got no answer (default 5). */
  readonly retries?: number
  /** First retry backoff (default 100); doubles up to `maxRetryBackoffMs` (default 1 000). */
  readonly retryBackoffMs?: number
  readonly maxRetryBackoffMs?: number
}

/** Where a partition's leader is. */
export interface Leader {
  readonly brokerId: number
  readonly nodeId: NodeId.NodeId
  readonly leaderEpoch: number
}

/** Requests any broker answers. */
export type BrokerRequest = Actor.Requests<ControllerProtocol.BrokerProtocol>

/** The cache. */
export interface MetadataCache {
  /** The cached metadata, fetched first if missing or older than `maxAgeMs`. */
  readonly current: Effect.Effect<ControllerProtocol.ClusterMetadata, BrokerNotAvailable>
  /** Fresh metadata: joins a fetch that started after this call, or starts one. */
  readonly refresh: Effect.Effect<ControllerProtocol.ClusterMetadata, BrokerNotAvailable>
  /** A topic from the cache; refreshes once if it is not there. */
  readonly topic: (
    name: string
  ) => Effect.Effect<ControllerProtocol.TopicInfo, UnknownTopicOrPartition | BrokerNotAvailable>
  /** The leader of a partition from the cache (`NotLeader` when it has none). */
  readonly leader: (
    topic: string,
    partition: number
  ) => Effect.Effect<Leader, NotLeader | UnknownTopicOrPartition | BrokerNotAvailable>
  /** Asks some broker, rotating through the brokers on delivery failures and timeouts. */
  readonly askBroker: <R extends BrokerRequest>(
    request: R
  ) => Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | BrokerNotAvailable>
  /** Shared limits, for the clients built on the cache. */
  readonly options: Required<Omit<Options, "node" | "bootstrap">>
}

/** The defaults of {@link Options}. */
export const defaults = {
  maxAgeMs: 300_000,
  requestTimeoutMs: 5_000,
  retries: 5,
  retryBackoffMs: 100,
  maxRetryBackoffMs: 1_000
} as const

/** Looks up a partition's leader in `metadata`. Pure. */
export const leaderOf = (
  metadata: ControllerProtocol.ClusterMetadata,
  topic: string,
  partition: number
): Either.Either<Leader, NotLeader | UnknownTopicOrPartition> => {
  const info = metadata.topics.find((t) => t.name === topic)
  const state = info?.partitions.find((p) => p.partition === partition)
  if (state === undefined) return Either.left(new UnknownTopicOrPartition({ topic, partition }))
  const broker = state.leader === NoLeader ? undefined : metadata.brokers.find((b) => b.brokerId === state.leader)
  if (broker === undefined) return Either.left(new NotLeader({ topic, partition }))
  return Either.right({ brokerId: broker.brokerId, nodeId: NodeId.make(broker.nodeId), leaderEpoch: state.leaderEpoch })
}

/** The brokers to try, in order: bootstrap first, then unfenced brokers from metadata. Pure. */
export const candidates = (
  bootstrap: ReadonlyArray<string>,
  metadata: ControllerProtocol.ClusterMetadata | undefined
): ReadonlyArray<string> => {
  const out = [...new Set(bootstrap)]
  for (const b of metadata?.brokers ?? []) if (!b.fenced && !out.includes(b.nodeId)) out.push(b.nodeId)
  return out
}

/** Whether metadata fetched at `fetchedAtMs` is too old at `nowMs`. Pure. */
export const isStale = (fetchedAtMs: number, nowMs: number, maxAgeMs: number): boolean =>
  nowMs - fetchedAtMs >= maxAgeMs

/** Builds a cache; nothing is fetched until first use. */
export const make = (options: Options): Effect.Effect<MetadataCache> =>
  Effect.gen(function*() {
    const limits = {
      maxAgeMs: options.maxAgeMs ?? defaults.maxAgeMs,
      requestTimeoutMs: options.requestTimeoutMs ?? defaults.requestTimeoutMs,
      retries: options.retries ?? defaults.retries,
      retryBackoffMs: options.retryBackoffMs ?? defaults.retryBackoffMs,
      maxRetryBackoffMs: options.maxRetryBackoffMs ?? defaults.maxRetryBackoffMs
    }
    const lock = yield* Effect.makeSemaphore(1)
    let metadata: ControllerProtocol.ClusterMetadata | undefined
    let fetchedAtMs = 0
    let generation = 0
    let next = 0

    const askBroker = <R extends BrokerRequest>(request: R) => {
      let attempts = 0
      let lastError: AskTimeout | DeliveryError | undefined
      const once = Effect.suspend(() => {
        const list = candidates(options.bootstrap, metadata)
        const target = list[next % list.length]!
        attempts++
        const ref = options.node.ref(
          Address.make(NodeId.make(target), ControllerProtocol.brokerPath),
          ControllerProtocol.BrokerProtocol
        )
        return ref.ask(request, { timeoutMs: limits.requestTimeoutMs })
      })
      type Delivery = AskTimeout | DeliveryError
      const isDelivery = (e: { readonly _tag: string }): e is Delivery =>
        e._tag === "AskTimeout" || e._tag === "ActorUnavailable" || e._tag === "MailboxFull" ||
        e._tag === "MessageNotSerializable"
      return once.pipe(
        Effect.tapError((e) =>
          Effect.sync(() => {
            if (isDelivery(e)) {
              lastError = e
              next++
            }
          })
        ),
        Effect.retry({ schedule: Retry.schedule(limits), while: isDelivery }),
        Effect.catchIf(isDelivery, () => Effect.fail(new BrokerNotAvailable({ attempts, lastError })))
      ) as Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | BrokerNotAvailable>
    }

    const fetch = Effect.flatMap(askBroker(new ControllerProtocol.GetMetadata()), (fresh) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        // Never back to older metadata (KIP-320's rule, by the metadata log's version, which every
        // leader epoch change bumps): a broker cut off from the controller, or just restarted,
        // still serves what it last heard, and a client that believed it would take a deposed
        // leader for the current one (a consumer there reads a shorter log, is told its position
        // is out of range and resets it). Keep what we have; the next refresh asks another broker.
        if (metadata !== undefined && fresh.version < metadata.version) {
          next++
          return metadata
        }
        metadata = fresh
        fetchedAtMs = now
        generation++
        return fresh
      }))

    const refresh = Effect.suspend(() => {
      const asked = generation
      return lock.withPermits(1)(Effect.suspend(() =>
        generation > asked && metadata !== undefined ? Effect.succeed(metadata) : fetch
      ))
    })

    const current = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      metadata !== undefined && !isStale(fetchedAtMs, now, limits.maxAgeMs) ? Effect.succeed(metadata) : refresh)

    const topic = (name: string) =>
      Effect.flatMap(current, (m) => {
        const found = m.topics.find((t) => t.name === name)
        if (found !== undefined) return Effect.succeed(found)
        return Effect.flatMap(refresh, (fresh) => {
          const again = fresh.topics.find((t) => t.name === name)
          return again === undefined ? Effect.fail(new UnknownTopicOrPartition({ topic: name })) : Effect.succeed(again)
        })
      })

    // Leader lookups of the current metadata, memoized (every produce and fetch asks for one).
    let indexed: ControllerProtocol.ClusterMetadata | undefined
    let leaders = new Map<string, Either.Either<Leader, NotLeader | UnknownTopicOrPartition>>()
    const lookup = (m: ControllerProtocol.ClusterMetadata, name: string, partition: number) => {
      if (indexed !== m) {
        indexed = m
        leaders = new Map()
      }
      const key = `${partition}:${name}`
      let found = leaders.get(key)
      if (found === undefined) {
        found = leaderOf(m, name, partition)
        leaders.set(key, found)
      }
      return found
    }

    const leader = (name: string, partition: number) =>
      Effect.flatMap(current, (m) => Either.isRight(lookup(m, name, partition)) ? Effect.succeed(m) : refresh).pipe(
        Effect.flatMap((m) => lookup(m, name, partition))
      )

    return { current, refresh, topic, leader, askBroker, options: limits } satisfies MetadataCache
  })
