/**
 * A partition replica: one actor per partition per broker, in the `Leader` or `Follower` role
 * (or `Offline` while the partition has no leader). The leader validates and appends produce
 * batches, tracks its followers' log ends, keeps the high watermark (min log end over the ISR,
 * never backwards), answers acks=all once the ISR has a batch, and asks the controller to shrink
 * or expand the ISR. A follower runs a fetch loop against the leader (long poll, never a busy
 * loop) and truncates where the leader says its log diverged (KIP-101 / KIP-279, via the fetch
 * response as in KIP-595) — never to its high watermark alone.
 *
 * The rules themselves are the pure functions of `Isr` and `ProducerState`; this actor does the
 * I/O and the timing. It is the single writer of its log: the follower's fetch loop hands what it
 * fetched back to the actor (`ApplyFetch`), and so does a follower whose fetch offset the leader's
 * log no longer holds (`ApplyOutOfRange`: the follower empties its log and restarts it at the
 * leader's log start, as Kafka's follower does).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Either, Exit, Fiber, Option, type Schema, type Scope } from "effect"
import * as Actor from "../actor/Actor.js"
import * as Address from "../actor/Address.js"
import * as BatchBuilder from "../log/BatchBuilder.js"
import * as LeaderEpochCache from "../log/LeaderEpochCache.js"
import type { CorruptRecord, LogClosed, NonContiguousOffset, StorageError } from "../log/LogError.js"
import type * as PartitionLog from "../log/PartitionLog.js"
import * as RecordBatch from "../log/RecordBatch.js"
import * as NodeId from "../transport/NodeId.js"
import * as ControllerProtocol from "./ControllerProtocol.js"
import * as Deadlines from "../actor/internal/deadlines.js"
import * as Periodic from "./internal/periodic.js"
import * as Purgatory from "./internal/purgatory.js"
import * as Errors from "./Errors.js"
import * as Isr from "./Isr.js"
import type * as Metadata from "./Metadata.js"
import * as ProducerState from "./ProducerState.js"
import * as P from "./ReplicaProtocol.js"

/** Options of a replica actor (its broker fills them in). */
export interface Options {
  readonly brokerId: number
  readonly topic: string
  readonly partition: number
  readonly log: PartitionLog.PartitionLog
  /** The broker's current registration epoch (AlterPartition carries it). */
  readonly brokerEpoch: Effect.Effect<number>
  readonly controller: Address.Address
  /** A follower not caught up for this long leaves the ISR (Kafka: 30 s). */
  readonly replicaLagTimeMs: number
  /** Follower long-poll wait. */
  readonly fetchMaxWaitMs: number
  readonly fetchMaxBytes: number
  /** Pause after a failed follower fetch. */
  readonly fetchBackoffMs: number
}

type ProduceFailure = Schema.WithResult.Failure<P.Produce>

interface PendingAck {
  readonly requiredOffset: number
  readonly result: P.ProduceResult
  readonly outcome: Deadlines.Outcome<P.ProduceResult, ProduceFailure>
}

/** The replica's state: mutable, owned by the actor's fiber alone. */
interface State {
  role: "leader" | "follower" | "offline"
  partition: Metadata.PartitionState | undefined
  config: Metadata.TopicConfig | undefined
  nodes: Map<number, string>
  highWatermark: number
  logEndOffset: number
  leaderEpochStartOffset: number
  followers: Map<number, Isr.FollowerState>
  producers: ProducerState.ProducerState
  pendingAcks: Array<PendingAck>
  /** The long polls parked here, and their server (see `servePolls`). */
  polls: Purgatory.Purgatory
  /** The deadlines of the long polls and acks=all produces waiting here (no timer per request). */
  deadlines: Deadlines.Deadlines
  isrChangeInFlight: boolean
  fetcher: Fiber.RuntimeFiber<void> | undefined
  scope: Scope.Scope
}

const tpOf = (options: Options) => ({ topic: options.topic, partition: options.partition })

/** How far a fetch may read: a follower's to the log end, a consumer's to the high watermark. */
const limitFor = (state: State, isFollower: boolean) => isFollower ? state.logEndOffset : state.highWatermark

/** Recomputes the high watermark over the ISR and settles the acks=all requests it decides. */
const advanceHighWatermark = (options: Options, state: State) => {
  if (state.role !== "leader" || state.partition === undefined) return
  const followerLogEndOffsets = new Map([...state.followers].map(([id, f]) => [id, f.logEndOffset]))
  const hw = Isr.highWatermark({
    leaderId: options.brokerId,
    leaderLogEndOffset: state.logEndOffset,
    followerLogEndOffsets,
    isr: state.partition.isr,
    previousHighWatermark: state.highWatermark
  })
  if (hw !== state.highWatermark) {
    state.highWatermark = hw
    state.polls.wakeConsumers()
  }
  settleAcks(options, state)
}

const settleAcks = (options: Options, state: State) => {
  if (state.pendingAcks.length === 0 || state.partition === undefined || state.config === undefined) return
  const still: Array<PendingAck> = []
  for (const ack of state.pendingAcks) {
    if (ack.outcome.settled) continue // timed out
    const decision = Isr.acksAllState({
      tp: tpOf(options),
      requiredOffset: ack.requiredOffset,
      highWatermark: state.highWatermark,
      isrSize: state.partition.isr.length,
      minInsyncReplicas: state.config.minInsyncReplicas
    })
    if (decision._tag === "Waiting") still.push(ack)
    else if (decision._tag === "Acked") ack.outcome.complete(Exit.succeed(ack.result))
    else ack.outcome.complete(Exit.fail(decision.error))
  }
  state.pendingAcks = still
}

/** Fails everything waiting on this leader (it stopped leading). */
const abandonLeadership = (options: Options, state: State) => {
  const error = new Errors.NotLeader({
    ...tpOf(options),
    ...(state.partition && state.partition.leader >= 0 ? { leaderId: state.partition.leader } : {})
  })
  for (const ack of state.pendingAcks) ack.outcome.complete(Exit.fail(error))
  state.pendingAcks = []
  state.polls.wakeFollowers()
  state.polls.wakeConsumers()
}

const notLeader = (options: Options, state: State) =>
  new Errors.NotLeader({
    ...tpOf(options),
    ...(state.partition && state.partition.leader >= 0
      ? { leaderId: state.partition.leader, leaderEpoch: state.partition.leaderEpoch }
      : {})
  })

/** What a producer gets for a batch that fails its checks (size, magic, counts, CRC). */
const corruptBatch = (error: { readonly reason: string }) => new Errors.InvalidRequest({ message: `corrupt batch: ${error.reason}` })

const storageError = (options: Options) => (error: { readonly _tag: string }) =>
  new Errors.KafkaStorageError({ ...tpOf(options), message: error._tag })

/** Rebuilds idempotent-producer state from the log's batch headers. */
const loadProducers = (log: PartitionLog.PartitionLog) =>
  Effect.gen(function*() {
    const headers: Array<ProducerState.BatchHeader> = []
    let offset = yield* log.logStartOffset
    const end = yield* log.logEndOffset
    while (offset < end) {
      const read = yield* Effect.orDie(log.read(offset, 4 * 1024 * 1024))
      if (read.batches.length === 0) break
      for (const batch of read.batches) {
        const h = RecordBatch.header(batch)
        headers.push(h)
        offset = h.lastOffset + 1
      }
    }
    return ProducerState.fromBatches(headers)
  })

/**
 * Reads batches from `fetchOffset` below `limit` (whole batches; at least one if any). A read's
 * batches are in offset order, so those below `limit` are a prefix: the last one tells at once
 * whether the read is whole (the usual case), else the cut is the first batch at or past `limit`.
 */
const readBelow = (log: PartitionLog.PartitionLog, fetchOffset: number, maxBytes: number, limit: number) =>
  Effect.map(log.read(fetchOffset, maxBytes), (read): PartitionLog.ReadResult => {
    const all = read.batches
    if (all.length === 0 || RecordBatch.baseOffset(all[all.length - 1]!) < limit) return read
    let cut = 0
    while (RecordBatch.baseOffset(all[cut]!) < limit) cut++
    const batches = all.slice(0, cut)
    return { ...read, batches, sizeInBytes: batches.reduce((n, b) => n + b.length, 0) }
  })

/** The replica's behavior. */
export const behavior = (options: Options) => {
  const log = options.log
  const tp = tpOf(options)

  const fetchResult = (state: State, batches: ReadonlyArray<Uint8Array>, logStartOffset: number, extra: object = {}) =>
    new P.FetchResult({
      batches,
      highWatermark: state.highWatermark,
      logStartOffset,
      logEndOffset: state.logEndOffset,
      leaderEpoch: state.partition?.leaderEpoch ?? -1,
      ...extra
    }, true) // built from the replica's own state: no validation on this hot path

  /** Asks the controller for a new ISR, off the actor's fiber; the answer comes back as `IsrChangeDone`. */
  const requestIsrChange = (ctx: Actor.Context<P.ReplicaProtocol>, state: State, newIsr: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const partition = state.partition!
      state.isrChangeInFlight = true
      const controller = ctx.node.ref(options.controller, ControllerProtocol.ControllerProtocol)
      const request = new ControllerProtocol.AlterPartition({
        ...tp,
        brokerId: options.brokerId,
        brokerEpoch: yield* options.brokerEpoch,
        leaderEpoch: partition.leaderEpoch,
        partitionEpoch: partition.partitionEpoch,
        newIsr: [...newIsr].sort((a, b) => a - b)
      }, true) // from the replica's own state: no validation
      yield* controller.ask(request).pipe(
        Effect.matchEffect({
          // The controller's typed answer: no validation.
          onSuccess: (updated) => ctx.self.tell(new P.IsrChangeDone({ state: updated }, true)),
          onFailure: (error) => ctx.self.tell(new P.IsrChangeDone({ error: error._tag }, true))
        }),
        Effect.ignore,
        Effect.forkIn(state.scope)
      )
    })

  /** Leader: ISR changes this state calls for (shrink the lagging, expand the caught up). */
  const maintainIsr = (ctx: Actor.Context<P.ReplicaProtocol>, state: State, nowMs: number) => {
    if (state.role !== "leader" || state.isrChangeInFlight || state.partition === undefined) return Effect.void
    const isr = state.partition.isr
    const shrink = Isr.isrShrinkCandidates({
      nowMs,
      leaderId: options.brokerId,
      leaderLogEndOffset: state.logEndOffset,
      isr,
      followers: state.followers,
      replicaLagTimeMs: options.replicaLagTimeMs
    })
    const expand = Isr.isrExpandCandidates({
      leaderId: options.brokerId,
      isr,
      followers: state.followers,
      highWatermark: state.highWatermark,
      leaderEpochStartOffset: state.leaderEpochStartOffset
    })
    if (shrink.length === 0 && expand.length === 0) return Effect.void
    const newIsr = [...isr.filter((id) => !shrink.includes(id)), ...expand]
    return requestIsrChange(ctx, state, newIsr)
  }

  const becomeLeader = (state: State, nowMs: number, epochChanged: boolean) =>
    Effect.gen(function*() {
      const partition = state.partition!
      if (state.fetcher !== undefined) yield* Fiber.interrupt(state.fetcher)
      state.fetcher = undefined
      if (epochChanged || state.role !== "leader") {
        state.logEndOffset = yield* log.logEndOffset
        yield* Effect.orDie(log.assignEpoch(partition.leaderEpoch, state.logEndOffset))
        state.leaderEpochStartOffset = state.logEndOffset
        state.followers = new Map(
          partition.replicas
            .filter((id) => id !== options.brokerId)
            .map((id) => [id, Isr.initialFollower(id, partition.isr.includes(id), nowMs)])
        )
        state.producers = yield* loadProducers(log)
        state.isrChangeInFlight = false
      }
      state.role = "leader"
      advanceHighWatermark(options, state)
    })

  /** Follower: where to fetch next, the log's end and last epoch (what `ApplyFetch` and `ApplyOutOfRange` answer). */
  const fetchPosition: Effect.Effect<typeof P.FetchPosition.Type> = Effect.zipWith(
    log.logEndOffset,
    log.epochs,
    (logEndOffset, epochs) => ({ stop: false, logEndOffset, lastEpoch: LeaderEpochCache.latestEpoch(epochs) })
  )

  /** The answer to a fetch loop of a leader epoch this replica no longer follows: stop. */
  const stopFetching: typeof P.FetchPosition.Type = { stop: true, logEndOffset: -1, lastEpoch: -1 }

  /**
   * Follower: the fetch loop. Each response goes to the actor, which appends and says where to go
   * on. A plain recursive chain rather than a generator: it runs once per replication round trip.
   */
  const fetchLoop = (ctx: Actor.Context<P.ReplicaProtocol>, leaderNode: string, leaderEpoch: number) => {
    const leader = ctx.node.ref(
      new Address.Address({ node: NodeId.make(leaderNode), path: P.replicaPath(tp.topic, tp.partition) }, true),
      P.ReplicaProtocol
    )
    const fetchFrom = (fetchOffset: number, lastEpoch: number): Effect.Effect<void, unknown> =>
      Effect.matchEffect(
        leader.ask(
          new P.Fetch({
            topic: tp.topic,
            partition: tp.partition,
            fetchOffset,
            maxBytes: options.fetchMaxBytes,
            maxWaitMs: options.fetchMaxWaitMs,
            minBytes: 1,
            replicaId: options.brokerId,
            currentLeaderEpoch: leaderEpoch,
            lastFetchedEpoch: lastEpoch
          }, true),
          { timeoutMs: options.fetchMaxWaitMs + 5_000 }
        ),
        {
          onFailure: (error) =>
            // The leader's log starts past what this follower needs next: start over at its log start.
            error._tag === "OffsetOutOfRange" && error.logStartOffset > fetchOffset
              ? Effect.flatMap(
                ctx.self.ask(
                  new P.ApplyOutOfRange({ leaderEpoch, fetchOffset, logStartOffset: error.logStartOffset }, true),
                  { timeoutMs: 60_000 }
                ),
                fetchNext
              )
              : Effect.zipRight(Effect.sleep(Duration.millis(options.fetchBackoffMs)), Effect.suspend(() => fetchFrom(fetchOffset, lastEpoch))),
          onSuccess: (response) =>
            Effect.flatMap(
              ctx.self.ask(new P.ApplyFetch({ leaderEpoch, fetchOffset, result: response }, true), { timeoutMs: 60_000 }),
              // Batches that were not taken (the log refused them): back off before asking again.
              (next) =>
                !next.stop && next.logEndOffset === fetchOffset && response.batches.length > 0 && response.divergingEpoch === undefined
                  ? Effect.zipRight(Effect.sleep(Duration.millis(options.fetchBackoffMs)), Effect.suspend(() => fetchNext(next)))
                  : fetchNext(next)
            )
        }
      )
    const fetchNext = (next: typeof P.FetchPosition.Type): Effect.Effect<void, unknown> =>
      next.stop ? Effect.void : fetchFrom(next.logEndOffset, next.lastEpoch)
    return Effect.flatMap(fetchPosition, fetchNext).pipe(Effect.catchAll(() => Effect.void))
  }

  const becomeFollower = (ctx: Actor.Context<P.ReplicaProtocol>, state: State, epochChanged: boolean) =>
    Effect.gen(function*() {
      const partition = state.partition!
      if (state.role === "leader") abandonLeadership(options, state)
      const restart = epochChanged || state.role !== "follower" || state.fetcher === undefined
      state.role = partition.leader < 0 ? "offline" : "follower"
      state.followers = new Map()
      state.logEndOffset = yield* log.logEndOffset
      if (!restart) return
      if (state.fetcher !== undefined) yield* Fiber.interrupt(state.fetcher)
      state.fetcher = undefined
      const leaderNode = state.nodes.get(partition.leader)
      if (state.role === "follower" && leaderNode !== undefined) {
        state.fetcher = yield* Effect.forkIn(fetchLoop(ctx, leaderNode, partition.leaderEpoch), state.scope)
      }
    })

  type Reply<R extends Schema.WithResult.Any> = Effect.Effect<
    readonly [Schema.WithResult.Success<R> | Actor.Later<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R>>, State],
    Schema.WithResult.Failure<R>
  >

  /** Produce's answer once appended (or found a duplicate): at once, or when acks=all is settled. */
  const acked = (state: State, req: P.Produce, result: P.ProduceResult): Reply<P.Produce> => {
    if (req.acks !== -1 || state.highWatermark > result.lastOffset) return Effect.succeed([result, state] as const)
    // Settled by the high watermark (`settleAcks`), a lost leadership, or the deadline.
    const outcome = new Deadlines.Outcome<P.ProduceResult, ProduceFailure>(() =>
      new Errors.RequestTimedOut({ ...tp, timeoutMs: req.timeoutMs })
    )
    state.pendingAcks.push({ requiredOffset: result.lastOffset + 1, result, outcome })
    settleAcks(options, state)
    const reply = [Actor.laterCallback<P.ProduceResult, ProduceFailure>((answer) => outcome.onComplete(answer)), state] as const
    if (outcome.settled) return Effect.succeed(reply)
    const added = state.deadlines.add(req.timeoutMs, outcome)
    return added === Effect.void ? Effect.succeed(reply) : Effect.as(added, reply)
  }

  /** What a fetch may read: below the log end (a follower's) or the high watermark (a consumer's), its errors as the fetch's. */
  const readFor = (state: State, req: P.Fetch, isFollower: boolean, logStartOffset: number) =>
    Effect.mapError(readBelow(log, req.fetchOffset, req.maxBytes, limitFor(state, isFollower)), (error) =>
      error._tag === "OffsetOutOfRange"
        ? new Errors.OffsetOutOfRange({ ...tp, offset: req.fetchOffset, logStartOffset, logEndOffset: state.logEndOffset })
        : storageError(options)(error))

  /**
   * How the poll server (`Purgatory.serve`) looks again at a poll due: a poll of a leadership this
   * replica no longer holds gets `NotLeader`; one with `minBytes` to read, or past its deadline,
   * gets what there is; any other is parked again (or, if the limit moved while it was read,
   * handed back as due at once).
   */
  const servePolls = (state: State): Effect.Effect<never> =>
    state.polls.serve((poll) => {
      if (poll.settled) return Effect.void
      if (state.role !== "leader" || state.partition?.leaderEpoch !== poll.leaderEpoch) {
        poll.settle(Exit.fail(notLeader(options, state)))
        return Effect.void
      }
      const seen = limitFor(state, poll.isFollower)
      const settle = (result: PartitionLog.ReadResult | undefined): Effect.Effect<void> => {
        const bytes = result?.sizeInBytes ?? 0
        if (bytes >= poll.req.minBytes || state.deadlines.nowMs() >= poll.deadlineMs) {
          poll.settle(Exit.succeed(fetchResult(state, result?.batches ?? [], poll.logStartOffset)))
        } else if (limitFor(state, poll.isFollower) !== seen) {
          state.polls.due([poll])
        } else {
          state.polls.park(poll)
        }
        return Effect.void
      }
      if (poll.req.fetchOffset >= seen) return settle(undefined)
      return Effect.matchEffect(readFor(state, poll.req, poll.isFollower, poll.logStartOffset), {
        onFailure: (error) => {
          poll.settle(Exit.fail(error))
          return Effect.void
        },
        onSuccess: settle
      })
    })

  /** Fetch, once the leader epoch and the diverging-epoch checks have passed. */
  const serveFetch = (
    ctx: Actor.Context<P.ReplicaProtocol>,
    state: State,
    req: P.Fetch,
    logStartOffset: number
  ): Reply<P.Fetch> => {
    const leaderEpoch = state.partition!.leaderEpoch
    const isFollower = req.replicaId >= 0
    if (req.fetchOffset < logStartOffset || req.fetchOffset > state.logEndOffset) {
      return Effect.fail(
        new Errors.OffsetOutOfRange({ ...tp, offset: req.fetchOffset, logStartOffset, logEndOffset: state.logEndOffset })
      )
    }
    let maintained: Effect.Effect<void> = Effect.void
    if (isFollower) {
      const now = state.deadlines.nowMs()
      const follower = state.followers.get(req.replicaId) ?? Isr.initialFollower(req.replicaId, false, now)
      state.followers.set(
        req.replicaId,
        Isr.onFollowerFetch(follower, { fetchOffset: req.fetchOffset, fetchTimeMs: now, leaderLogEndOffset: state.logEndOffset })
      )
      advanceHighWatermark(options, state)
      maintained = maintainIsr(ctx, state, now)
    }
    const answer = (available: PartitionLog.ReadResult | undefined): Reply<P.Fetch> => {
      const bytes = available?.sizeInBytes ?? 0
      if (available !== undefined && (bytes >= req.minBytes || req.maxWaitMs <= 0)) {
        return Effect.succeed([fetchResult(state, available.batches, logStartOffset), state] as const)
      }
      if (req.maxWaitMs <= 0) return Effect.succeed([fetchResult(state, [], logStartOffset), state] as const)
      // Long poll: wait until there are `minBytes` below the limit (the log end for followers,
      // woken by appends; the high watermark for consumers, woken when it moves) or until
      // `maxWaitMs` has passed, then answer with whatever there is. The poll server looks at the
      // poll again on those moves and at the deadline: no fiber, timer or race per poll.
      const deadlineMs = state.deadlines.nowMs() + req.maxWaitMs
      const poll = new Purgatory.ParkedFetch(req, isFollower, leaderEpoch, deadlineMs, logStartOffset, state.polls)
      state.polls.park(poll)
      const added = state.deadlines.add(req.maxWaitMs, poll)
      const reply = [poll.reply, state] as const
      return added === Effect.void ? Effect.succeed(reply) : Effect.as(added, reply)
    }
    const respond = () =>
      req.fetchOffset < limitFor(state, isFollower)
        ? Effect.flatMap(readFor(state, req, isFollower, logStartOffset), answer)
        : answer(undefined)
    return maintained === Effect.void ? respond() : Effect.zipRight(maintained, Effect.suspend(respond))
  }

  /** Follower: KIP-101 truncation to where the leader says the logs diverge. */
  const truncateTo = (diverging: { readonly epoch: number; readonly endOffset: number }) =>
    Effect.gen(function*() {
      const target = Math.min(diverging.endOffset, yield* log.logEndOffset)
      yield* Effect.logInfo(`replica ${tp.topic}:${tp.partition}@${options.brokerId}: truncating to ${target} (leader epoch ${diverging.epoch})`)
      yield* Effect.orDie(log.truncateTo(target))
    })

  /**
   * Follower: appends `batches` from `index` on, in order, and keeps the producers' state. A batch
   * the log refuses ends the response there: the rest is dropped with a warning, and the fetch loop
   * fetches again from the log end (after a backoff, since it made no progress). One case is
   * expected and mended as Kafka mends it: the log is empty (just restarted at the leader's log
   * start) and the leader's log start falls inside this batch (deleted up to the middle of a batch),
   * so the batch begins below the log end. The log then restarts at the batch's base offset and
   * takes the batch.
   */
  const appendAsFollower = (state: State, batches: ReadonlyArray<Uint8Array>, index: number): Effect.Effect<void> => {
    if (index >= batches.length) return Effect.void
    const batch = batches[index]!
    return Effect.matchEffect(log.appendAsFollower(batch), {
      onFailure: (error) => refused(state, batches, index, error),
      onSuccess: (info) => {
        const h = RecordBatch.header(batch)
        if (h.producerId !== ProducerState.noProducerId) {
          state.producers = ProducerState.onAppend(state.producers, {
            producerId: h.producerId,
            producerEpoch: h.producerEpoch,
            baseSequence: h.baseSequence,
            recordCount: h.recordCount,
            baseOffset: info.baseOffset
          })
        }
        return appendAsFollower(state, batches, index + 1)
      }
    })
  }

  const refused = (
    state: State,
    batches: ReadonlyArray<Uint8Array>,
    index: number,
    error: CorruptRecord | NonContiguousOffset | LogClosed | StorageError
  ): Effect.Effect<void> => {
    if (error._tag === "LogClosed" || error._tag === "StorageError") return Effect.die(error)
    const where = `replica ${tp.topic}:${tp.partition}@${options.brokerId}`
    const drop = Effect.logWarning(`${where}: dropped a fetched batch the log refused, and the rest of that response: ${error.message}`)
    if (error._tag !== "NonContiguousOffset") return drop
    const h = RecordBatch.header(batches[index]!)
    return Effect.flatMap(log.logStartOffset, (logStartOffset) => {
      const logEndOffset = error.expectedOffset
      if (logStartOffset !== logEndOffset || h.baseOffset >= logEndOffset || h.lastOffset < logEndOffset) return drop
      return Effect.logInfo(`${where}: the leader's log start ${logEndOffset} lies inside a batch from ${h.baseOffset}; starting the log afresh there`).pipe(
        Effect.zipRight(Effect.orDie(log.truncateFullyAndStartAt(h.baseOffset))),
        Effect.zipRight(Effect.suspend(() => appendAsFollower(state, batches, index)))
      )
    })
  }

  return Actor.behavior({
    protocol: P.ReplicaProtocol,
    init: (ctx): Effect.Effect<State, never, Scope.Scope> =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const clock = yield* Effect.clock
        const tick = Math.max(1, Math.floor(options.replicaLagTimeMs / 2))
        const tickMessage = new P.Tick()
        yield* Effect.forkScoped(Periodic.every(tick, Effect.ignore(ctx.self.tell(tickMessage))))
        const logEndOffset = yield* log.logEndOffset
        const state: State = {
          role: "offline",
          partition: undefined,
          config: undefined,
          nodes: new Map(),
          highWatermark: 0,
          logEndOffset,
          leaderEpochStartOffset: logEndOffset,
          followers: new Map(),
          producers: ProducerState.empty,
          pendingAcks: [],
          polls: new Purgatory.Purgatory(),
          deadlines: new Deadlines.Deadlines(clock, scope),
          isrChangeInFlight: false,
          fetcher: undefined,
          scope
        }
        yield* Effect.forkScoped(servePolls(state))
        return state
      }),
    handlers: {
      UpdatePartition: (state, msg, ctx) =>
        Effect.gen(function*() {
          const previous = state.partition
          const next = msg.state
          if (previous !== undefined && next.leaderEpoch < previous.leaderEpoch) return state
          if (previous !== undefined && next.leaderEpoch === previous.leaderEpoch && next.partitionEpoch <= previous.partitionEpoch) {
            return state
          }
          const epochChanged = previous === undefined || next.leaderEpoch !== previous.leaderEpoch
          state.partition = next
          state.config = msg.config
          state.nodes = new Map(msg.nodes.map((n) => [n.brokerId, n.nodeId]))
          const now = yield* Clock.currentTimeMillis
          if (next.leader === options.brokerId) yield* becomeLeader(state, now, epochChanged)
          else yield* becomeFollower(ctx, state, epochChanged)
          return state
        }),
      // Produce, Fetch, ApplyFetch and Tick are plain chains (no generator) that return an `Exit`
      // where they can answer at once: the actor runtime then answers without running an effect.
      Produce: (state, req) => {
        if (state.role !== "leader" || state.partition === undefined || state.config === undefined) {
          return Effect.fail(notLeader(options, state))
        }
        const config = state.config
        const partition = state.partition
        if (req.batch.length > config.maxMessageBytes) {
          return Effect.fail(new Errors.RecordTooLarge({ ...tp, sizeBytes: req.batch.length, maxMessageBytes: config.maxMessageBytes }))
        }
        // The header is checked here and the CRC by the log as it appends (every PartitionLog
        // refuses a corrupt batch): one pass over the bytes, not two. A path that answers without
        // appending (an error, a duplicate) checks the CRC first, so a corrupt batch always gets
        // InvalidRequest, whatever its header claims.
        const header = RecordBatch.validateHeader(req.batch)
        if (Either.isLeft(header)) return Effect.fail(corruptBatch(header.left))
        const crcFirst = <E>(error: E) => RecordBatch.crcMatches(req.batch) ? error : corruptBatch(RecordBatch.crcMismatch())
        if (req.acks === -1) {
          const enough = Isr.checkEnoughReplicas(tp, "all", partition.isr.length, config.minInsyncReplicas)
          if (Either.isLeft(enough)) return Effect.fail(crcFirst(enough.left))
        }
        const h = header.right
        const idempotent = h.producerId !== ProducerState.noProducerId
        const batchInfo = {
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          baseSequence: h.baseSequence,
          recordCount: h.recordCount
        }
        const check = idempotent ? ProducerState.check(state.producers, batchInfo) : undefined
        if (check !== undefined && Either.isLeft(check)) return Effect.fail(crcFirst(check.left))
        const duplicate = check !== undefined && check.right._tag === "Duplicate" ? check.right : undefined
        if (duplicate !== undefined && !RecordBatch.crcMatches(req.batch)) return Effect.fail(corruptBatch(RecordBatch.crcMismatch()))
        return Effect.flatMap(log.logStartOffset, (logStartOffset) => {
          if (duplicate !== undefined) {
            return acked(
              state,
              req,
              new P.ProduceResult(
                { baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset, logAppendTimeMs: -1, logStartOffset },
                true
              )
            )
          }
          // A batch built in this process and handed over for the first time is kept as it is
          // (offsets patched in its header) instead of copied; a retried or received one is copied.
          const transfer = BatchBuilder.claim(req.batch)
          return Effect.matchEffect(log.append(req.batch, { leaderEpoch: partition.leaderEpoch, transfer }), {
            onFailure: (error) => Effect.fail(error._tag === "CorruptRecord" ? corruptBatch(error) : storageError(options)(error)),
            onSuccess: (info) => {
              if (idempotent) state.producers = ProducerState.onAppend(state.producers, { ...batchInfo, baseOffset: info.baseOffset })
              state.logEndOffset = info.lastOffset + 1
              const result = new P.ProduceResult({ ...info, logStartOffset }, true)
              state.polls.wakeFollowers()
              advanceHighWatermark(options, state)
              return acked(state, req, result)
            }
          })
        })
      },
      Fetch: (state, req, ctx) => {
        if (state.role !== "leader" || state.partition === undefined) return Effect.fail(notLeader(options, state))
        const leaderEpoch = state.partition.leaderEpoch
        if (req.currentLeaderEpoch !== undefined && req.currentLeaderEpoch !== leaderEpoch) {
          return Effect.fail(
            req.currentLeaderEpoch < leaderEpoch
              ? new Errors.FencedLeaderEpoch({ ...tp, leaderEpoch: req.currentLeaderEpoch, currentLeaderEpoch: leaderEpoch })
              : notLeader(options, state)
          )
        }
        return Effect.flatMap(log.logStartOffset, (logStartOffset) => {
          const isFollower = req.replicaId >= 0
          if (isFollower && req.lastFetchedEpoch !== undefined && req.lastFetchedEpoch >= 0) {
            const lastFetchedEpoch = req.lastFetchedEpoch
            return Effect.flatMap(log.endOffsetFor(lastFetchedEpoch), (end) => {
              if (end.leaderEpoch < lastFetchedEpoch || end.endOffset < req.fetchOffset) {
                const divergingEpoch = { epoch: end.leaderEpoch, endOffset: Math.max(end.endOffset, logStartOffset) }
                return Effect.succeed([fetchResult(state, [], logStartOffset, { divergingEpoch }), state] as const)
              }
              return serveFetch(ctx, state, req, logStartOffset)
            })
          }
          return serveFetch(ctx, state, req, logStartOffset)
        })
      },
      ListOffsets: (state, req) =>
        Effect.gen(function*() {
          if (state.role !== "leader") return yield* Effect.fail(notLeader(options, state))
          if (req.spec === "earliest") return [{ offset: yield* log.logStartOffset, timestamp: -1 }, state] as const
          if (req.spec === "latest") return [{ offset: state.highWatermark, timestamp: -1 }, state] as const
          const found = yield* Effect.mapError(log.offsetForTimestamp(req.spec.timestamp), storageError(options))
          const hit = Option.filter(found, (f) => f.offset < state.highWatermark)
          return [Option.getOrElse(hit, () => ({ offset: -1, timestamp: -1 })), state] as const
        }),
      ApplyFetch: (state, msg) => {
        if (state.role !== "follower" || state.partition?.leaderEpoch !== msg.leaderEpoch) {
          return Effect.succeed([stopFetching, state] as const)
        }
        // An answer to a fetch from anywhere but the log end is stale (the log moved since): only
        // where to fetch now.
        const result = msg.result
        const applied = Effect.flatMap(log.logEndOffset, (logEndOffset) =>
          logEndOffset !== msg.fetchOffset
            ? Effect.void
            : result.divergingEpoch !== undefined
            ? truncateTo(result.divergingEpoch)
            : appendAsFollower(state, result.batches, 0))
        return Effect.flatMap(applied, () =>
          Effect.map(fetchPosition, (next) => {
            state.logEndOffset = next.logEndOffset
            state.highWatermark = Math.min(state.logEndOffset, Math.max(state.highWatermark, result.highWatermark))
            return [next, state] as const
          }))
      },
      ApplyOutOfRange: (state, msg) =>
        Effect.gen(function*() {
          if (state.role !== "follower" || state.partition?.leaderEpoch !== msg.leaderEpoch) {
            return [stopFetching, state] as const
          }
          // Reset only from where that fetch was made, and only forwards: an answer to an older
          // fetch (the log has moved since) must not empty the log.
          const logEndOffset = yield* log.logEndOffset
          if (msg.fetchOffset === logEndOffset && msg.logStartOffset > logEndOffset) {
            yield* Effect.logInfo(
              `replica ${tp.topic}:${tp.partition}@${options.brokerId}: fetch offset ${msg.fetchOffset} is below the leader's log start ${msg.logStartOffset}; starting the log afresh there`
            )
            yield* Effect.orDie(log.truncateFullyAndStartAt(msg.logStartOffset))
            state.producers = ProducerState.empty
            state.logEndOffset = msg.logStartOffset
            state.highWatermark = msg.logStartOffset
          }
          return [yield* fetchPosition, state] as const
        }),
      Tick: (state, _, ctx) => {
        const maintained = maintainIsr(ctx, state, state.deadlines.nowMs())
        return maintained === Effect.void ? Effect.succeed(state) : Effect.as(maintained, state)
      },
      IsrChangeDone: (state, msg) =>
        Effect.sync(() => {
          state.isrChangeInFlight = false
          const updated = msg.state
          const current = state.partition
          if (
            updated !== undefined && current !== undefined && updated.leaderEpoch === current.leaderEpoch &&
            updated.partitionEpoch > current.partitionEpoch
          ) {
            state.partition = updated
            advanceHighWatermark(options, state)
          }
          return state
        }),
      Describe: (state) =>
        Effect.gen(function*() {
          return [{
            role: state.role,
            leaderEpoch: state.partition?.leaderEpoch ?? -1,
            isr: state.partition?.isr ?? [],
            highWatermark: state.highWatermark,
            logStartOffset: yield* log.logStartOffset,
            logEndOffset: yield* log.logEndOffset
          }, state] as const
        })
    }
  })
}
