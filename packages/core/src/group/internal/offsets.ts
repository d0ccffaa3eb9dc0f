/**
 * Offset transitions: OffsetCommit validation (fencing), the result of persisting commits,
 * OffsetFetch, and replaying `__consumer_offsets` records into the group.
 */
import { Either } from "effect"
import * as Errors from "../Errors.js"
import type { CommittedOffset, Event, FetchedOffset, Group, Member } from "../GroupState.js"
import { Output, Response } from "../GroupState.js"
import * as TopicPartition from "../TopicPartition.js"
import type { Out } from "./common.js"
import { checkGeneration, fail, findMember, notAvailable, ok, patch, refreshSession, setMember } from "./common.js"

type E<Tag extends Event["_tag"]> = Extract<Event, { readonly _tag: Tag }>

/**
 * OffsetCommit, Kafka's rules: a standalone consumer (generation < 0) may commit to an Empty
 * group; otherwise the member must be known, unfenced and in the current generation, and the
 * group not awaiting its assignment. Accepted commits are persisted before they are applied.
 */
export const commit = (g: Group, e: E<"OffsetCommit">, nowMs: number, out: Out): Group => {
  const rejected = (error: Errors.GroupError): Group => {
    fail(out, e.replyTo, error)
    return g
  }
  if (g._tag === "Dead") return rejected(notAvailable(g))
  let member: Member | undefined
  if (!(e.generationId < 0 && g._tag === "Empty")) {
    if (g._tag === "CompletingRebalance") return rejected(new Errors.RebalanceInProgress({ groupId: g.groupId }))
    const found = findMember(g, e.memberId, e.groupInstanceId)
    if (Either.isLeft(found)) return rejected(found.left)
    const generation = checkGeneration(g, e.memberId, e.generationId)
    if (Either.isLeft(generation)) return rejected(generation.left)
    member = found.right
  }
  for (const o of e.offsets) {
    if (!Number.isInteger(o.offset) || o.offset < 0 || !Number.isInteger(o.partition) || o.partition < 0) {
      return rejected(new Errors.InvalidCommitOffset({ groupId: g.groupId, topic: o.topic, partition: o.partition, offset: o.offset }))
    }
    if (o.metadata.length > g.config.maxMetadataBytes) {
      return rejected(
        new Errors.OffsetMetadataTooLarge({
          groupId: g.groupId,
          topic: o.topic,
          partition: o.partition,
          maxMetadataBytes: g.config.maxMetadataBytes
        })
      )
    }
  }
  const offsets: Array<CommittedOffset> = e.offsets.map((o) => ({
    topic: o.topic,
    partition: o.partition,
    offset: o.offset,
    metadata: o.metadata,
    commitTimestampMs: nowMs,
    ...(o.leaderEpoch === undefined || o.leaderEpoch < 0 ? {} : { leaderEpoch: o.leaderEpoch })
  }))
  out.push(Output.PersistOffsets({ replyTo: e.replyTo, offsets }))
  // Kafka counts a commit from a Stable member as a heartbeat.
  return member !== undefined && g._tag === "Stable" ? setMember(g, refreshSession(member, nowMs, out)) : g
}

/** The commit is durable: apply it and answer. */
export const persisted = (g: Group, e: E<"OffsetsPersisted">, out: Out): Group => {
  ok(out, e.replyTo, Response.Committed({ offsets: e.offsets }))
  return applyOffsets(g, e.offsets)
}

/** The commit could not be written: nothing changes; the client retries after a lookup. */
export const persistFailed = (g: Group, e: E<"OffsetsPersistFailed">, out: Out): Group => {
  fail(out, e.replyTo, notAvailable(g))
  return g
}

/** Applies committed offsets to the group's cache. */
export const applyOffsets = (g: Group, committed: ReadonlyArray<CommittedOffset>): Group => {
  if (committed.length === 0) return g
  const offsets = new Map(g.offsets)
  for (const o of committed) offsets.set(TopicPartition.key(o), o)
  return patch(g, { offsets })
}

/** Removes committed offsets (a tombstone replayed from the offsets topic). */
export const deleteOffset = (g: Group, tp: { readonly topic: string; readonly partition: number }): Group => {
  if (!g.offsets.has(TopicPartition.key(tp))) return g
  const offsets = new Map(g.offsets)
  offsets.delete(TopicPartition.key(tp))
  return patch(g, { offsets })
}

/** OffsetFetch: the committed offsets asked for (all when `partitions` is undefined), -1 when none. */
export const fetch = (g: Group, e: E<"OffsetFetch">, out: Out): Group => {
  if (g._tag === "Dead") {
    fail(out, e.replyTo, notAvailable(g))
    return g
  }
  const toFetched = (o: CommittedOffset): FetchedOffset => ({
    topic: o.topic,
    partition: o.partition,
    offset: o.offset,
    metadata: o.metadata,
    ...(o.leaderEpoch === undefined ? {} : { leaderEpoch: o.leaderEpoch })
  })
  const offsets = e.partitions === undefined
    ? TopicPartition.sort(Array.from(g.offsets.values(), (o) => TopicPartition.make(o.topic, o.partition)))
      .map((tp) => toFetched(g.offsets.get(TopicPartition.key(tp))!))
    : e.partitions.map((tp) => {
      const o = g.offsets.get(TopicPartition.key(tp))
      return o === undefined ? { topic: tp.topic, partition: tp.partition, offset: -1, metadata: "" } : toFetched(o)
    })
  ok(out, e.replyTo, Response.Fetched({ offsets }))
  return g
}
