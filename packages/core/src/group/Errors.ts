/**
 * Consumer-group errors. They travel in replies, so each is a `Schema.TaggedError`.
 * Names follow Kafka's error codes so a Kafka user recognises them.
 */
import { Schema } from "effect"

/** The member's generation is not the group's current one: it was fenced by a rebalance. */
export class IllegalGeneration extends Schema.TaggedError<IllegalGeneration>()("IllegalGeneration", {
  groupId: Schema.String,
  memberId: Schema.String,
  generationId: Schema.Number,
  currentGenerationId: Schema.Number
}) {}

/** The member id is not (or no longer) a member of the group. */
export class UnknownMemberId extends Schema.TaggedError<UnknownMemberId>()("UnknownMemberId", {
  groupId: Schema.String,
  memberId: Schema.String
}) {}

/** The group is rebalancing: the member must (re)join. */
export class RebalanceInProgress extends Schema.TaggedError<RebalanceInProgress>()("RebalanceInProgress", {
  groupId: Schema.String
}) {}

/** The member's protocol type or protocols share nothing with the group's. */
export class InconsistentGroupProtocol extends Schema.TaggedError<InconsistentGroupProtocol>()(
  "InconsistentGroupProtocol",
  { groupId: Schema.String, memberId: Schema.String }
) {}

/** The coordinator is not ready (loading, unloading, or the group is dead): retry after a lookup. */
export class CoordinatorNotAvailable extends Schema.TaggedError<CoordinatorNotAvailable>()(
  "CoordinatorNotAvailable",
  { groupId: Schema.String }
) {}

/** This broker is not (or no longer) the group's coordinator. */
export class NotCoordinator extends Schema.TaggedError<NotCoordinator>()("NotCoordinator", {
  groupId: Schema.String
}) {}

/** No such group. */
export class GroupIdNotFound extends Schema.TaggedError<GroupIdNotFound>()("GroupIdNotFound", {
  groupId: Schema.String
}) {}

/** Another member now holds this static `groupInstanceId`: this one was replaced. */
export class FencedInstanceId extends Schema.TaggedError<FencedInstanceId>()("FencedInstanceId", {
  groupId: Schema.String,
  groupInstanceId: Schema.String,
  memberId: Schema.String
}) {}

/** The requested session timeout is outside the coordinator's allowed range. */
export class InvalidSessionTimeout extends Schema.TaggedError<InvalidSessionTimeout>()("InvalidSessionTimeout", {
  groupId: Schema.String,
  sessionTimeoutMs: Schema.Number,
  minSessionTimeoutMs: Schema.Number,
  maxSessionTimeoutMs: Schema.Number
}) {}

/** The group already has `maxSize` members. */
export class GroupMaxSizeReached extends Schema.TaggedError<GroupMaxSizeReached>()("GroupMaxSizeReached", {
  groupId: Schema.String,
  maxSize: Schema.Number
}) {}

/** The group id is empty. */
export class InvalidGroupId extends Schema.TaggedError<InvalidGroupId>()("InvalidGroupId", {
  groupId: Schema.String
}) {}

/** A committed offset's metadata is longer than `maxMetadataBytes`. */
export class OffsetMetadataTooLarge extends Schema.TaggedError<OffsetMetadataTooLarge>()("OffsetMetadataTooLarge", {
  groupId: Schema.String,
  topic: Schema.String,
  partition: Schema.Number,
  maxMetadataBytes: Schema.Number
}) {}

/** A committed offset is negative or a partition number is invalid. */
export class InvalidCommitOffset extends Schema.TaggedError<InvalidCommitOffset>()("InvalidCommitOffset", {
  groupId: Schema.String,
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number
}) {}

/** Every error a group request can fail with. */
export const GroupError = Schema.Union(
  IllegalGeneration,
  UnknownMemberId,
  RebalanceInProgress,
  InconsistentGroupProtocol,
  CoordinatorNotAvailable,
  NotCoordinator,
  GroupIdNotFound,
  FencedInstanceId,
  InvalidSessionTimeout,
  GroupMaxSizeReached,
  InvalidGroupId,
  OffsetMetadataTooLarge,
  InvalidCommitOffset
)

/** Every error a group request can fail with. */
export type GroupError = typeof GroupError.Type
