/**
 * What the controller answers (brokers and, through a broker, admin clients), and the metadata
 * it pushes to brokers. Several requests (`GetMetadata`, `CreateTopic`, `DeleteTopic`,
 * `InitProducerId`) are also answered by every broker, which forwards the writes to the
 * controller, as Kafka's brokers do.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Message from "../actor/Message.js"
import * as Errors from "./Errors.js"
import { PartitionState, TopicConfig } from "./Metadata.js"

/** The controller's node and actor path. */
export const controllerPath = "controller"

/** A broker as clients see it. */
export const BrokerInfo = Schema.Struct({ brokerId: Schema.Number, nodeId: Schema.String, fenced: Schema.Boolean })

/** @since 0.1.0 */
export type BrokerInfo = typeof BrokerInfo.Type

/** A topic as clients see it. */
export const TopicInfo = Schema.Struct({
  name: Schema.String,
  config: TopicConfig,
  partitions: Schema.Array(PartitionState)
})

/** @since 0.1.0 */
export type TopicInfo = typeof TopicInfo.Type

/** A snapshot of the cluster's metadata. `version` is the metadata log offset it reflects. */
export class ClusterMetadata extends Message.trusted(Schema.Class<ClusterMetadata>("ClusterMetadata")({
  version: Schema.Number,
  controllerNodeId: Schema.String,
  brokers: Schema.Array(BrokerInfo),
  topics: Schema.Array(TopicInfo)
})) {}

/** The metadata before any is known (`version` -1: no record applied), as brokers and observers start with. */
export const noMetadata = (controllerNodeId: string): ClusterMetadata =>
  new ClusterMetadata({ version: -1, controllerNodeId, brokers: [], topics: [] }, true)

/** A broker joins (or rejoins after a restart): it gets a new broker epoch. */
export class RegisterBroker extends Schema.TaggedRequest<RegisterBroker>()("RegisterBroker", {
  failure: Errors.InvalidRequest,
  success: Schema.Struct({ brokerEpoch: Schema.Number }),
  payload: { brokerId: Schema.Number, nodeId: Schema.String }
}) {}

/**
 * A broker is alive. A stale epoch means it was fenced and must register again. The answer
 * carries the metadata version, so a broker that missed a push (pushes are one-way messages and
 * a partition drops them) sees it is behind and fetches the metadata.
 */
export class BrokerHeartbeat extends Message.trusted(Schema.TaggedRequest<BrokerHeartbeat>()("BrokerHeartbeat", {
  failure: Errors.StaleBrokerEpoch,
  success: Schema.Struct({ metadataVersion: Schema.Number }),
  payload: { brokerId: Schema.Number, brokerEpoch: Schema.Number }
})) {}

/** Creates a topic: replicas placed round-robin across live brokers. */
export class CreateTopic extends Schema.TaggedRequest<CreateTopic>()("CreateTopic", {
  failure: Schema.Union(
    Errors.InvalidTopic,
    Errors.TopicAlreadyExists,
    Errors.InvalidPartitions,
    Errors.InvalidReplicationFactor,
    Errors.InvalidConfig,
    Errors.ControllerNotAvailable
  ),
  success: TopicInfo,
  payload: {
    name: Schema.String,
    partitions: Schema.Number,
    replicationFactor: Schema.Number,
    config: Schema.optional(Schema.encodedSchema(TopicConfig))
  }
}) {}

/** Deletes a topic; its replicas are stopped and their logs dropped. */
export class DeleteTopic extends Schema.TaggedRequest<DeleteTopic>()("DeleteTopic", {
  failure: Schema.Union(Errors.UnknownTopicOrPartition, Errors.ControllerNotAvailable),
  success: Schema.Void,
  payload: { name: Schema.String }
}) {}

/** The cluster's metadata (a broker answers from its cache, the controller from its state). */
export class GetMetadata extends Message.trusted(Schema.TaggedRequest<GetMetadata>()("GetMetadata", {
  failure: Schema.Never,
  success: ClusterMetadata,
  payload: {}
})) {}

/** A leader asks to change a partition's ISR, naming the epochs it saw (stale ones are refused). */
export class AlterPartition extends Schema.TaggedRequest<AlterPartition>()("AlterPartition", {
  failure: Schema.Union(
    Errors.UnknownTopicOrPartition,
    Errors.StaleBrokerEpoch,
    Errors.NotLeader,
    Errors.FencedLeaderEpoch,
    Errors.InvalidUpdateVersion,
    Errors.InvalidRequest,
    Errors.IneligibleReplica
  ),
  success: PartitionState,
  payload: {
    topic: Schema.String,
    partition: Schema.Number,
    brokerId: Schema.Number,
    brokerEpoch: Schema.Number,
    leaderEpoch: Schema.Number,
    partitionEpoch: Schema.Number,
    newIsr: Schema.Array(Schema.Number)
  }
}) {}

/** A producer id (and epoch 0) for an idempotent producer. */
export class InitProducerId extends Schema.TaggedRequest<InitProducerId>()("InitProducerId", {
  failure: Errors.ControllerNotAvailable,
  success: Schema.Struct({ producerId: Schema.Number, producerEpoch: Schema.Number }),
  payload: {}
}) {}

/** A broker takes a block of producer ids to hand out (KRaft's AllocateProducerIds). */
export class AllocateProducerIds extends Schema.TaggedRequest<AllocateProducerIds>()("AllocateProducerIds", {
  failure: Schema.Union(Errors.StaleBrokerEpoch, Errors.InvalidRequest),
  success: Schema.Struct({ firstProducerId: Schema.Number, blockSize: Schema.Number }),
  payload: { brokerId: Schema.Number, brokerEpoch: Schema.Number, blockSize: Schema.Number }
}) {}

/** Internal: the controller's liveness check. */
export class CheckLiveness extends Schema.TaggedClass<CheckLiveness>()("CheckLiveness", {}) {}

/** Everything the controller accepts. */
export const ControllerProtocol = Schema.Union(
  RegisterBroker,
  BrokerHeartbeat,
  CreateTopic,
  DeleteTopic,
  GetMetadata,
  AlterPartition,
  AllocateProducerIds,
  CheckLiveness
)

/** @since 0.1.0 */
export type ControllerProtocol = typeof ControllerProtocol.Type

/** The controller pushes the whole metadata snapshot to brokers after every change. */
export class MetadataUpdate extends Message.trusted(Schema.TaggedClass<MetadataUpdate>()("MetadataUpdate", {
  metadata: ClusterMetadata
})) {}

/** Everything a broker accepts: metadata pushes, and client requests it answers or forwards. */
export const BrokerProtocol = Schema.Union(
  MetadataUpdate,
  GetMetadata,
  CreateTopic,
  DeleteTopic,
  InitProducerId
)

/** @since 0.1.0 */
export type BrokerProtocol = typeof BrokerProtocol.Type

/** The path of the broker actor on a broker node. */
export const brokerPath = "broker"
