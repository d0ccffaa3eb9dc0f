/**
 * The records of the metadata log (KRaft style). The controller decides by emitting records,
 * appends them, then applies them with `ControllerState.apply`; replaying the log rebuilds the
 * state exactly, so a Raft quorum can replicate this log later without changing the reducer.
 *
 * Records carry absolute values (the new leader, ISR and epochs), never deltas, so applying
 * one is trivial and replay cannot drift.
 */
import { Schema } from "effect"
import { TopicConfig } from "./Metadata.js"

/** A broker (re-)registered: `brokerEpoch` is new and monotonic; the broker is unfenced by a later record. */
export class RegisterBroker extends Schema.TaggedClass<RegisterBroker>()("RegisterBroker", {
  brokerId: Schema.Int,
  nodeId: Schema.String,
  brokerEpoch: Schema.Int
}) {}

/** The broker missed its session timeout (or re-registered): it leads nothing and leaves every ISR it can. */
export class BrokerFenced extends Schema.TaggedClass<BrokerFenced>()("BrokerFenced", {
  brokerId: Schema.Int,
  brokerEpoch: Schema.Int
}) {}

/** The broker is live again and may lead and join ISRs. */
export class BrokerUnfenced extends Schema.TaggedClass<BrokerUnfenced>()("BrokerUnfenced", {
  brokerId: Schema.Int,
  brokerEpoch: Schema.Int
}) {}

/** A topic exists, with its validated config; its partitions follow as `PartitionCreated`. */
export class TopicCreated extends Schema.TaggedClass<TopicCreated>()("TopicCreated", {
  name: Schema.String,
  topicId: Schema.String,
  partitions: Schema.Int,
  config: TopicConfig
}) {}

/** One partition of a new topic with its assignment and first leader. */
export class PartitionCreated extends Schema.TaggedClass<PartitionCreated>()("PartitionCreated", {
  topic: Schema.String,
  partition: Schema.Int,
  replicas: Schema.Array(Schema.Int),
  isr: Schema.Array(Schema.Int),
  leader: Schema.Int,
  leaderEpoch: Schema.Int,
  partitionEpoch: Schema.Int
}) {}

/** A partition's new leader and/or ISR, with the epochs after the change. */
export class PartitionChanged extends Schema.TaggedClass<PartitionChanged>()("PartitionChanged", {
  topic: Schema.String,
  partition: Schema.Int,
  leader: Schema.Int,
  isr: Schema.Array(Schema.Int),
  leaderEpoch: Schema.Int,
  partitionEpoch: Schema.Int
}) {}

/** The topic and all its partitions are gone. */
export class TopicDeleted extends Schema.TaggedClass<TopicDeleted>()("TopicDeleted", {
  name: Schema.String,
  topicId: Schema.String
}) {}

/** A block `[firstProducerId, firstProducerId + blockSize)` of producer ids handed to a broker. */
export class ProducerIdsAllocated extends Schema.TaggedClass<ProducerIdsAllocated>()("ProducerIdsAllocated", {
  brokerId: Schema.Int,
  brokerEpoch: Schema.Int,
  firstProducerId: Schema.Int,
  blockSize: Schema.Int
}) {}

/** Any metadata log record; the schema to encode the log with. */
export const MetadataRecord = Schema.Union(
  RegisterBroker,
  BrokerFenced,
  BrokerUnfenced,
  TopicCreated,
  PartitionCreated,
  PartitionChanged,
  TopicDeleted,
  ProducerIdsAllocated
)
/** Any metadata log record. */
export type MetadataRecord = typeof MetadataRecord.Type
