/**
 * A consumer in a group: `subscribe(topics)` joins the group (the elected leader runs the
 * assignor), heartbeats, and fetches the partitions it is assigned with the group-less
 * `Consumer` (long polls to partition leaders), starting from the group's committed offsets or
 * `autoOffsetReset`. Records come as an Effect `Stream` (`stream`), by `poll`, or through a
 * kafkajs-like runner (`run({ eachMessage })` / `eachBatch`); assignment changes as `events`.
 *
 * At least once: a record counts as processed once `eachMessage` returned (runner) or at the
 * next `poll` (stream / poll, as Kafka's auto commit). Processed offsets are committed on an
 * interval (`autoCommit`), on `commitOffsets`, before a partition is given up, and on close.
 *
 * @since 0.1.0
 */
import { Chunk, Clock, Deferred, Effect, Fiber, FiberId, Queue, Stream } from "effect"
import type { Scope } from "effect"
import type { AskTimeout, DeliveryError } from "../actor/ActorError.js"
import type { TopicPartition } from "../cluster/Metadata.js"
import * as Assignor from "../group/Assignor.js"
import * as GP from "../group/GroupProtocol.js"
import * as TP from "../group/TopicPartition.js"
import * as Consumer from "./Consumer.js"
import * as Link from "./internal/groupCoordinator.js"
import * as Membership from "./internal/groupMembership.js"
import * as MetadataCache from "./MetadataCache.js"

/** Options of a group consumer (plus the consumer's: `node`, `bootstrap`, fetch sizes, `autoOffsetReset`...). */
export interface Options extends Consumer.Options {
  readonly groupId: string
  /** Static membership (KIP-345): a restart within the session timeout keeps the assignment. */
  readonly groupInstanceId?: string
  readonly clientId?: string
  /** In order of preference (default `[range]`). */
  readonly assignors?: ReadonlyArray<Assignor.Assignor>
  /** Default 10 000 (Kafka 45 000). */
  readonly sessionTimeoutMs?: number
  /** Default 30 000. */
  readonly rebalanceTimeoutMs?: number
  /** Default 3 000. */
  readonly heartbeatIntervalMs?: number
  /** Commit processed offsets every `autoCommitIntervalMs` (default true, 5 000). */
  readonly autoCommit?: boolean
  readonly autoCommitIntervalMs?: number
  /** Send LeaveGroup on close (default: only dynamic members, as Kafka). */
  readonly leaveOnClose?: boolean
}

/** A change of the member's assignment. */
export type GroupEvent =
  | {
    readonly _tag: "Assigned"
    /** The partitions added by this rebalance. */
    readonly partitions: ReadonlyArray<TopicPartition>
    /** Everything the member owns in `generationId` (the added partitions included). */
    readonly assignment: ReadonlyArray<TopicPartition>
    readonly generationId: number
    readonly memberId: string
  }
  | { readonly _tag: "Revoked"; readonly partitions: ReadonlyArray<TopicPartition>; readonly lost: boolean }

/** Why a group consumer call failed. */
export type GroupConsumerError = Consumer.ConsumerError | GP.Failure | AskTimeout | DeliveryError

/** A batch of one partition's records, for `eachBatch`. */
export interface Batch {
  readonly topic: string
  readonly partition: number
  readonly messages: ReadonlyArray<Consumer.ConsumerRecord>
}

/** What `run` calls: one of `eachMessage` or `eachBatch`. */
export interface RunOptions<E> {
  readonly eachMessage?: (payload: { readonly topic: string; readonly partition: number; readonly message: Consumer.ConsumerRecord }) => Effect.Effect<void, E>
  readonly eachBatch?: (batch: Batch) => Effect.Effect<void, E>
}

/** The member's view of its group. */
export interface MemberInfo {
  readonly memberId: string
  readonly generationId: number
  readonly assignment: ReadonlyArray<TopicPartition>
  readonly rebalances: number
}

/** A group consumer. */
export interface GroupConsumer {
  /** Subscribes (replacing the topics) and joins the group; a later call triggers a rebalance. */
  readonly subscribe: (topics: ReadonlyArray<string>) => Effect.Effect<void>
  /** Records of the assigned partitions; marks the previous poll's records processed. */
  readonly poll: (options?: { readonly maxWaitMs?: number }) => Effect.Effect<ReadonlyArray<Consumer.ConsumerRecord>, GroupConsumerError>
  /** Polls forever. */
  readonly stream: Stream.Stream<Consumer.ConsumerRecord, GroupConsumerError>
  /** Assignments and revocations, as they happen (the latest 1 024 are kept for a slow reader). */
  readonly events: Stream.Stream<GroupEvent>
  /** Polls forever, handing records to `eachMessage` (or `eachBatch`); each handled record counts as processed. */
  readonly run: <E>(options: RunOptions<E>) => Effect.Effect<never, E | GroupConsumerError>
  /**
   * Commits the given offsets (next offsets to read, with the leader epoch of the record before
   * each when known: `ConsumerRecord.leaderEpoch`), or everything processed and not yet committed.
   */
  readonly commitOffsets: (offsets?: ReadonlyArray<CommitOffset>) => Effect.Effect<void, GP.Failure | AskTimeout | DeliveryError>
  /** The group's committed offsets for the given partitions (-1: none). */
  readonly committed: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<ReadonlyArray<GP.FetchedOffset>, GP.Failure | AskTimeout | DeliveryError>
  readonly seek: (tp: TopicPartition, target: Consumer.SeekTarget) => Effect.Effect<void, Consumer.ConsumerError>
  readonly pause: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly resume: (partitions: ReadonlyArray<TopicPartition>) => Effect.Effect<void>
  readonly lag: Effect.Effect<ReadonlyArray<Consumer.PartitionLag>>
  readonly membership: Effect.Effect<MemberInfo>
  /** Stops heartbeating, commits (with auto commit) and leaves; also runs when the scope closes. */
  readonly close: Effect.Effect<void>
}

/** An offset to commit: the next offset to read, and the leader epoch of the record before it if known. */
export interface CommitOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly leaderEpoch?: number
}

const epochOf = (leaderEpoch: number): { readonly leaderEpoch?: number } => (leaderEpoch >= 0 ? { leaderEpoch } : {})

/** The defaults of {@link Options}. */
export const defaults = {
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  autoCommitIntervalMs: 5_000
} as const

/** Starts a group consumer; it joins on `subscribe` and leaves when the scope closes. */
export const make = (options: Options): Effect.Effect<GroupConsumer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const consumer = yield* Consumer.make(options)
    const cache: MetadataCache.MetadataCache = consumer.metadata
    const link = Link.make(options.node, cache, options.bootstrap, options.groupId)
    const settings: Membership.Settings = {
      groupId: options.groupId,
      groupInstanceId: options.groupInstanceId,
      clientId: options.clientId ?? "fiberlog",
      assignors: options.assignors ?? [Assignor.range],
      sessionTimeoutMs: options.sessionTimeoutMs ?? defaults.sessionTimeoutMs,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? defaults.rebalanceTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? defaults.heartbeatIntervalMs,
      requestTimeoutMs: cache.options.requestTimeoutMs
    }
    const state = Membership.initial([])
    // Polls and partition hand-overs exclude each other; a waiting hand-over goes first (a
    // tight poll loop would otherwise win the lock again and again).
    const lock = yield* Effect.makeSemaphore(1)
    let waitingHooks = 0
    let idle = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(idle, Effect.void)
    const exclusive = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        if (waitingHooks++ === 0) idle = Deferred.unsafeMake<void>(FiberId.none)
        return lock.withPermits(1)(effect).pipe(Effect.ensuring(Effect.sync(() => {
          if (--waitingHooks === 0) Deferred.unsafeDone(idle, Effect.void)
        })))
      })
    const shared = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.zipRight(Effect.suspend(() => Deferred.await(idle)), lock.withPermits(1)(effect))
    const events = yield* Queue.sliding<GroupEvent>(1_024)
    const fatal = yield* Deferred.make<never, GP.Failure>()
    /**
     * Next offset to read of every processed partition (with the leader epoch of the record
     * before it, committed with it as KIP-320 does), and what was last committed.
     */
    const processed = new Map<string, { readonly tp: TopicPartition; offset: number; leaderEpoch: number }>()
    const committedMark = new Map<string, number>()
    let lastPolled: ReadonlyArray<Consumer.ConsumerRecord> = []
    let member: Fiber.RuntimeFiber<void> | undefined
    let closed = false
    const scope = yield* Effect.scope

    const markProcessed = (records: ReadonlyArray<Consumer.ConsumerRecord>) => {
      for (const r of records) {
        const key = TP.key(r)
        if (!ownedKeys().has(key)) continue
        processed.set(key, { tp: { topic: r.topic, partition: r.partition }, offset: r.offset + 1, leaderEpoch: r.leaderEpoch })
      }
    }
    const ownedKeys = () => new Set(state.owned.map(TP.key))

    const withIds = () => ({
      groupId: options.groupId,
      memberId: state.memberId,
      generationId: state.generationId,
      ...(options.groupInstanceId === undefined ? {} : { groupInstanceId: options.groupInstanceId })
    })

    const commitOffsets = (
      given?: ReadonlyArray<CommitOffset>
    ): Effect.Effect<void, GP.Failure | AskTimeout | DeliveryError> =>
      Effect.suspend(() => {
        const offsets: ReadonlyArray<CommitOffset> = given ?? [...processed.entries()]
          .filter(([key, p]) => committedMark.get(key) !== p.offset)
          .map(([, p]) => ({ topic: p.tp.topic, partition: p.tp.partition, offset: p.offset, ...epochOf(p.leaderEpoch) }))
        if (offsets.length === 0) return Effect.void
        const request = new GP.OffsetCommit({ ...withIds(), offsets: offsets.map((o) => ({ ...o, metadata: "" })) })
        return link.askRetrying(request, { attempts: 5 }).pipe(
          Effect.tap(() => Effect.sync(() => {
            for (const o of offsets) committedMark.set(TP.key(o), o.offset)
          }))
        )
      })

    const committed = (partitions: ReadonlyArray<TopicPartition>) =>
      link.askRetrying(new GP.OffsetFetch({ groupId: options.groupId, partitions }), { attempts: 10 })

    const hooks: Membership.Hooks = {
      revoke: (partitions, lost) =>
        exclusive(Effect.gen(function*() {
          const keys = new Set(partitions.map(TP.key))
          if (!lost) {
            const mine = [...processed.entries()].filter(([key, p]) => keys.has(key) && committedMark.get(key) !== p.offset)
            yield* Effect.ignore(commitOffsets(mine.map(([, p]) => ({ ...p.tp, offset: p.offset, ...epochOf(p.leaderEpoch) }))))
          }
          for (const key of keys) {
            processed.delete(key)
            committedMark.delete(key)
          }
          const left = (yield* consumer.assignment).filter((tp) => !keys.has(TP.key(tp)))
          yield* consumer.assign(left)
          yield* Queue.offer(events, { _tag: "Revoked", partitions, lost })
        })),
      assign: (all, added) =>
        exclusive(Effect.gen(function*() {
          yield* consumer.assign(all)
          if (added.length > 0) {
            const offsets = yield* Effect.orElseSucceed(committed(added), () => [])
            for (const o of offsets) {
              if (o.offset < 0) continue
              const tp = { topic: o.topic, partition: o.partition }
              const leaderEpoch = o.leaderEpoch ?? -1
              yield* Effect.ignore(consumer.seek(tp, { offset: o.offset, leaderEpoch }))
              processed.set(TP.key(tp), { tp, offset: o.offset, leaderEpoch })
              committedMark.set(TP.key(tp), o.offset)
            }
          }
          yield* Queue.offer(events, {
            _tag: "Assigned",
            partitions: added,
            assignment: all,
            generationId: state.generationId,
            memberId: state.memberId
          })
        })),
      partitionCounts: (topics) =>
        Effect.gen(function*() {
          yield* Effect.ignore(cache.refresh)
          const counts = new Map<string, number>()
          for (const topic of topics) {
            const info = yield* Effect.option(cache.topic(topic))
            if (info._tag === "Some") counts.set(topic, info.value.partitions.length)
          }
          return counts
        })
    }

    const subscribe = (topics: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        state.topics = [...new Set(topics)].sort()
        if (member !== undefined) {
          state.rejoinRequested = true
          return
        }
        member = yield* Membership.run(link, settings, state, hooks).pipe(
          Effect.catchAll((error) => Deferred.fail(fatal, error)),
          Effect.asVoid,
          Effect.forkIn(scope)
        )
        if (options.autoCommit ?? true) {
          yield* Effect.ignore(commitOffsets()).pipe(
            Effect.delay(options.autoCommitIntervalMs ?? defaults.autoCommitIntervalMs),
            Effect.forever,
            Effect.forkIn(scope)
          )
        }
      })

    /**
     * One poll under the lock (no revocation runs meanwhile); drops records of partitions given
     * up. A fetch can answer empty before its wait is over (woken by an append the high watermark
     * does not cover yet): poll again for the time left, so a poll waits its full `maxWaitMs`.
     */
    const pollLocked = (maxWaitMs: number | undefined) =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(fatal)) return yield* Deferred.await(fatal)
        const waitMs = maxWaitMs ?? options.maxWaitMs ?? Consumer.defaults.maxWaitMs
        const deadlineMs = (yield* Clock.currentTimeMillis) + waitMs
        let leftMs = waitMs
        while (true) {
          const records = yield* consumer.poll({ maxWaitMs: leftMs })
          const keys = ownedKeys()
          const mine = records.filter((r) => keys.has(TP.key(r)))
          leftMs = deadlineMs - (yield* Clock.currentTimeMillis)
          if (mine.length > 0 || leftMs <= 0) return mine
        }
      })

    const poll = (pollOptions?: { readonly maxWaitMs?: number }) =>
      shared(Effect.gen(function*() {
        markProcessed(lastPolled)
        lastPolled = []
        lastPolled = yield* pollLocked(pollOptions?.maxWaitMs)
        return lastPolled
      }))

    const run = <E>(runOptions: RunOptions<E>): Effect.Effect<never, E | GroupConsumerError> =>
      shared(Effect.gen(function*() {
        const records = yield* pollLocked(undefined)
        const byPartition = new Map<string, Array<Consumer.ConsumerRecord>>()
        for (const r of records) {
          const list = byPartition.get(TP.key(r)) ?? []
          list.push(r)
          byPartition.set(TP.key(r), list)
        }
        for (const messages of byPartition.values()) {
          const { partition, topic } = messages[0]!
          if (runOptions.eachBatch !== undefined) {
            yield* runOptions.eachBatch({ topic, partition, messages })
            markProcessed(messages)
            continue
          }
          for (const message of messages) {
            if (runOptions.eachMessage !== undefined) yield* runOptions.eachMessage({ topic, partition, message })
            markProcessed([message])
          }
        }
      })).pipe(Effect.forever)

    const close = Effect.gen(function*() {
      if (closed) return
      closed = true
      if (member !== undefined) yield* Fiber.interrupt(member)
      if (state.memberId === "") return
      if (options.autoCommit ?? true) yield* Effect.ignore(commitOffsets())
      if (options.leaveOnClose ?? options.groupInstanceId === undefined) {
        yield* Effect.ignore(link.askRetrying(
          new GP.LeaveGroup({ groupId: options.groupId, memberId: state.memberId }),
          { attempts: 3 }
        ))
      }
    })
    yield* Effect.addFinalizer(() => close)

    const groupConsumer: GroupConsumer = {
      subscribe,
      poll,
      stream: Stream.repeatEffectChunk(Effect.map(poll(), Chunk.unsafeFromArray)),
      events: Stream.fromQueue(events),
      run,
      commitOffsets,
      committed,
      seek: (tp, target) =>
        Effect.gen(function*() {
          yield* consumer.seek(tp, target)
          const offset = yield* consumer.position(tp)
          processed.set(TP.key(tp), { tp: { topic: tp.topic, partition: tp.partition }, offset, leaderEpoch: -1 })
          lastPolled = lastPolled.filter((r) => TP.key(r) !== TP.key(tp))
        }),
      pause: consumer.pause,
      resume: consumer.resume,
      lag: consumer.lag,
      membership: Effect.sync(() => ({
        memberId: state.memberId,
        generationId: state.generationId,
        assignment: state.owned,
        rebalances: state.rebalances
      })),
      close
    }
    return groupConsumer
  })
