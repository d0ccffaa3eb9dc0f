/**
 * The typed errors a client or a broker can act on. They are `Schema.TaggedError`s because they
 * cross the network inside replies; names follow Kafka's error codes.
 *
 * Retriable (Kafka's `RetriableException` set, see {@link isRetriable}): `NotLeader`,
 * `UnknownTopicOrPartition`, `NotEnoughReplicas`, `NotEnoughReplicasAfterAppend`,
 * `FencedLeaderEpoch`. A client refreshes metadata and retries those; everything else is final
 * for the request that got it.
 */
import { Schema } from "effect"

/** The receiver does not lead this partition (Kafka `NOT_LEADER_OR_FOLLOWER`); carries the leader when known. Retriable. */
export class NotLeader extends Schema.TaggedError<NotLeader>()("NotLeader", {
  topic: Schema.String,
  partition: Schema.Number,
  leaderId: Schema.optional(Schema.Number),
  leaderEpoch: Schema.optional(Schema.Number)
}) {}

/** The topic or partition does not exist (yet): retriable, metadata may be propagating. */
export class UnknownTopicOrPartition extends Schema.TaggedError<UnknownTopicOrPartition>()("UnknownTopicOrPartition", {
  topic: Schema.String,
  partition: Schema.optional(Schema.Number)
}) {}

/** acks=all refused before append: the ISR is smaller than `minInsyncReplicas`. Nothing was appended. Retriable. */
export class NotEnoughReplicas extends Schema.TaggedError<NotEnoughReplicas>()("NotEnoughReplicas", {
  topic: Schema.String,
  partition: Schema.Number,
  isrSize: Schema.Number,
  minInsyncReplicas: Schema.Number
}) {}

/** acks=all: the batch was appended but the ISR shrank below `minInsyncReplicas` before it committed. Retriable. */
export class NotEnoughReplicasAfterAppend extends Schema.TaggedError<NotEnoughReplicasAfterAppend>()(
  "NotEnoughReplicasAfterAppend",
  {
    topic: Schema.String,
    partition: Schema.Number,
    isrSize: Schema.Number,
    minInsyncReplicas: Schema.Number
  }
) {}

/** A batch larger than the topic's `maxMessageBytes`. */
export class RecordTooLarge extends Schema.TaggedError<RecordTooLarge>()("RecordTooLarge", {
  topic: Schema.String,
  partition: Schema.Number,
  sizeBytes: Schema.Number,
  maxMessageBytes: Schema.Number
}) {}

/** The request did not complete within its timeout (acks=all waiting for the ISR, say). Retriable. */
export class RequestTimedOut extends Schema.TaggedError<RequestTimedOut>()("RequestTimedOut", {
  topic: Schema.String,
  partition: Schema.Number,
  timeoutMs: Schema.Number
}) {}

/** The broker's storage failed for this partition; the replica is taken offline. */
export class KafkaStorageError extends Schema.TaggedError<KafkaStorageError>()("KafkaStorageError", {
  topic: Schema.String,
  partition: Schema.Number,
  message: Schema.String
}) {}

/** The controller (or the broker forwarding to it) could not be reached. Retriable. */
export class ControllerNotAvailable extends Schema.TaggedError<ControllerNotAvailable>()("ControllerNotAvailable", {
  message: Schema.String
}) {}

/** A fetch or seek outside `[logStartOffset, logEndOffset]`. */
export class OffsetOutOfRange extends Schema.TaggedError<OffsetOutOfRange>()("OffsetOutOfRange", {
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  logStartOffset: Schema.Number,
  logEndOffset: Schema.Number
}) {}

/** createTopic for a name that already exists. */
export class TopicAlreadyExists extends Schema.TaggedError<TopicAlreadyExists>()("TopicAlreadyExists", {
  topic: Schema.String
}) {}

/** A topic name Kafka would refuse: empty, `.`/`..`, longer than 249, or outside `[a-zA-Z0-9._-]`. */
export class InvalidTopic extends Schema.TaggedError<InvalidTopic>()("InvalidTopic", {
  topic: Schema.String,
  message: Schema.String
}) {}

/** Replication factor below 1 or above the number of live brokers. */
export class InvalidReplicationFactor extends Schema.TaggedError<InvalidReplicationFactor>()(
  "InvalidReplicationFactor",
  {
    replicationFactor: Schema.Number,
    liveBrokers: Schema.Number
  }
) {}

/** Partition count below 1 or above the controller's limit. */
export class InvalidPartitions extends Schema.TaggedError<InvalidPartitions>()("InvalidPartitions", {
  partitions: Schema.Number,
  maxPartitions: Schema.Number
}) {}

/** A topic config value out of range; `key` names the offending setting. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  key: Schema.String,
  message: Schema.String
}) {}

/** Idempotent produce: a sequence gap (or a new epoch not starting at 0). The batch was not appended. */
export class OutOfOrderSequence extends Schema.TaggedError<OutOfOrderSequence>()("OutOfOrderSequence", {
  producerId: Schema.Number,
  producerEpoch: Schema.Number,
  expectedSequence: Schema.Number,
  receivedSequence: Schema.Number
}) {}

/** Idempotent produce from an older producer epoch: that producer instance is fenced. */
export class InvalidProducerEpoch extends Schema.TaggedError<InvalidProducerEpoch>()("InvalidProducerEpoch", {
  producerId: Schema.Number,
  producerEpoch: Schema.Number,
  currentProducerEpoch: Schema.Number
}) {}

/** A request carrying a leader epoch other than the current one (stale leader or stale metadata). Retriable. */
export class FencedLeaderEpoch extends Schema.TaggedError<FencedLeaderEpoch>()("FencedLeaderEpoch", {
  topic: Schema.String,
  partition: Schema.Number,
  leaderEpoch: Schema.Number,
  currentLeaderEpoch: Schema.Number
}) {}

/** AlterPartition with a partition epoch other than the current one: the ISR changed meanwhile. */
export class InvalidUpdateVersion extends Schema.TaggedError<InvalidUpdateVersion>()("InvalidUpdateVersion", {
  topic: Schema.String,
  partition: Schema.Number,
  partitionEpoch: Schema.Number,
  currentPartitionEpoch: Schema.Number
}) {}

/** AlterPartition proposing an ISR with a non-replica or a fenced broker. */
export class IneligibleReplica extends Schema.TaggedError<IneligibleReplica>()("IneligibleReplica", {
  topic: Schema.String,
  partition: Schema.Number,
  brokerId: Schema.Number,
  message: Schema.String
}) {}

/** A broker request carrying an old broker epoch (it registered again since) or from an unregistered broker. */
export class StaleBrokerEpoch extends Schema.TaggedError<StaleBrokerEpoch>()("StaleBrokerEpoch", {
  brokerId: Schema.Number,
  brokerEpoch: Schema.Number,
  currentBrokerEpoch: Schema.optional(Schema.Number)
}) {}

/** A structurally wrong request (e.g. an empty ISR, duplicates). */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}) {}

/** Every error of this module, for replies that may carry any of them. */
export const ClusterError = Schema.Union(
  RequestTimedOut,
  KafkaStorageError,
  ControllerNotAvailable,
  NotLeader,
  UnknownTopicOrPartition,
  NotEnoughReplicas,
  NotEnoughReplicasAfterAppend,
  RecordTooLarge,
  OffsetOutOfRange,
  TopicAlreadyExists,
  InvalidTopic,
  InvalidReplicationFactor,
  InvalidPartitions,
  InvalidConfig,
  OutOfOrderSequence,
  InvalidProducerEpoch,
  FencedLeaderEpoch,
  InvalidUpdateVersion,
  IneligibleReplica,
  StaleBrokerEpoch,
  InvalidRequest
)

/** Any error of this module. */
export type ClusterError = typeof ClusterError.Type

/** Tags of the errors a client should retry after refreshing metadata (Kafka's retriable set). */
export const retriableTags: ReadonlySet<ClusterError["_tag"]> = new Set<ClusterError["_tag"]>([
  "NotLeader",
  "UnknownTopicOrPartition",
  "NotEnoughReplicas",
  "NotEnoughReplicasAfterAppend",
  "FencedLeaderEpoch",
  "RequestTimedOut",
  "ControllerNotAvailable"
])

/** Whether retrying the same request later may succeed. */
export const isRetriable = (error: { readonly _tag: string }): boolean =>
  (retriableTags as ReadonlySet<string>).has(error._tag)
