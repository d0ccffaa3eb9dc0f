/**
 * A consumer's membership in its group, Kafka's classic protocol from the client side: join
 * (the leader runs the assignor), sync, then heartbeat until the coordinator asks for a
 * rebalance; revoke before rejoining (eager) or only what moved, followed by a second round
 * (cooperative, KIP-429). Partition hand-over goes through the `Hooks` the consumer provides.
 */
import { Clock, Effect } from "effect"
import type * as Assignor from "../../group/Assignor.js"
import * as GP from "../../group/GroupProtocol.js"
import * as TopicPartition from "../../group/TopicPartition.js"
import * as Codec from "./groupCodec.js"
import type * as GroupCoordinator from "./groupCoordinator.js"

type TP = TopicPartition.TopicPartition

/** Settings of a membership. */
export interface Settings {
  readonly groupId: string
  readonly groupInstanceId: string | undefined
  readonly clientId: string
  readonly assignors: ReadonlyArray<Assignor.Assignor>
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly requestTimeoutMs: number
}

/** What the membership knows now (read by the consumer for commits). */
export interface State {
  memberId: string
  generationId: number
  topics: ReadonlyArray<string>
  owned: ReadonlyArray<TP>
  /** Set to make the member rejoin at its next heartbeat (new subscription). */
  rejoinRequested: boolean
  /** Completed rebalances seen by this member (tests and metrics). */
  rebalances: number
}

/** How the consumer gives partitions up and takes them. */
export interface Hooks {
  /** Stop fetching `partitions`; commit what was processed unless `lost` (the member was fenced). */
  readonly revoke: (partitions: ReadonlyArray<TP>, lost: boolean) => Effect.Effect<void>
  /** Start fetching `added` (positions from committed offsets); `all` is the whole new assignment. */
  readonly assign: (all: ReadonlyArray<TP>, added: ReadonlyArray<TP>) => Effect.Effect<void>
  /** Partition counts of `topics` (fresh metadata), for the leader's assignment. */
  readonly partitionCounts: (topics: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, number>>
}

/** An error that ends the membership: the group refused this member for good. */
export type Fatal = GP.Failure

const fatalTags: ReadonlySet<string> = new Set([
  "InconsistentGroupProtocol",
  "InvalidSessionTimeout",
  "GroupMaxSizeReached",
  "FencedInstanceId",
  "InvalidGroupId"
])

const minus = (a: ReadonlyArray<TP>, b: ReadonlyArray<TP>): Array<TP> => {
  const keys = new Set(b.map(TopicPartition.key))
  return a.filter((tp) => !keys.has(TopicPartition.key(tp)))
}

/** A fresh state for `topics`. */
export const initial = (topics: ReadonlyArray<string>): State => ({
  memberId: "",
  generationId: -1,
  topics,
  owned: [],
  rejoinRequested: false,
  rebalances: 0
})

/** Whether the member uses the cooperative protocol: only when every assignor it offers is cooperative. */
export const isCooperative = (assignors: ReadonlyArray<Assignor.Assignor>): boolean =>
  assignors.length > 0 && assignors.every((a) => a.rebalanceProtocol === "cooperative")

/** Runs the membership until it fails with a fatal group error (or is interrupted). */
export const run = (
  link: GroupCoordinator.Link,
  settings: Settings,
  state: State,
  hooks: Hooks
): Effect.Effect<never, Fatal> => {
  const cooperative = isCooperative(settings.assignors)
  const fatal = (error: { readonly _tag: string }) => fatalTags.has(error._tag)

  const lose = Effect.suspend(() => {
    const owned = state.owned
    state.owned = []
    state.memberId = ""
    state.generationId = -1
    return owned.length === 0 ? Effect.void : hooks.revoke(owned, true)
  })

  const joinRequest = () =>
    new GP.JoinGroup({
      groupId: settings.groupId,
      memberId: state.memberId,
      ...(settings.groupInstanceId === undefined ? {} : { groupInstanceId: settings.groupInstanceId }),
      clientId: settings.clientId,
      protocolType: Codec.protocolType,
      protocols: settings.assignors.map((a) => ({
        name: a.name,
        metadata: Codec.encodeSubscription(state.topics, cooperative ? state.owned : [])
      })),
      sessionTimeoutMs: settings.sessionTimeoutMs,
      rebalanceTimeoutMs: settings.rebalanceTimeoutMs
    })

  /** One rebalance round; succeeds with whether another round must follow at once. */
  const rebalance: Effect.Effect<boolean, Fatal> = Effect.gen(function*() {
    if (!cooperative && state.owned.length > 0) {
      const owned = state.owned
      state.owned = []
      yield* hooks.revoke(owned, false)
    }
    const joined = yield* Effect.either(
      link.askRetrying(joinRequest(), { timeoutMs: settings.rebalanceTimeoutMs + settings.requestTimeoutMs })
    )
    if (joined._tag === "Left") {
      const error = joined.left
      if (fatal(error)) return yield* Effect.fail(error as Fatal)
      if (error._tag === "UnknownMemberId") yield* lose
      return true
    }
    const j = joined.right
    state.memberId = j.memberId
    state.generationId = j.generationId
    let assignments: Array<{ readonly memberId: string; readonly assignment: Uint8Array }> = []
    if (j.memberId === j.leaderId) {
      const assignor = settings.assignors.find((a) => a.name === j.protocolName) ?? settings.assignors[0]!
      const counts = yield* hooks.partitionCounts(Codec.subscribedTopics(j.members))
      assignments = Codec.assign(assignor, j.members, counts)
    }
    const synced = yield* Effect.either(link.askRetrying(
      new GP.SyncGroup({
        groupId: settings.groupId,
        memberId: j.memberId,
        ...(settings.groupInstanceId === undefined ? {} : { groupInstanceId: settings.groupInstanceId }),
        generationId: j.generationId,
        assignments
      }),
      { timeoutMs: settings.rebalanceTimeoutMs + settings.requestTimeoutMs }
    ))
    if (synced._tag === "Left") {
      const error = synced.left
      if (fatal(error)) return yield* Effect.fail(error as Fatal)
      if (error._tag === "UnknownMemberId") yield* lose
      return true
    }
    const assigned = Codec.decodeAssignment(synced.right.assignment)
    const revoked = minus(state.owned, assigned)
    const added = minus(assigned, state.owned)
    if (revoked.length > 0) yield* hooks.revoke(revoked, false)
    state.owned = assigned
    state.rebalances++
    yield* hooks.assign(assigned, added)
    return cooperative && revoked.length > 0
  })

  /** Heartbeats until the member must rejoin. */
  const heartbeats: Effect.Effect<void, Fatal> = Effect.gen(function*() {
    let lastOkMs = yield* Clock.currentTimeMillis
    while (true) {
      yield* Effect.sleep(settings.heartbeatIntervalMs)
      if (state.rejoinRequested) {
        state.rejoinRequested = false
        return
      }
      const beat = yield* Effect.either(link.ask(
        new GP.Heartbeat({
          groupId: settings.groupId,
          memberId: state.memberId,
          ...(settings.groupInstanceId === undefined ? {} : { groupInstanceId: settings.groupInstanceId }),
          generationId: state.generationId
        }),
        settings.requestTimeoutMs
      ))
      const nowMs = yield* Clock.currentTimeMillis
      if (beat._tag === "Right") {
        lastOkMs = nowMs
        continue
      }
      const error = beat.left
      if (fatal(error)) return yield* Effect.fail(error as Fatal)
      if (error._tag === "RebalanceInProgress" || error._tag === "IllegalGeneration") return
      if (error._tag === "UnknownMemberId" || nowMs - lastOkMs >= settings.sessionTimeoutMs) return yield* lose
      // The coordinator moved or did not answer: the next heartbeat finds it again.
    }
  })

  return Effect.gen(function*() {
    while (true) {
      const again = yield* rebalance
      if (!again) yield* heartbeats
    }
  })
}
