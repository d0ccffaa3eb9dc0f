/**
 * The group coordinator: one actor per broker (`broker/group-coordinator`), holding the state of
 * every group whose `__consumer_offsets` partition (`coordinatorPartition(groupId, n)`) this
 * broker leads, so a group moves with that leader on failover. Each request is turned into a
 * `Group.step` event; the actor performs the outputs: replies (answered later, off the actor's
 * fiber, so a join can wait for the rebalance), timers on Effect's Clock, and commits written to
 * the offsets partition with acks=all before they are acknowledged. When the broker starts
 * leading an offsets partition the coordinator reads it back (`Group.loadOffset`) and answers
 * `CoordinatorLoadInProgress` until then; partitions it stops leading are unloaded (their
 * groups' parked requests get `NotCoordinator`).
 *
 * One actor per broker rather than per group: groups are many and short-lived, and loading is
 * per partition, so a map of pure group states behind one mailbox keeps routing in one place.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Either, Exit, Fiber, FiberId, type Scope } from "effect"
import * as Actor from "../actor/Actor.js"
import type * as Broker from "../cluster/Broker.js"
import type { ClusterMetadata } from "../cluster/ControllerProtocol.js"
import type { LogStore } from "../cluster/LogStore.js"
import * as Errors from "./Errors.js"
import * as Group from "./Group.js"
import * as GP from "./GroupProtocol.js"
import * as GroupState from "./GroupState.js"
import * as Io from "./internal/coordinatorIo.js"
import * as OffsetKey from "./OffsetKey.js"

/** Options of a coordinator. */
export interface Options {
  readonly brokerId: number
  /** The broker's logs (read when loading an offsets partition). */
  readonly logs: LogStore
  /** Settings of every group (`initialRebalanceDelayMs`, session timeout bounds...). */
  readonly groupConfig?: Partial<GroupState.Config>
  /** How long a commit may wait for acks=all (default 5 000). */
  readonly commitTimeoutMs?: number
}

interface Owned {
  readonly leaderEpoch: number
  loaded: boolean
}

interface RunningTimer {
  readonly timer: GroupState.Timer
  readonly token: number
  readonly fiber: Fiber.RuntimeFiber<void>
}

type Reply = Deferred.Deferred<GroupState.Response, GP.Failure>

/** The coordinator's state: mutable, owned by the actor's fiber. */
interface State {
  metadata: ClusterMetadata | undefined
  /** Partitions of `__consumer_offsets` (0 while the topic does not exist). */
  partitions: number
  readonly owned: Map<number, Owned>
  readonly groups: Map<string, GroupState.Group>
  readonly replies: Map<number, Reply>
  /** Commits being written, by reply key. */
  readonly persisting: Map<number, { readonly groupId: string; readonly offsets: ReadonlyArray<GroupState.CommittedOffset> }>
  readonly timers: Map<string, RunningTimer>
  nextKey: number
  nextToken: number
  readonly scope: Scope.Scope
}

type Ctx = Actor.Context<GP.GroupCoordinatorProtocol>

/** A reply of the wrong kind: the group machine broke its contract (a defect). */
const unexpected = (r: GroupState.Response) => Effect.dieMessage(`group answered ${r._tag} unexpectedly`)

const timerId = (groupId: string, key: string) => `${groupId}\u0000${key}`

/** The broker a group's coordinator lives on, from cluster metadata. Pure. */
export const findCoordinator = (
  metadata: ClusterMetadata | undefined,
  groupId: string
): Either.Either<GP.CoordinatorInfo, Errors.CoordinatorNotAvailable> => {
  const topic = metadata?.topics.find((t) => t.name === OffsetKey.topic)
  if (metadata === undefined || topic === undefined || topic.partitions.length === 0) {
    return Either.left(new Errors.CoordinatorNotAvailable({ groupId }))
  }
  const partition = OffsetKey.coordinatorPartition(groupId, topic.partitions.length)
  const leader = topic.partitions.find((p) => p.partition === partition)?.leader ?? -1
  const broker = metadata.brokers.find((b) => b.brokerId === leader)
  return broker === undefined
    ? Either.left(new Errors.CoordinatorNotAvailable({ groupId }))
    : Either.right({ brokerId: broker.brokerId, nodeId: broker.nodeId, partition })
}

/** The coordinator's behavior. */
export const behavior = (options: Options) => {
  const commitTimeoutMs = options.commitTimeoutMs ?? 5_000
  const config = options.groupConfig ?? {}

  const settle = (state: State, replyTo: number, exit: Exit.Exit<GroupState.Response, GP.Failure>) => {
    const reply = state.replies.get(replyTo)
    if (reply === undefined) return
    state.replies.delete(replyTo)
    Deferred.unsafeDone(reply, exit)
  }

  const cancelTimer = (state: State, id: string) => {
    const running = state.timers.get(id)
    if (running === undefined) return Effect.void
    state.timers.delete(id)
    return Fiber.interruptFork(running.fiber)
  }

  /** Writes `batch` to the group's offsets partition (acks=all) off the actor's fiber, then tells it `done(ok)`. */
  const persist = (state: State, ctx: Ctx, groupId: string, batch: Uint8Array, done: (ok: boolean) => GP.PersistDone | GP.GroupPersistDone) =>
    Io.persist(ctx.node, OffsetKey.coordinatorPartition(groupId, state.partitions), batch, commitTimeoutMs).pipe(
      Effect.flatMap((ok) => Effect.ignore(ctx.self.tell(done(ok)))),
      Effect.forkIn(state.scope),
      Effect.asVoid
    )

  /** Performs a transition's outputs, in order. */
  const perform = (state: State, ctx: Ctx, groupId: string, outputs: ReadonlyArray<GroupState.Output>) =>
    Effect.forEach(outputs, (output) =>
      GroupState.Output.$match(output, {
        Reply: ({ replyTo, result }) =>
          Effect.sync(() => settle(state, replyTo, Either.isRight(result) ? Exit.succeed(result.right) : Exit.fail(result.left))),
        StartTimer: ({ delayMs, timer }) =>
          Effect.gen(function*() {
            const key = GroupState.timerKey(timer)
            const id = timerId(groupId, key)
            yield* cancelTimer(state, id)
            const token = state.nextToken++
            const fiber = yield* Effect.sleep(Duration.millis(delayMs)).pipe(
              Effect.zipRight(Effect.ignore(ctx.self.tell(new GP.TimerFired({ groupId, key, token })))),
              Effect.forkIn(state.scope)
            )
            state.timers.set(id, { timer, token, fiber })
          }),
        CancelTimer: ({ timer }) => cancelTimer(state, timerId(groupId, GroupState.timerKey(timer))),
        PersistGroup: ({ generationId, nextMemberSeq }) =>
          Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
            persist(state, ctx, groupId, Io.groupBatch(groupId, { generationId, nextMemberSeq }, nowMs), (ok) =>
              new GP.GroupPersistDone({ groupId, generationId, ok }))),
        PersistOffsets: ({ offsets, replyTo }) =>
          Effect.suspend(() => {
            state.persisting.set(replyTo, { groupId, offsets })
            return persist(state, ctx, groupId, Io.commitBatch(groupId, offsets), (ok) => new GP.PersistDone({ replyTo, ok }))
          })
      }), { discard: true })

  /** A new group of `groupId`: its member ids carry the offsets partition's leader epoch. */
  const newGroup = (state: State, groupId: string) => {
    const owned = state.owned.get(OffsetKey.coordinatorPartition(groupId, state.partitions))
    return Group.make(groupId, config, owned === undefined ? "" : `e${owned.leaderEpoch}-`)
  }

  /** Feeds one event to a group (created Empty if new) and performs the outputs. */
  const stepGroup = (state: State, ctx: Ctx, groupId: string, event: GroupState.Event) =>
    Effect.gen(function*() {
      const group = state.groups.get(groupId) ?? newGroup(state, groupId)
      const nowMs = yield* Clock.currentTimeMillis
      const next = Group.step(group, event, nowMs)
      state.groups.set(groupId, next.group)
      yield* perform(state, ctx, groupId, next.outputs)
    })

  /** Whether this coordinator serves `groupId` now. */
  const route = (state: State, groupId: string): Either.Either<void, GP.Failure> => {
    if (state.partitions === 0) return Either.left(new Errors.NotCoordinator({ groupId }))
    const owned = state.owned.get(OffsetKey.coordinatorPartition(groupId, state.partitions))
    if (owned === undefined) return Either.left(new Errors.NotCoordinator({ groupId }))
    if (!owned.loaded) return Either.left(new GP.CoordinatorLoadInProgress({ groupId }))
    return Either.void
  }

  /** Runs a group request: routes it, steps the group, and answers once the group replies. */
  const request = <A>(
    state: State,
    ctx: Ctx,
    groupId: string,
    make: (replyTo: number) => GroupState.Event,
    toReply: (response: GroupState.Response) => Effect.Effect<A>
  ) =>
    Effect.gen(function*() {
      const routed = route(state, groupId)
      if (Either.isLeft(routed)) return yield* Effect.fail(routed.left)
      const replyTo = state.nextKey++
      const reply: Reply = Deferred.unsafeMake(FiberId.none)
      state.replies.set(replyTo, reply)
      yield* stepGroup(state, ctx, groupId, make(replyTo))
      return [Actor.later(Effect.flatMap(Deferred.await(reply), toReply)), state] as const
    })

  /** Unloads an offsets partition: its groups answer `NotCoordinator` and are dropped. */
  const unloadPartition = (state: State, ctx: Ctx, partition: number) =>
    Effect.gen(function*() {
      state.owned.delete(partition)
      for (const groupId of [...state.groups.keys()]) {
        if (OffsetKey.coordinatorPartition(groupId, state.partitions) !== partition) continue
        yield* stepGroup(state, ctx, groupId, GroupState.Event.Unload())
        state.groups.delete(groupId)
      }
    })

  const onMetadata = (state: State, ctx: Ctx, metadata: ClusterMetadata) =>
    Effect.gen(function*() {
      if (state.metadata !== undefined && metadata.version < state.metadata.version) return
      state.metadata = metadata
      const topic = metadata.topics.find((t) => t.name === OffsetKey.topic)
      const partitions = topic?.partitions ?? []
      if (state.partitions === 0) state.partitions = partitions.length
      const leading = new Map(
        partitions.filter((p) => p.leader === options.brokerId).map((p) => [p.partition, p.leaderEpoch])
      )
      for (const [partition, owned] of [...state.owned]) {
        if (leading.get(partition) !== owned.leaderEpoch) yield* unloadPartition(state, ctx, partition)
      }
      for (const [partition, leaderEpoch] of leading) {
        if (state.owned.has(partition)) continue
        state.owned.set(partition, { leaderEpoch, loaded: false })
        yield* Io.load(ctx.node, options.logs, partition, leaderEpoch).pipe(
          Effect.flatMap((records) => ctx.self.tell(new GP.LoadDone({ partition, leaderEpoch, records }))),
          Effect.ignore,
          Effect.forkIn(state.scope)
        )
      }
    })

  const onLoaded = (state: State, msg: GP.LoadDone) =>
    Effect.sync(() => {
      const owned = state.owned.get(msg.partition)
      if (owned === undefined || owned.leaderEpoch !== msg.leaderEpoch || owned.loaded) return
      for (const record of msg.records) {
        const groupKey = OffsetKey.decodeGroupKey(record.key)
        if (Either.isRight(groupKey)) {
          const metadata = record.value === null ? undefined : Either.getOrUndefined(OffsetKey.decodeGroupValue(record.value))
          if (metadata === undefined) continue
          const group = state.groups.get(groupKey.right) ?? newGroup(state, groupKey.right)
          state.groups.set(groupKey.right, Group.loadGeneration(group, metadata.generationId, metadata.nextMemberSeq))
          continue
        }
        const key = OffsetKey.decodeKey(record.key)
        const value = OffsetKey.decodeValue(record.value)
        if (Either.isLeft(key) || Either.isLeft(value)) continue
        const groupId = key.right.groupId
        const group = state.groups.get(groupId) ?? newGroup(state, groupId)
        state.groups.set(groupId, Group.loadOffset(group, key.right, value.right))
      }
      owned.loaded = true
    })

  return Actor.behavior({
    protocol: GP.GroupCoordinatorProtocol,
    init: (): Effect.Effect<State, never, Scope.Scope> =>
      Effect.map(Effect.scope, (scope) => ({
        metadata: undefined,
        partitions: 0,
        owned: new Map(),
        groups: new Map(),
        replies: new Map(),
        persisting: new Map(),
        timers: new Map(),
        nextKey: 0,
        nextToken: 0,
        scope
      })),
    handlers: {
      FindCoordinator: (state, req) =>
        Effect.map(findCoordinator(state.metadata, req.groupId), (info) => [info, state] as const),
      JoinGroup: (state, req, ctx) =>
        request(state, ctx, req.groupId, (replyTo) =>
          GroupState.Event.JoinGroup({
            replyTo,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            clientId: req.clientId,
            protocolType: req.protocolType,
            protocols: req.protocols,
            sessionTimeoutMs: req.sessionTimeoutMs,
            rebalanceTimeoutMs: req.rebalanceTimeoutMs
          }), (r): Effect.Effect<GP.JoinResult> => {
          if (r._tag !== "Joined") return unexpected(r)
          return Effect.succeed({
            generationId: r.generationId,
            memberId: r.memberId,
            leaderId: r.leaderId,
            protocolType: r.protocolType,
            protocolName: r.protocolName,
            members: r.members.map((m) => ({
              memberId: m.memberId,
              metadata: m.metadata,
              ...(m.groupInstanceId === undefined ? {} : { groupInstanceId: m.groupInstanceId })
            }))
          })
        }),
      SyncGroup: (state, req, ctx) =>
        request(state, ctx, req.groupId, (replyTo) =>
          GroupState.Event.SyncGroup({
            replyTo,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            generationId: req.generationId,
            protocolType: undefined,
            protocolName: undefined,
            assignments: req.assignments
          }), (r) => {
          if (r._tag !== "Synced") return unexpected(r)
          return Effect.succeed({ protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment })
        }),
      Heartbeat: (state, req, ctx) =>
        request(state, ctx, req.groupId, (replyTo) =>
          GroupState.Event.Heartbeat({
            replyTo,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            generationId: req.generationId
          }), () => Effect.void),
      LeaveGroup: (state, req, ctx) =>
        request(state, ctx, req.groupId, (replyTo) =>
          GroupState.Event.LeaveGroup({ replyTo, memberId: req.memberId, groupInstanceId: req.groupInstanceId }), () =>
          Effect.void),
      OffsetCommit: (state, req, ctx) =>
        request(state, ctx, req.groupId, (replyTo) =>
          GroupState.Event.OffsetCommit({
            replyTo,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            generationId: req.generationId,
            offsets: req.offsets
          }), () => Effect.void),
      OffsetFetch: (state, req, ctx) =>
        request(
          state,
          ctx,
          req.groupId,
          (replyTo) => GroupState.Event.OffsetFetch({ replyTo, partitions: req.partitions }),
          (r) => (r._tag === "Fetched" ? Effect.succeed(r.offsets) : unexpected(r))
        ),
      DescribeGroup: (state, req) =>
        Effect.gen(function*() {
          const routed = route(state, req.groupId)
          if (Either.isLeft(routed)) return yield* Effect.fail(routed.left)
          const d = Group.describe(state.groups.get(req.groupId) ?? Group.make(req.groupId, config))
          const description: GP.GroupDescription = {
            groupId: d.groupId,
            state: d.state,
            generationId: d.generationId,
            ...(d.protocolType === undefined ? {} : { protocolType: d.protocolType }),
            ...(d.protocolName === undefined ? {} : { protocolName: d.protocolName }),
            ...(d.leaderId === undefined ? {} : { leaderId: d.leaderId }),
            members: d.members.map((m) => ({
              memberId: m.memberId,
              clientId: m.clientId,
              assignment: m.assignment,
              ...(m.groupInstanceId === undefined ? {} : { groupInstanceId: m.groupInstanceId })
            }))
          }
          return [description, state] as const
        }),
      ListGroups: (state) =>
        Effect.succeed([
          [...state.groups.values()].map((g) => ({
            groupId: g.groupId,
            state: g._tag,
            ...(g.protocolType === undefined ? {} : { protocolType: g.protocolType })
          })),
          state
        ] as const),
      CoordinatorMetadata: (state, msg, ctx) => Effect.as(onMetadata(state, ctx, msg.metadata), state),
      TimerFired: (state, msg, ctx) =>
        Effect.gen(function*() {
          const id = timerId(msg.groupId, msg.key)
          const running = state.timers.get(id)
          if (running === undefined || running.token !== msg.token) return state
          state.timers.delete(id)
          if (!state.groups.has(msg.groupId)) return state
          yield* stepGroup(state, ctx, msg.groupId, GroupState.timerEvent(running.timer))
          return state
        }),
      PersistDone: (state, msg, ctx) =>
        Effect.gen(function*() {
          const pending = state.persisting.get(msg.replyTo)
          state.persisting.delete(msg.replyTo)
          if (pending === undefined) return state
          const { groupId, offsets } = pending
          const group = state.groups.get(groupId)
          if (group === undefined) {
            settle(state, msg.replyTo, Exit.fail(new Errors.NotCoordinator({ groupId })))
            return state
          }
          yield* stepGroup(
            state,
            ctx,
            groupId,
            msg.ok
              ? GroupState.Event.OffsetsPersisted({ replyTo: msg.replyTo, offsets })
              : GroupState.Event.OffsetsPersistFailed({ replyTo: msg.replyTo })
          )
          return state
        }),
      GroupPersistDone: (state, msg, ctx) =>
        Effect.gen(function*() {
          if (!state.groups.has(msg.groupId)) return state
          yield* stepGroup(
            state,
            ctx,
            msg.groupId,
            msg.ok
              ? GroupState.Event.GroupPersisted({ generationId: msg.generationId })
              : GroupState.Event.GroupPersistFailed({ generationId: msg.generationId })
          )
          return state
        }),
      LoadDone: (state, msg) => Effect.as(onLoaded(state, msg), state)
    }
  })
}

/** The broker extension that hosts a coordinator and tells it every metadata snapshot. */
export const extension = (options: Omit<Options, "brokerId" | "logs"> = {}): Broker.Extension => (ctx, host) =>
  Effect.gen(function*() {
    const ref = yield* Effect.orDie(ctx.spawn(
      GP.coordinatorName,
      behavior({ ...options, brokerId: host.brokerId, logs: host.logs })
    ))
    // The broker's own (typed) snapshot: no validation per push.
    return (metadata) => Effect.ignore(ref.tell(new GP.CoordinatorMetadata({ metadata }, true)))
  })
