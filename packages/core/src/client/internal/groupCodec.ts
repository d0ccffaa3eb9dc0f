/**
 * The consumer protocol inside JoinGroup / SyncGroup: a member's subscription (topics and, for
 * cooperative assignors, the partitions it owns) and the assignment the leader hands out, as
 * versioned JSON bytes; and the leader's step that runs an assignor over the members. Pure.
 */
import { Either, Schema } from "effect"
import type * as Assignor from "../../group/Assignor.js"
import * as TopicPartition from "../../group/TopicPartition.js"

/** The protocol type consumers join with. */
export const protocolType = "consumer"

const Pairs = Schema.Array(Schema.Tuple(Schema.String, Schema.Int))
const SubscriptionJson = Schema.parseJson(Schema.Struct({ v: Schema.Literal(0), topics: Schema.Array(Schema.String), owned: Pairs }))
const AssignmentJson = Schema.parseJson(Schema.Struct({ v: Schema.Literal(0), partitions: Pairs }))
const encoder = new TextEncoder()
const decoder = new TextDecoder()

type TP = TopicPartition.TopicPartition

const toPairs = (tps: ReadonlyArray<{ readonly topic: string; readonly partition: number }>) =>
  TopicPartition.sort(tps.map((tp) => TopicPartition.make(tp.topic, tp.partition))).map((tp) => [tp.topic, tp.partition] as const)

const fromPairs = (pairs: ReadonlyArray<readonly [string, number]>): Array<TP> =>
  pairs.map(([topic, partition]) => TopicPartition.make(topic, partition))

/** A member's subscription bytes: its topics (sorted) and the partitions it owns. */
export const encodeSubscription = (topics: ReadonlyArray<string>, owned: ReadonlyArray<TP>): Uint8Array =>
  encoder.encode(Schema.encodeSync(SubscriptionJson)({ v: 0, topics: [...new Set(topics)].sort(), owned: toPairs(owned) }))

/** Decodes a subscription; `undefined` for bytes that are not one. */
export const decodeSubscription = (
  bytes: Uint8Array
): { readonly topics: ReadonlyArray<string>; readonly owned: ReadonlyArray<TP> } | undefined => {
  const decoded = Schema.decodeUnknownEither(SubscriptionJson)(decoder.decode(bytes))
  return Either.isLeft(decoded) ? undefined : { topics: decoded.right.topics, owned: fromPairs(decoded.right.owned) }
}

/** An assignment's bytes. */
export const encodeAssignment = (partitions: ReadonlyArray<TP>): Uint8Array =>
  encoder.encode(Schema.encodeSync(AssignmentJson)({ v: 0, partitions: toPairs(partitions) }))

/** Decodes an assignment; empty bytes (no assignment yet) and bad bytes give none. */
export const decodeAssignment = (bytes: Uint8Array): Array<TP> => {
  if (bytes.length === 0) return []
  const decoded = Schema.decodeUnknownEither(AssignmentJson)(decoder.decode(bytes))
  return Either.isLeft(decoded) ? [] : fromPairs(decoded.right.partitions)
}

/** The leader's step: decode every member's subscription, run the assignor, encode each share. */
export const assign = (
  assignor: Assignor.Assignor,
  members: ReadonlyArray<{ readonly memberId: string; readonly groupInstanceId?: string | undefined; readonly metadata: Uint8Array }>,
  partitionsPerTopic: ReadonlyMap<string, number>
): Array<{ readonly memberId: string; readonly assignment: Uint8Array }> => {
  const subscriptions: Array<Assignor.Subscription> = members.map((m) => {
    const s = decodeSubscription(m.metadata)
    return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics: s?.topics ?? [], ownedPartitions: s?.owned ?? [] }
  })
  const result = assignor.assign(subscriptions, partitionsPerTopic)
  return members.map((m) => ({ memberId: m.memberId, assignment: encodeAssignment(result.get(m.memberId) ?? []) }))
}

/** Topics named by any member's subscription. */
export const subscribedTopics = (members: ReadonlyArray<{ readonly metadata: Uint8Array }>): Array<string> =>
  [...new Set(members.flatMap((m) => decodeSubscription(m.metadata)?.topics ?? []))].sort()
