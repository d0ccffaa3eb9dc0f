/**
 * The admin client for consumer groups: list the cluster's groups (every broker's coordinator
 * answers for the groups it serves), describe one (state, members and their assignments,
 * committed offsets against the high watermark, lag), fetch its committed offsets, and reset
 * them. As in Kafka, offsets are reset only while the group is Empty: the reset is an
 * `OffsetCommit` with generation -1 and no member id, which the coordinator accepts only then,
 * so a member joining between the check and the commit still makes the reset fail.
 *
 * @since 0.1.0
 */
import { Data, Effect } from "effect"
import type { AskTimeout, DeliveryError } from "../actor/ActorError.js"
import * as Address from "../actor/Address.js"
import type { UnknownTopicOrPartition } from "../cluster/Errors.js"
import * as GP from "../group/GroupProtocol.js"
import * as TopicPartition from "../group/TopicPartition.js"
import * as NodeId from "../transport/NodeId.js"
import * as Admin from "./Admin.js"
import type * as ClientError from "./ClientError.js"
import * as Codec from "./internal/groupCodec.js"
import * as Link from "./internal/groupCoordinator.js"
import * as MetadataCache from "./MetadataCache.js"

/** Options of a group admin: the metadata options (`node`, `bootstrap`, timeouts, retries). */
export interface Options extends MetadataCache.Options {
  /** Attempts of a group request while the coordinator moves or loads (default 10). */
  readonly coordinatorAttempts?: number
}

/** A group's state, as its coordinator reports it. */
export type GroupState = GP.GroupDescription["state"]

/** A group in a listing. */
export interface GroupOverview {
  readonly groupId: string
  readonly state: string
  readonly protocolType?: string
}

/** A member as `describeGroup` shows it: its decoded assignment (consumer protocol only). */
export interface MemberDescription {
  readonly memberId: string
  readonly groupInstanceId?: string
  readonly clientId: string
  readonly assignment: ReadonlyArray<TopicPartition.TopicPartition>
}

/** A partition's committed offset (-1: none), high watermark (-1: unknown) and lag (-1: unknown). */
export interface PartitionOffsetLag {
  readonly topic: string
  readonly partition: number
  readonly committed: number
  readonly highWatermark: number
  readonly lag: number
}

/** A group as `describeGroup` shows it. */
export interface GroupDescription {
  readonly groupId: string
  readonly state: GroupState
  readonly protocolType?: string
  readonly protocol?: string
  readonly leaderId?: string
  readonly generationId: number
  /** Where the coordinator is. */
  readonly coordinator: GP.CoordinatorInfo
  readonly members: ReadonlyArray<MemberDescription>
  /** Every partition with a commit or an owner, sorted. */
  readonly offsets: ReadonlyArray<PartitionOffsetLag>
}

/** Where to move a group's offsets: Kafka's `--to-earliest`, `--to-latest`, `--to-offset`, `--to-datetime`. */
export type ResetTo = "earliest" | "latest" | { readonly offset: number } | { readonly timestamp: number }

/** What to reset: one topic, all its partitions unless some are named. */
export interface ResetSpec {
  readonly topic: string
  readonly to: ResetTo
  readonly partitions?: ReadonlyArray<number>
}

/** The group has members: offsets can only be reset while it is Empty (Kafka's `NON_EMPTY_GROUP`). */
export class GroupNotEmpty extends Data.TaggedError("GroupNotEmpty")<{
  readonly groupId: string
  readonly state: string
}> {
  override get message() {
    return `group ${this.groupId} is ${this.state}: offsets can only be reset while it has no members`
  }
}

/** Why a group request failed: the coordinator's answer, or no answer. */
export type GroupRequestError = GP.Failure | AskTimeout | DeliveryError

/** Why `describeGroup` failed. */
export type DescribeError = GroupRequestError

/** Why `fetchOffsets` failed. */
export type FetchOffsetsError = GroupRequestError | UnknownTopicOrPartition | ClientError.BrokerNotAvailable

/** Why `resetOffsets` failed. */
export type ResetError = GroupRequestError | GroupNotEmpty | UnknownTopicOrPartition | Admin.ListOffsetsError

/** The group admin. */
export interface GroupAdmin {
  /** Every group of the cluster (from every live broker's coordinator), sorted by id. */
  readonly listGroups: Effect.Effect<ReadonlyArray<GroupOverview>, ClientError.BrokerNotAvailable>
  /** State, members, assignments, committed offsets and lag of a group (an unknown group is Empty). */
  readonly describeGroup: (groupId: string) => Effect.Effect<GroupDescription, DescribeError>
  /** Committed offsets of the given topics' partitions (-1: none), or of every committed partition. */
  readonly fetchOffsets: (
    groupId: string,
    topics?: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<GP.FetchedOffset>, FetchOffsetsError>
  /** Moves the group's committed offsets; fails with `GroupNotEmpty` unless the group is Empty. Returns the new offsets. */
  readonly resetOffsets: (
    groupId: string,
    spec: ResetSpec
  ) => Effect.Effect<ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly offset: number }>, ResetError>
}

/** Lag of a committed offset against the high watermark: -1 when either is unknown. Pure. */
export const lagOf = (committed: number, highWatermark: number): number =>
  committed < 0 || highWatermark < 0 ? -1 : Math.max(0, highWatermark - committed)

/** Whether a group in `state` may have its offsets reset (Kafka: only an inactive group). Pure. */
export const canReset = (state: string): boolean => state === "Empty" || state === "Dead"

/**
 * The offset a reset moves a partition to. An offset outside the log is clamped into
 * `[earliest, latest]`, and a timestamp after every record means the log end, as Kafka's
 * `kafka-consumer-groups --reset-offsets` does. `atTimestamp` is ListOffsets' answer (-1: none). Pure.
 */
export const resetTarget = (
  to: ResetTo,
  range: { readonly earliest: number; readonly latest: number },
  atTimestamp = -1
): number => {
  if (to === "earliest") return range.earliest
  if (to === "latest") return range.latest
  if ("offset" in to) return Math.min(range.latest, Math.max(range.earliest, to.offset))
  return atTimestamp < 0 ? range.latest : atTimestamp
}

/** Errors that mean "a member is there": the coordinator refused a member-less commit. */
const memberTags: ReadonlySet<string> = new Set(["UnknownMemberId", "IllegalGeneration", "RebalanceInProgress"])

/** Builds a group admin. */
export const make = (options: Options): Effect.Effect<GroupAdmin> =>
  Effect.gen(function*() {
    const cache = yield* MetadataCache.make(options)
    const admin = yield* Admin.make(options)
    const attempts = options.coordinatorAttempts ?? 10
    const timeoutMs = cache.options.requestTimeoutMs
    const linkOf = (groupId: string) => Link.make(options.node, cache, options.bootstrap, groupId)
    const ask = <R extends Link.GroupRequest>(groupId: string, request: R) =>
      linkOf(groupId).askRetrying(request, { attempts })

    const listGroups = Effect.gen(function*() {
      const brokers = (yield* cache.refresh).brokers.filter((b) => !b.fenced)
      const answers = yield* Effect.forEach(brokers, (b) =>
        options.node.ref(Address.make(NodeId.make(b.nodeId), GP.coordinatorPath), GP.GroupCoordinatorProtocol)
          .ask(new GP.ListGroups(), { timeoutMs })
          .pipe(Effect.orElseSucceed(() => [])), { concurrency: "unbounded" })
      const groups = new Map<string, GroupOverview>()
      for (const g of answers.flat()) {
        groups.set(g.groupId, {
          groupId: g.groupId,
          state: g.state,
          ...(g.protocolType === undefined ? {} : { protocolType: g.protocolType })
        })
      }
      return [...groups.values()].sort((a, b) => a.groupId.localeCompare(b.groupId))
    })

    const highWatermark = (topic: string, partition: number) =>
      admin.listOffset(topic, partition, "latest").pipe(Effect.map((o) => o.offset), Effect.orElseSucceed(() => -1))

    const describeGroup = (groupId: string) =>
      Effect.gen(function*() {
        const link = linkOf(groupId)
        const coordinator = yield* link.askRetrying(new GP.FindCoordinator({ groupId }), { attempts })
        const group = yield* link.askRetrying(new GP.DescribeGroup({ groupId }), { attempts })
        const committed = yield* link.askRetrying(new GP.OffsetFetch({ groupId }), { attempts })
        const members: Array<MemberDescription> = group.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          assignment: group.protocolType === Codec.protocolType ? Codec.decodeAssignment(m.assignment) : [],
          ...(m.groupInstanceId === undefined ? {} : { groupInstanceId: m.groupInstanceId })
        }))
        const byKey = new Map<string, { tp: TopicPartition.TopicPartition; committed: number }>()
        for (const m of members) {
          for (const tp of m.assignment) byKey.set(TopicPartition.key(tp), { tp, committed: -1 })
        }
        for (const c of committed) {
          byKey.set(TopicPartition.key(c), { tp: TopicPartition.make(c.topic, c.partition), committed: c.offset })
        }
        const sorted = TopicPartition.sort(Array.from(byKey.values(), (e) => e.tp))
        const offsets = yield* Effect.forEach(sorted, (tp) =>
          Effect.map(highWatermark(tp.topic, tp.partition), (hw): PartitionOffsetLag => {
            const c = byKey.get(TopicPartition.key(tp))!.committed
            return { topic: tp.topic, partition: tp.partition, committed: c, highWatermark: hw, lag: lagOf(c, hw) }
          }), { concurrency: 16 })
        const description: GroupDescription = {
          groupId: group.groupId,
          state: group.state,
          generationId: group.generationId,
          coordinator,
          members,
          offsets,
          ...(group.protocolType === undefined ? {} : { protocolType: group.protocolType }),
          ...(group.protocolName === undefined ? {} : { protocol: group.protocolName }),
          ...(group.leaderId === undefined ? {} : { leaderId: group.leaderId })
        }
        return description
      })

    const partitionsOf = (topics: ReadonlyArray<string>) =>
      Effect.map(
        Effect.forEach(topics, (topic) =>
          Effect.map(cache.topic(topic), (info) => info.partitions.map((p) => ({ topic, partition: p.partition })))),
        (lists) => lists.flat()
      )

    const fetchOffsets = (groupId: string, topics?: ReadonlyArray<string>) =>
      topics === undefined
        ? ask(groupId, new GP.OffsetFetch({ groupId }))
        : Effect.flatMap(partitionsOf(topics), (partitions) => ask(groupId, new GP.OffsetFetch({ groupId, partitions })))

    const resetOffsets = (groupId: string, spec: ResetSpec) =>
      Effect.gen(function*() {
        const group = yield* ask(groupId, new GP.DescribeGroup({ groupId }))
        if (!canReset(group.state)) return yield* Effect.fail(new GroupNotEmpty({ groupId, state: group.state }))
        const all = (yield* cache.topic(spec.topic)).partitions.map((p) => p.partition)
        const chosen = spec.partitions === undefined ? all : all.filter((p) => spec.partitions!.includes(p))
        const offsets = yield* Effect.forEach(chosen, (partition) =>
          Effect.gen(function*() {
            const earliest = (yield* admin.listOffset(spec.topic, partition, "earliest")).offset
            const latest = (yield* admin.listOffset(spec.topic, partition, "latest")).offset
            const at = typeof spec.to === "object" && "timestamp" in spec.to
              ? (yield* admin.listOffset(spec.topic, partition, { timestamp: spec.to.timestamp })).offset
              : -1
            return { topic: spec.topic, partition, offset: resetTarget(spec.to, { earliest, latest }, at) }
          }), { concurrency: 16 })
        if (offsets.length === 0) return offsets
        const commit = new GP.OffsetCommit({
          groupId,
          memberId: "",
          generationId: -1,
          offsets: offsets.map((o) => ({ ...o, metadata: "" }))
        })
        yield* ask(groupId, commit).pipe(
          Effect.catchIf((e) => memberTags.has(e._tag), () => Effect.fail(new GroupNotEmpty({ groupId, state: "active" })))
        )
        return offsets
      })

    return { listGroups, describeGroup, fetchOffsets, resetOffsets } satisfies GroupAdmin
  })
