/**
 * Committed offsets as records of the internal compacted topic `__consumer_offsets`, and
 * Kafka's rule for which of its partitions (hence which broker) coordinates a group.
 */
import { Either, Schema } from "effect"

/** The internal topic holding committed offsets. */
export const topic = "__consumer_offsets"

/** Record key: one per group + topic + partition, so compaction keeps the last commit. */
export class OffsetKey extends Schema.Class<OffsetKey>("OffsetKey")({
  groupId: Schema.String,
  topic: Schema.String,
  partition: Schema.Int
}) {}

/** Record value: the next offset to read, the client's metadata, and when it was committed. */
export class OffsetValue extends Schema.Class<OffsetValue>("OffsetValue")({
  offset: Schema.Int,
  metadata: Schema.String,
  commitTimestampMs: Schema.Number,
  /** The committed leader epoch (KIP-320), when known. */
  leaderEpoch: Schema.optionalWith(Schema.Int, { exact: true })
}) {}

// Versioned on the wire so the layout can change later; field order is fixed, so one key
// always encodes to the same bytes (compaction compares key bytes).
const KeyJson = Schema.parseJson(
  Schema.Struct({ v: Schema.Literal(0), g: Schema.String, t: Schema.String, p: Schema.Int })
)
const ValueJson = Schema.parseJson(
  Schema.Struct({ v: Schema.Literal(0), o: Schema.Int, m: Schema.String, ts: Schema.Number, e: Schema.optional(Schema.Int) })
)
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** Encodes a key as UTF-8 JSON bytes. */
export const encodeKey = (key: OffsetKey): Uint8Array =>
  encoder.encode(Schema.encodeSync(KeyJson)({ v: 0, g: key.groupId, t: key.topic, p: key.partition }))

/** Decodes key bytes; fails on bytes that are not an offset key. */
export const decodeKey = (bytes: Uint8Array): Either.Either<OffsetKey, unknown> =>
  Either.try(() => decoder.decode(bytes)).pipe(
    Either.flatMap(Schema.decodeUnknownEither(KeyJson)),
    Either.map(({ g, t, p }) => new OffsetKey({ groupId: g, topic: t, partition: p }))
  )

/** Encodes a value; `null` is the tombstone that deletes the key on compaction. */
export const encodeValue = (value: OffsetValue | null): Uint8Array | null =>
  value === null
    ? null
    : encoder.encode(
      Schema.encodeSync(ValueJson)({
        v: 0,
        o: value.offset,
        m: value.metadata,
        ts: value.commitTimestampMs,
        ...(value.leaderEpoch === undefined ? {} : { e: value.leaderEpoch })
      })
    )

/** Decodes value bytes; `null` (a tombstone) decodes to `null`. */
export const decodeValue = (bytes: Uint8Array | null): Either.Either<OffsetValue | null, unknown> =>
  bytes === null
    ? Either.right(null)
    : Either.try(() => decoder.decode(bytes)).pipe(
      Either.flatMap(Schema.decodeUnknownEither(ValueJson)),
      Either.map(({ e, m, o, ts }) =>
        new OffsetValue({ offset: o, metadata: m, commitTimestampMs: ts, ...(e === undefined ? {} : { leaderEpoch: e }) })
      )
    )

// Group metadata (Kafka's GroupMetadataKey): one record per group, key version 1 so it never
// decodes as an offset key; the value holds the generation the group reached.
const GroupKeyJson = Schema.parseJson(Schema.Struct({ v: Schema.Literal(1), g: Schema.String }))
const GroupValueJson = Schema.parseJson(Schema.Struct({ v: Schema.Literal(0), gen: Schema.Int, seq: Schema.Int }))

/** A group's persisted metadata: the generation it reached and the next member sequence. */
export interface GroupMetadata {
  readonly generationId: number
  readonly nextMemberSeq: number
}

/** Encodes the group metadata key of `groupId`. */
export const encodeGroupKey = (groupId: string): Uint8Array =>
  encoder.encode(Schema.encodeSync(GroupKeyJson)({ v: 1, g: groupId }))

/** Decodes a group metadata key; fails on any other key (offset keys included). */
export const decodeGroupKey = (bytes: Uint8Array): Either.Either<string, unknown> =>
  Either.try(() => decoder.decode(bytes)).pipe(Either.flatMap(Schema.decodeUnknownEither(GroupKeyJson)), Either.map(({ g }) => g))

/** Encodes group metadata. */
export const encodeGroupValue = (value: GroupMetadata): Uint8Array =>
  encoder.encode(Schema.encodeSync(GroupValueJson)({ v: 0, gen: value.generationId, seq: value.nextMemberSeq }))

/** Decodes group metadata. */
export const decodeGroupValue = (bytes: Uint8Array): Either.Either<GroupMetadata, unknown> =>
  Either.try(() => decoder.decode(bytes)).pipe(
    Either.flatMap(Schema.decodeUnknownEither(GroupValueJson)),
    Either.map(({ gen, seq }) => ({ generationId: gen, nextMemberSeq: seq }))
  )

/** Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, in int32. */
export const javaStringHashCode = (s: string): number => {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/** Kafka's `Utils.abs`: absolute value, with `Integer.MIN_VALUE` mapped to 0. */
export const kafkaAbs = (n: number): number => (n === -2147483648 ? 0 : Math.abs(n))

/** The `__consumer_offsets` partition whose leader coordinates `groupId` (Kafka's rule). */
export const coordinatorPartition = (groupId: string, offsetsTopicPartitions: number): number =>
  kafkaAbs(javaStringHashCode(groupId)) % offsetsTopicPartitions
