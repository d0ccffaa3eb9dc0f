/**
 * What a partition replica answers: produce (leader only), fetch (consumers and followers),
 * list offsets, and the controller's role changes passed on by the broker. Clients address a
 * replica directly at `broker/<topic>:<partition>` on its broker's node.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Message from "../actor/Message.js"
import * as Errors from "./Errors.js"
import { PartitionState, TopicConfig } from "./Metadata.js"

/** `acks`: 0 fire and forget, 1 leader append, -1 (`all`) every ISR member. */
export const Acks = Schema.Literal(0, 1, -1)

/** @since 0.1.0 */
export type Acks = typeof Acks.Type

/** The actor name of a partition's replica under its broker. */
export const replicaName = (topic: string, partition: number): string => `${topic}:${partition}`

/** The path of a partition's replica on its broker's node. */
export const replicaPath = (topic: string, partition: number): string => `broker/${replicaName(topic, partition)}`

/** Where a produced batch landed. */
export class ProduceResult extends Message.trusted(Schema.Class<ProduceResult>("ProduceResult")({
  baseOffset: Schema.Number,
  lastOffset: Schema.Number,
  logAppendTimeMs: Schema.Number,
  logStartOffset: Schema.Number
})) {}

/** Appends one record batch (its bytes, as the producer encoded them) to the partition leader. */
export class Produce extends Message.trusted(Schema.TaggedRequest<Produce>()("Produce", {
  failure: Schema.Union(
    Errors.NotLeader,
    Errors.UnknownTopicOrPartition,
    Errors.NotEnoughReplicas,
    Errors.NotEnoughReplicasAfterAppend,
    Errors.RecordTooLarge,
    Errors.OutOfOrderSequence,
    Errors.InvalidProducerEpoch,
    Errors.InvalidRequest,
    Errors.RequestTimedOut,
    Errors.KafkaStorageError
  ),
  success: ProduceResult,
  payload: {
    topic: Schema.String,
    partition: Schema.Number,
    acks: Acks,
    /** How long acks=all may wait for the ISR. */
    timeoutMs: Schema.Number,
    batch: Schema.Uint8ArrayFromSelf
  }
})) {}

/** A follower's log diverged from the leader's: truncate to `endOffset` (KIP-101 / KIP-279 / KIP-595). */
export const DivergingEpoch = Schema.Struct({ epoch: Schema.Number, endOffset: Schema.Number })

/** The answer to a fetch: whole batches, as stored. */
export class FetchResult extends Message.trusted(Schema.Class<FetchResult>("FetchResult")({
  batches: Schema.Array(Schema.Uint8ArrayFromSelf),
  highWatermark: Schema.Number,
  logStartOffset: Schema.Number,
  logEndOffset: Schema.Number,
  leaderEpoch: Schema.Number,
  divergingEpoch: Schema.optional(DivergingEpoch)
})) {}

/** Consumers fetch with `replicaId = -1` and see only records below the high watermark. */
export const consumerReplicaId = -1

/**
 * Reads from `fetchOffset`: waits up to `maxWaitMs` for `minBytes` (long poll), returns at most
 * about `maxBytes` (but always the first batch). Followers pass their broker id, their current
 * leader epoch and the epoch of their last batch, so the leader can tell them where to truncate.
 */
export class Fetch extends Message.trusted(Schema.TaggedRequest<Fetch>()("Fetch", {
  failure: Schema.Union(
    Errors.NotLeader,
    Errors.UnknownTopicOrPartition,
    Errors.OffsetOutOfRange,
    Errors.FencedLeaderEpoch,
    Errors.KafkaStorageError
  ),
  success: FetchResult,
  payload: {
    topic: Schema.String,
    partition: Schema.Number,
    fetchOffset: Schema.Number,
    maxBytes: Schema.Number,
    maxWaitMs: Schema.Number,
    minBytes: Schema.Number,
    replicaId: Schema.Number,
    currentLeaderEpoch: Schema.optional(Schema.Number),
    lastFetchedEpoch: Schema.optional(Schema.Number)
  }
})) {}

/** Which offset to look up: the log start, the log end (high watermark for consumers), or a time. */
export const OffsetSpec = Schema.Union(
  Schema.Literal("earliest", "latest"),
  Schema.Struct({ timestamp: Schema.Number })
)

/** @since 0.1.0 */
export type OffsetSpec = typeof OffsetSpec.Type

/** Kafka's ListOffsets for one partition. `offset` is -1 when no record has a timestamp that late. */
export class ListOffsets extends Schema.TaggedRequest<ListOffsets>()("ListOffsets", {
  failure: Schema.Union(Errors.NotLeader, Errors.UnknownTopicOrPartition, Errors.KafkaStorageError),
  success: Schema.Struct({ offset: Schema.Number, timestamp: Schema.Number }),
  payload: { topic: Schema.String, partition: Schema.Number, spec: OffsetSpec }
}) {}

/** The controller's view of the partition changed (leader, ISR or epochs): become leader or follower. */
export class UpdatePartition extends Message.trusted(Schema.TaggedClass<UpdatePartition>()("UpdatePartition", {
  state: PartitionState,
  config: TopicConfig,
  /** Node ids of the replicas' brokers, by broker id. */
  nodes: Schema.Array(Schema.Struct({ brokerId: Schema.Number, nodeId: Schema.String }))
})) {}

/** Internal: periodic ISR maintenance and request deadlines. */
export class Tick extends Schema.TaggedClass<Tick>()("Tick", {}) {}

/** Where a follower fetches next (its log end and last epoch); `stop` when it no longer follows that leader epoch. */
export const FetchPosition = Schema.Struct({ stop: Schema.Boolean, logEndOffset: Schema.Number, lastEpoch: Schema.Number })

/**
 * Internal: the result of a follower fetch from `fetchOffset`, applied by the replica (the single
 * writer of its log) while it still follows `leaderEpoch` and its log still ends at `fetchOffset`.
 */
export class ApplyFetch extends Message.trusted(Schema.TaggedRequest<ApplyFetch>()("ApplyFetch", {
  failure: Schema.Never,
  success: FetchPosition,
  payload: { leaderEpoch: Schema.Number, fetchOffset: Schema.Number, result: FetchResult }
})) {}

/**
 * Internal: a follower fetch from `fetchOffset` failed with `OffsetOutOfRange` because the
 * leader's log now starts at `logStartOffset`, past it (retention deleted what the follower still
 * needed). The replica empties its log and restarts it there (Kafka's `truncateFullyAndStartAt`),
 * but only while it still follows `leaderEpoch` and its log still ends at `fetchOffset`.
 */
export class ApplyOutOfRange extends Schema.TaggedRequest<ApplyOutOfRange>()("ApplyOutOfRange", {
  failure: Schema.Never,
  success: FetchPosition,
  payload: { leaderEpoch: Schema.Number, fetchOffset: Schema.Number, logStartOffset: Schema.Number }
}) {}

/** Internal: the controller's answer to an ISR change this leader asked for. */
export class IsrChangeDone extends Schema.TaggedClass<IsrChangeDone>()("IsrChangeDone", {
  state: Schema.optional(PartitionState),
  error: Schema.optional(Schema.String)
}) {}

/** Internal: a diagnostic snapshot (tests, admin describe, the testkit's checkers). */
export class Describe extends Schema.TaggedRequest<Describe>()("Describe", {
  failure: Schema.Never,
  success: Schema.Struct({
    role: Schema.Literal("leader", "follower", "offline"),
    leaderEpoch: Schema.Number,
    isr: Schema.Array(Schema.Number),
    highWatermark: Schema.Number,
    logStartOffset: Schema.Number,
    logEndOffset: Schema.Number
  }),
  payload: {}
}) {}

/** Everything a replica actor accepts. */
export const ReplicaProtocol = Schema.Union(
  Produce,
  Fetch,
  ListOffsets,
  UpdatePartition,
  Tick,
  ApplyFetch,
  ApplyOutOfRange,
  IsrChangeDone,
  Describe
)

/** @since 0.1.0 */
export type ReplicaProtocol = typeof ReplicaProtocol.Type
