/**
 * The admin client: create and delete topics, read the cluster's metadata, list offsets. Topic
 * changes go to any broker, which forwards them to the controller (as Kafka's brokers do).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Schema } from "effect"
import * as ControllerProtocol from "../cluster/ControllerProtocol.js"
import type { TopicConfigInput } from "../cluster/Metadata.js"
import * as ReplicaProtocol from "../cluster/ReplicaProtocol.js"
import type { MessageNotSerializable } from "../actor/ActorError.js"
import type * as ClientError from "./ClientError.js"
import * as Leader from "./internal/leader.js"
import * as Retry from "./internal/retry.js"
import * as MetadataCache from "./MetadataCache.js"

/** Options of an admin client: the metadata options (`node`, `bootstrap`, timeouts, retries). */
export type Options = MetadataCache.Options

/** A topic to create. */
export interface NewTopic {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
  readonly config?: TopicConfigInput
}

/** The brokers and the controller. */
export interface ClusterDescription {
  readonly controllerNodeId: string
  readonly brokers: ReadonlyArray<ControllerProtocol.BrokerInfo>
}

/** Earliest and latest (high watermark) offsets of a partition. */
export interface PartitionOffsets {
  readonly partition: number
  readonly earliest: number
  readonly latest: number
}

/** Errors of a topic creation. */
export type CreateTopicError = Schema.WithResult.Failure<ControllerProtocol.CreateTopic> | ClientError.BrokerNotAvailable

/** Errors of a topic deletion. */
export type DeleteTopicError = Schema.WithResult.Failure<ControllerProtocol.DeleteTopic> | ClientError.BrokerNotAvailable

/** Errors of an offset lookup. */
export type ListOffsetsError =
  | Schema.WithResult.Failure<ReplicaProtocol.ListOffsets>
  | ClientError.RetriesExhausted
  | ClientError.BrokerNotAvailable
  | MessageNotSerializable

/** An admin client. */
export interface Admin {
  /** Creates a topic; retries while the controller is not available. */
  readonly createTopic: (topic: NewTopic) => Effect.Effect<ControllerProtocol.TopicInfo, CreateTopicError>
  readonly deleteTopic: (name: string) => Effect.Effect<void, DeleteTopicError>
  /** Fresh metadata from a broker. */
  readonly metadata: Effect.Effect<ControllerProtocol.ClusterMetadata, ClientError.BrokerNotAvailable>
  readonly describeCluster: Effect.Effect<ClusterDescription, ClientError.BrokerNotAvailable>
  /** One offset of one partition ("earliest", "latest" = high watermark, or the first at a timestamp; -1 if none). */
  readonly listOffset: (
    topic: string,
    partition: number,
    spec: ReplicaProtocol.OffsetSpec
  ) => Effect.Effect<{ readonly offset: number; readonly timestamp: number }, ListOffsetsError>
  /** Earliest and latest offsets of every partition of a topic. */
  readonly listOffsets: (
    topic: string
  ) => Effect.Effect<ReadonlyArray<PartitionOffsets>, ListOffsetsError>
}

/** Builds an admin client. */
export const make = (options: Options): Effect.Effect<Admin> =>
  Effect.gen(function*() {
    const cache = yield* MetadataCache.make(options)
    const whileControllerAway = {
      schedule: Retry.schedule(cache.options),
      while: (e: { readonly _tag: string }) => e._tag === "ControllerNotAvailable"
    }
    const listOffset = (topic: string, partition: number, spec: ReplicaProtocol.OffsetSpec) =>
      Leader.withRetries(cache, options.node, topic, partition, (ref) =>
        ref.ask(new ReplicaProtocol.ListOffsets({ topic, partition, spec }), {
          timeoutMs: cache.options.requestTimeoutMs
        }))
    const admin: Admin = {
      createTopic: (topic) =>
        cache.askBroker(
          new ControllerProtocol.CreateTopic({
            name: topic.name,
            partitions: topic.partitions,
            replicationFactor: topic.replicationFactor,
            ...(topic.config === undefined ? {} : { config: topic.config })
          })
        ).pipe(Effect.retry(whileControllerAway), Effect.tap(() => Effect.ignore(cache.refresh))),
      deleteTopic: (name) =>
        cache.askBroker(new ControllerProtocol.DeleteTopic({ name })).pipe(
          Effect.retry(whileControllerAway),
          Effect.tap(() => Effect.ignore(cache.refresh))
        ),
      metadata: cache.refresh,
      describeCluster: Effect.map(cache.refresh, (m) => ({ controllerNodeId: m.controllerNodeId, brokers: m.brokers })),
      listOffset,
      listOffsets: (topic) =>
        Effect.flatMap(cache.topic(topic), (info) =>
          Effect.forEach(info.partitions, (p) =>
            Effect.all({
              earliest: listOffset(topic, p.partition, "earliest"),
              latest: listOffset(topic, p.partition, "latest")
            }).pipe(Effect.map((o) => ({ partition: p.partition, earliest: o.earliest.offset, latest: o.latest.offset }))), {
            concurrency: "unbounded"
          }))
    }
    return admin
  })
