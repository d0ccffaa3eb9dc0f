/**
 * Cluster metadata: broker ids, partitions, their leader/ISR/epochs and the per-topic config.
 * Plain immutable data with Schemas, so it can travel in metadata records and replies.
 */
import { Either, ParseResult, Schema } from "effect"
import { InvalidConfig, InvalidTopic } from "./Errors.js"

/** A broker's numeric id (Kafka `broker.id`). */
export const BrokerId = Schema.Int.pipe(Schema.nonNegative())
/** A broker's numeric id. */
export type BrokerId = number

/** `leader` of a partition without a live leader (offline). */
export const NoLeader = -1 as const

/** A partition of a topic. */
export const TopicPartition = Schema.Struct({ topic: Schema.String, partition: Schema.Int })
/** A partition of a topic. */
export type TopicPartition = typeof TopicPartition.Type

/** `topic-partition`, for map keys and logs. */
export const tpKey = (tp: TopicPartition): string => `${tp.topic}-${tp.partition}`

/**
 * What the controller knows about one partition. `replicas` is the assignment (preferred
 * leader first); `isr` the in-sync subset; `leaderEpoch` bumps on every leader change;
 * `partitionEpoch` bumps on every change at all (leader or ISR).
 */
export const PartitionState = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Int,
  replicas: Schema.Array(Schema.Int),
  isr: Schema.Array(Schema.Int),
  leader: Schema.Int,
  leaderEpoch: Schema.Int,
  partitionEpoch: Schema.Int
})
/** What the controller knows about one partition. */
export type PartitionState = typeof PartitionState.Type

/** Retention and cleanup: `delete` drops old segments, `compact` keeps the last record per key. */
export const CleanupPolicy = Schema.Literal("delete", "compact")
/** Retention and cleanup policy. */
export type CleanupPolicy = typeof CleanupPolicy.Type

const IntAtLeast = (min: number) => Schema.Int.pipe(Schema.greaterThanOrEqualTo(min))
const IntBetween = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max))
const int32Max = 2_147_483_647

/**
 * Per-topic config with Kafka's defaults. `-1` means "unlimited" for the retention settings.
 * Decode with {@link makeTopicConfig}, which also checks `minInsyncReplicas <= replicationFactor`.
 */
export const TopicConfig = Schema.Struct({
  minInsyncReplicas: Schema.optionalWith(IntAtLeast(1), { default: () => 1 }),
  uncleanLeaderElection: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  retentionMs: Schema.optionalWith(IntAtLeast(-1), { default: () => 604_800_000 }),
  retentionBytes: Schema.optionalWith(IntAtLeast(-1), { default: () => -1 }),
  cleanupPolicy: Schema.optionalWith(CleanupPolicy, { default: () => "delete" as const }),
  maxMessageBytes: Schema.optionalWith(IntBetween(1, int32Max), { default: () => 1_048_588 }),
  segmentBytes: Schema.optionalWith(IntBetween(14, int32Max), { default: () => 1_073_741_824 })
})
/** A complete, validated topic config. */
export type TopicConfig = typeof TopicConfig.Type
/** What a caller may pass: any subset of the settings. */
export type TopicConfigInput = typeof TopicConfig.Encoded

const decodeConfig = Schema.decodeUnknownEither(TopicConfig, { errors: "first", onExcessProperty: "error" })

/** Fill defaults and validate; a bad value yields `InvalidConfig` naming the key. */
export const makeTopicConfig = (
  input: TopicConfigInput | undefined,
  replicationFactor: number
): Either.Either<TopicConfig, InvalidConfig> =>
  decodeConfig(input ?? {}).pipe(
    Either.mapLeft((error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return new InvalidConfig({
        key: issue === undefined || issue.path.length === 0 ? "" : String(issue.path[0]),
        message: issue?.message ?? "invalid config"
      })
    }),
    Either.flatMap((config) =>
      config.minInsyncReplicas > replicationFactor
        ? Either.left(
          new InvalidConfig({
            key: "minInsyncReplicas",
            message: `minInsyncReplicas ${config.minInsyncReplicas} exceeds replicationFactor ${replicationFactor}`
          })
        )
        : Either.right(config)
    )
  )

/** Kafka's limit on topic name length. */
export const maxTopicNameLength = 249

/** Kafka's topic name rule: 1..249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`. */
export const validateTopicName = (name: string): Either.Either<string, InvalidTopic> => {
  if (name.length === 0 || name === "." || name === "..") {
    return Either.left(new InvalidTopic({ topic: name, message: "topic name is empty, '.' or '..'" }))
  }
  if (name.length > maxTopicNameLength) {
    return Either.left(new InvalidTopic({ topic: name, message: `topic name longer than ${maxTopicNameLength}` }))
  }
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    return Either.left(new InvalidTopic({ topic: name, message: "topic name has characters outside [a-zA-Z0-9._-]" }))
  }
  return Either.right(name)
}
