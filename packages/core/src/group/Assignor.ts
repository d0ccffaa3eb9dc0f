/**
 * Partition assignors: the pure function the group leader runs to split topic-partitions among
 * members. `range` and `roundRobin` are Kafka's eager assignors; `cooperativeSticky` follows
 * KIP-429 (members keep what does not move; what moves is revoked first, assigned next round).
 */
import * as sticky from "./internal/sticky.js"
import * as TopicPartition from "./TopicPartition.js"

/** One member's subscription, as the leader sees it. */
export interface Subscription {
  readonly memberId: string
  /** Static membership id (KIP-345); sorts before dynamic members, as Kafka does. */
  readonly groupInstanceId?: string | undefined
  readonly topics: ReadonlyArray<string>
  /** Partitions the member owns now (cooperative protocol). */
  readonly ownedPartitions?: ReadonlyArray<TopicPartition.TopicPartition> | undefined
  readonly userData?: Uint8Array | undefined
}

/** `eager`: members revoke everything before a rebalance; `cooperative`: only what moves. */
export type RebalanceProtocol = "eager" | "cooperative"

/** Member id → its sorted partitions. Every member given appears, possibly with none. */
export type Assignment = Map<string, Array<TopicPartition.TopicPartition>>

/** A partition assignor: a name (the JoinGroup protocol name) and a pure `assign`. */
export interface Assignor {
  readonly name: string
  readonly rebalanceProtocol: RebalanceProtocol
  readonly assign: (
    members: ReadonlyArray<Subscription>,
    partitionsPerTopic: ReadonlyMap<string, number>
  ) => Assignment
}

/** Kafka's member order: static members first by instance id, then dynamic ones by member id. */
export const compareMembers = (a: Subscription, b: Subscription): number => {
  if (a.groupInstanceId !== undefined && b.groupInstanceId !== undefined) {
    return compareStrings(a.groupInstanceId, b.groupInstanceId)
  }
  if (a.groupInstanceId !== undefined) return -1
  if (b.groupInstanceId !== undefined) return 1
  return compareStrings(a.memberId, b.memberId)
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const emptyAssignment = (members: ReadonlyArray<Subscription>): Assignment =>
  new Map(members.map((m) => [m.memberId, []]))

const sortAll = (assignment: Assignment): Assignment => {
  for (const [id, tps] of assignment) assignment.set(id, TopicPartition.sort(tps))
  return assignment
}

/**
 * Kafka's RangeAssignor: per topic, subscribed members in order get contiguous ranges;
 * the first `partitions % members` members get one extra.
 */
export const range: Assignor = {
  name: "range",
  rebalanceProtocol: "eager",
  assign: (members, partitionsPerTopic) => {
    const out = emptyAssignment(members)
    const sorted = [...members].sort(compareMembers)
    const topics = new Set(sorted.flatMap((m) => m.topics))
    for (const topic of Array.from(topics).sort()) {
      const count = partitionsPerTopic.get(topic)
      if (count === undefined) continue
      const subscribers = sorted.filter((m) => m.topics.includes(topic))
      const perMember = Math.floor(count / subscribers.length)
      const extra = count % subscribers.length
      subscribers.forEach((m, i) => {
        const start = perMember * i + Math.min(i, extra)
        const length = perMember + (i < extra ? 1 : 0)
        const mine = out.get(m.memberId)!
        for (let p = start; p < start + length; p++) mine.push(TopicPartition.make(topic, p))
      })
    }
    return sortAll(out)
  }
}

/**
 * Kafka's RoundRobinAssignor: all subscribed topic-partitions in order, dealt to members in
 * order, cycling and skipping members not subscribed to the partition's topic.
 */
export const roundRobin: Assignor = {
  name: "roundrobin",
  rebalanceProtocol: "eager",
  assign: (members, partitionsPerTopic) => {
    const out = emptyAssignment(members)
    const sorted = [...members].sort(compareMembers)
    if (sorted.length === 0) return out
    let next = 0
    for (const tp of TopicPartition.allOf(sorted.flatMap((m) => m.topics), partitionsPerTopic)) {
      while (!sorted[next % sorted.length]!.topics.includes(tp.topic)) next++
      out.get(sorted[next % sorted.length]!.memberId)!.push(tp)
      next++
    }
    return sortAll(out)
  }
}

/**
 * Cooperative sticky (KIP-429): members keep the valid partitions they own; free partitions go
 * to the least-loaded subscribed member; partitions then move from fuller to emptier members
 * until no move can narrow the gap (so members with the same subscription differ by at most
 * one). A partition still owned by another member is left out of this round: its owner revokes
 * it, and the follow-up rebalance assigns it.
 */
export const cooperativeSticky: Assignor = {
  name: "cooperative-sticky",
  rebalanceProtocol: "cooperative",
  assign: (members, partitionsPerTopic) =>
    sortAll(sticky.assign([...members].sort(compareMembers), partitionsPerTopic))
}

/** The assignors this package ships, by protocol name. */
export const builtIn: ReadonlyMap<string, Assignor> = new Map(
  [range, roundRobin, cooperativeSticky].map((a) => [a.name, a])
)

/** Partitions in `owned` that are not in `assigned`: what a cooperative member must revoke. */
export const revoked = (
  owned: ReadonlyArray<TopicPartition.TopicPartition>,
  assigned: ReadonlyArray<TopicPartition.TopicPartition>
): Array<TopicPartition.TopicPartition> => {
  const keep = new Set(assigned.map(TopicPartition.key))
  return TopicPartition.sort(owned.filter((tp) => !keep.has(TopicPartition.key(tp))))
}
