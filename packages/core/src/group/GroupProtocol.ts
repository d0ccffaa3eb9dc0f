/**
 * What a broker's group coordinator answers: Kafka's FindCoordinator, JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups and ListGroups, plus the
 * tells the coordinator sends itself (metadata from its broker, timers, storage results).
 * Clients address it at `broker/group-coordinator` on any broker node.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Message from "../actor/Message.js"
import { ClusterMetadata } from "../cluster/ControllerProtocol.js"
import * as Errors from "./Errors.js"

/** The coordinator's actor name under its broker. */
export const coordinatorName = "group-coordinator"

/** The coordinator's path on a broker node. */
export const coordinatorPath = `broker/${coordinatorName}`

/** The group's offsets partition is led here but not loaded yet: retry shortly. */
export class CoordinatorLoadInProgress extends Schema.TaggedError<CoordinatorLoadInProgress>()(
  "CoordinatorLoadInProgress",
  { groupId: Schema.String }
) {}

/** Every error a group request can fail with on the wire. */
export const Failure = Schema.Union(Errors.GroupError, CoordinatorLoadInProgress)

/** Every error a group request can fail with. */
export type Failure = typeof Failure.Type

/** Where a group's coordinator is. */
export const CoordinatorInfo = Schema.Struct({
  brokerId: Schema.Number,
  nodeId: Schema.String,
  /** The `__consumer_offsets` partition the group's commits go to. */
  partition: Schema.Number
})

/** Where a group's coordinator is. */
export type CoordinatorInfo = typeof CoordinatorInfo.Type

/** Finds a group's coordinator (any broker answers, from its metadata). */
export class FindCoordinator extends Schema.TaggedRequest<FindCoordinator>()("FindCoordinator", {
  failure: Errors.CoordinatorNotAvailable,
  success: CoordinatorInfo,
  payload: { groupId: Schema.String }
}) {}

/** A protocol (assignor) a member supports, with its subscription. */
export const Protocol = Schema.Struct({ name: Schema.String, metadata: Schema.Uint8ArrayFromSelf })

/** A member as the leader sees it in a join response. */
export const JoinedMember = Schema.Struct({
  memberId: Schema.String,
  groupInstanceId: Schema.optional(Schema.String),
  metadata: Schema.Uint8ArrayFromSelf
})

/** The answer to a join: the generation, the member's id, the leader, and (for the leader) every member. */
export const JoinResult = Schema.Struct({
  generationId: Schema.Number,
  memberId: Schema.String,
  leaderId: Schema.String,
  protocolType: Schema.String,
  protocolName: Schema.String,
  members: Schema.Array(JoinedMember)
})

/** The answer to a join. */
export type JoinResult = typeof JoinResult.Type

/** JoinGroup: member id "" on a first join. Answered when the join phase ends. */
export class JoinGroup extends Schema.TaggedRequest<JoinGroup>()("JoinGroup", {
  failure: Failure,
  success: JoinResult,
  payload: {
    groupId: Schema.String,
    memberId: Schema.String,
    groupInstanceId: Schema.optional(Schema.String),
    clientId: Schema.String,
    protocolType: Schema.String,
    protocols: Schema.Array(Protocol),
    sessionTimeoutMs: Schema.Number,
    rebalanceTimeoutMs: Schema.Number
  }
}) {}

/** SyncGroup: the leader sends the assignment; every member gets its own. */
export class SyncGroup extends Schema.TaggedRequest<SyncGroup>()("SyncGroup", {
  failure: Failure,
  success: Schema.Struct({ protocolType: Schema.String, protocolName: Schema.String, assignment: Schema.Uint8ArrayFromSelf }),
  payload: {
    groupId: Schema.String,
    memberId: Schema.String,
    groupInstanceId: Schema.optional(Schema.String),
    generationId: Schema.Number,
    assignments: Schema.Array(Schema.Struct({ memberId: Schema.String, assignment: Schema.Uint8ArrayFromSelf }))
  }
}) {}

/** Heartbeat: fails with `RebalanceInProgress` when the member must rejoin. */
export class Heartbeat extends Message.trusted(Schema.TaggedRequest<Heartbeat>()("Heartbeat", {
  failure: Failure,
  success: Schema.Void,
  payload: {
    groupId: Schema.String,
    memberId: Schema.String,
    groupInstanceId: Schema.optional(Schema.String),
    generationId: Schema.Number
  }
})) {}

/** LeaveGroup: by member id, or by static instance id with member id "". */
export class LeaveGroup extends Schema.TaggedRequest<LeaveGroup>()("LeaveGroup", {
  failure: Failure,
  success: Schema.Void,
  payload: { groupId: Schema.String, memberId: Schema.String, groupInstanceId: Schema.optional(Schema.String) }
}) {}

/** One partition's offset to commit: the next offset to read. */
export const OffsetToCommit = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  metadata: Schema.optionalWith(Schema.String, { default: () => "" }),
  /** The leader epoch of the last record read before `offset` (Kafka's committed leader epoch, KIP-320), when known. */
  leaderEpoch: Schema.optionalWith(Schema.Number, { exact: true }),
})

/** OffsetCommit: acknowledged once written to `__consumer_offsets` with acks=all. Generation -1 for a standalone consumer. */
export class OffsetCommit extends Message.trusted(Schema.TaggedRequest<OffsetCommit>()("OffsetCommit", {
  failure: Failure,
  success: Schema.Void,
  payload: {
    groupId: Schema.String,
    memberId: Schema.String,
    groupInstanceId: Schema.optional(Schema.String),
    generationId: Schema.Number,
    offsets: Schema.Array(OffsetToCommit)
  }
})) {}

/** A committed offset as OffsetFetch returns it: -1 when nothing was committed. */
export const FetchedOffset = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  metadata: Schema.String,
  /** The leader epoch of the last record read before `offset` (Kafka's committed leader epoch, KIP-320), when known. */
  leaderEpoch: Schema.optionalWith(Schema.Number, { exact: true }),
})

/** A committed offset as OffsetFetch returns it. */
export type FetchedOffset = typeof FetchedOffset.Type

/** OffsetFetch: the given partitions, or every committed one when `partitions` is absent. */
export class OffsetFetch extends Schema.TaggedRequest<OffsetFetch>()("OffsetFetch", {
  failure: Failure,
  success: Schema.Array(FetchedOffset),
  payload: {
    groupId: Schema.String,
    partitions: Schema.optional(Schema.Array(Schema.Struct({ topic: Schema.String, partition: Schema.Number })))
  }
}) {}

/** A group as DescribeGroups shows it. */
export const GroupDescription = Schema.Struct({
  groupId: Schema.String,
  state: Schema.Literal("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"),
  generationId: Schema.Number,
  protocolType: Schema.optional(Schema.String),
  protocolName: Schema.optional(Schema.String),
  leaderId: Schema.optional(Schema.String),
  members: Schema.Array(Schema.Struct({
    memberId: Schema.String,
    groupInstanceId: Schema.optional(Schema.String),
    clientId: Schema.String,
    assignment: Schema.Uint8ArrayFromSelf
  }))
})

/** A group as DescribeGroups shows it. */
export type GroupDescription = typeof GroupDescription.Type

/** Describes one group this coordinator serves (an unknown group is described as Empty, as Kafka does). */
export class DescribeGroup extends Schema.TaggedRequest<DescribeGroup>()("DescribeGroup", {
  failure: Failure,
  success: GroupDescription,
  payload: { groupId: Schema.String }
}) {}

/** The groups this coordinator serves (ask every broker for the cluster's list). */
export class ListGroups extends Schema.TaggedRequest<ListGroups>()("ListGroups", {
  failure: Schema.Never,
  success: Schema.Array(Schema.Struct({ groupId: Schema.String, state: Schema.String, protocolType: Schema.optional(Schema.String) })),
  payload: {}
}) {}

/** Internal: the broker's new metadata (the coordinator loads and unloads offsets partitions from it). */
export class CoordinatorMetadata extends Message.trusted(Schema.TaggedClass<CoordinatorMetadata>()("CoordinatorMetadata", {
  metadata: ClusterMetadata
})) {}

/** Internal: a group timer fired (`token` tells a stale firing from the current timer). */
export class TimerFired extends Schema.TaggedClass<TimerFired>()("TimerFired", {
  groupId: Schema.String,
  key: Schema.String,
  token: Schema.Number
}) {}

/** Internal: the acks=all write of a commit finished. */
export class PersistDone extends Schema.TaggedClass<PersistDone>()("PersistDone", {
  replyTo: Schema.Number,
  ok: Schema.Boolean
}) {}

/** Internal: the acks=all write of a group's generation finished. */
export class GroupPersistDone extends Schema.TaggedClass<GroupPersistDone>()("GroupPersistDone", {
  groupId: Schema.String,
  generationId: Schema.Number,
  ok: Schema.Boolean
}) {}

/** Internal: an offsets partition was read, up to its log end when loading began. */
export class LoadDone extends Schema.TaggedClass<LoadDone>()("LoadDone", {
  partition: Schema.Number,
  leaderEpoch: Schema.Number,
  records: Schema.Array(Schema.Struct({ key: Schema.Uint8ArrayFromSelf, value: Schema.NullOr(Schema.Uint8ArrayFromSelf) }))
}) {}

/** Everything a group coordinator accepts. */
export const GroupCoordinatorProtocol = Schema.Union(
  FindCoordinator,
  JoinGroup,
  SyncGroup,
  Heartbeat,
  LeaveGroup,
  OffsetCommit,
  OffsetFetch,
  DescribeGroup,
  ListGroups,
  CoordinatorMetadata,
  TimerFired,
  PersistDone,
  GroupPersistDone,
  LoadDone
)

/** @since 0.1.0 */
export type GroupCoordinatorProtocol = typeof GroupCoordinatorProtocol.Type
