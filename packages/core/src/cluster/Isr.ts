/**
 * The ISR and high-watermark rules of a partition leader, as small pure functions (Kafka's
 * `Partition.scala` / `Replica.scala`). The `Replica` actor holds the state and the clock;
 * these decide.
 */
import { Data, Either } from "effect"
import { NotEnoughReplicas, NotEnoughReplicasAfterAppend } from "./Errors.js"
import type { BrokerId, TopicPartition } from "./Metadata.js"

/** What a leader tracks per follower. `logEndOffset` is -1 until the follower's first fetch. */
export interface FollowerState {
  readonly brokerId: BrokerId
  readonly logEndOffset: number
  /** Last time the follower was known to have everything the leader had (ms). */
  readonly lastCaughtUpTimeMs: number
  /** The leader's log end at the follower's previous fetch, and that fetch's time. */
  readonly lastFetchLeaderLogEndOffset: number
  readonly lastFetchTimeMs: number
}

/**
 * A follower's state when this broker becomes leader: ISR members count as caught up now (so
 * they are not dropped at once), others never caught up.
 */
export const initialFollower = (brokerId: BrokerId, inIsr: boolean, nowMs: number): FollowerState => ({
  brokerId,
  logEndOffset: -1,
  lastCaughtUpTimeMs: inIsr ? nowMs : 0,
  lastFetchLeaderLogEndOffset: -1,
  lastFetchTimeMs: 0
})

/**
 * Update a follower on a fetch at `fetchOffset` (= its log end). It is caught up at
 * `fetchTimeMs` if it reached the leader's log end, or at its previous fetch time if it reached
 * what the leader had then (Kafka's rule, so a steadily fetching follower under constant
 * produce load stays in sync).
 */
export const onFollowerFetch = (
  follower: FollowerState,
  fetch: { readonly fetchOffset: number; readonly fetchTimeMs: number; readonly leaderLogEndOffset: number }
): FollowerState => {
  const lastCaughtUpTimeMs = fetch.fetchOffset >= fetch.leaderLogEndOffset
    ? Math.max(follower.lastCaughtUpTimeMs, fetch.fetchTimeMs)
    : fetch.fetchOffset >= follower.lastFetchLeaderLogEndOffset && follower.lastFetchLeaderLogEndOffset >= 0
    ? Math.max(follower.lastCaughtUpTimeMs, follower.lastFetchTimeMs)
    : follower.lastCaughtUpTimeMs
  return {
    brokerId: follower.brokerId,
    logEndOffset: fetch.fetchOffset,
    lastCaughtUpTimeMs,
    lastFetchLeaderLogEndOffset: fetch.leaderLogEndOffset,
    lastFetchTimeMs: fetch.fetchTimeMs
  }
}

/** Inputs of {@link highWatermark}. */
export interface HighWatermarkInput {
  readonly leaderId: BrokerId
  readonly leaderLogEndOffset: number
  /** Follower log ends; a missing follower has not fetched yet and holds the watermark back. */
  readonly followerLogEndOffsets: ReadonlyMap<BrokerId, number>
  /** The ISR to count, including members whose addition is pending at the controller. */
  readonly isr: ReadonlyArray<BrokerId>
  readonly previousHighWatermark: number
}

/** High watermark = min log end over the ISR; never moves backwards, never passes the leader's log end. */
export const highWatermark = (input: HighWatermarkInput): number => {
  let min = input.leaderLogEndOffset
  for (const id of input.isr) {
    if (id === input.leaderId) continue
    min = Math.min(min, input.followerLogEndOffsets.get(id) ?? -1)
  }
  return Math.max(input.previousHighWatermark, min)
}

/** Inputs of {@link isrShrinkCandidates}. */
export interface ShrinkInput {
  readonly nowMs: number
  readonly leaderId: BrokerId
  readonly leaderLogEndOffset: number
  readonly isr: ReadonlyArray<BrokerId>
  readonly followers: ReadonlyMap<BrokerId, FollowerState>
  readonly replicaLagTimeMs: number
}

/** ISR followers to drop: not at the leader's log end and not caught up within `replicaLagTimeMs`. */
export const isrShrinkCandidates = (input: ShrinkInput): ReadonlyArray<BrokerId> =>
  input.isr.filter((id) => {
    if (id === input.leaderId) return false
    const follower = input.followers.get(id)
    if (follower === undefined) return true
    return follower.logEndOffset !== input.leaderLogEndOffset &&
      input.nowMs - follower.lastCaughtUpTimeMs > input.replicaLagTimeMs
  })

/** Inputs of {@link isrExpandCandidates}. */
export interface ExpandInput {
  readonly leaderId: BrokerId
  readonly isr: ReadonlyArray<BrokerId>
  readonly followers: ReadonlyMap<BrokerId, FollowerState>
  readonly highWatermark: number
  /** First offset written in the leader's current epoch: a follower must have it to join. */
  readonly leaderEpochStartOffset: number
  /** Whether the broker may join (e.g. not fenced); all may by default. */
  readonly isEligible?: (id: BrokerId) => boolean
}

/** Followers outside the ISR that caught up: log end >= high watermark and >= the current epoch's start. */
export const isrExpandCandidates = (input: ExpandInput): ReadonlyArray<BrokerId> =>
  [...input.followers.values()]
    .filter((f) =>
      f.brokerId !== input.leaderId &&
      !input.isr.includes(f.brokerId) &&
      f.logEndOffset >= input.highWatermark &&
      f.logEndOffset >= input.leaderEpochStartOffset &&
      (input.isEligible?.(f.brokerId) ?? true)
    )
    .map((f) => f.brokerId)
    .sort((a, b) => a - b)

/** Producer acknowledgement level: none, the leader's append, or the whole ISR. */
export type Acks = 0 | 1 | "all"

/** acks=all needs the ISR at `minInsyncReplicas` before appending; other acks never fail here. */
export const checkEnoughReplicas = (
  tp: TopicPartition,
  acks: Acks,
  isrSize: number,
  minInsyncReplicas: number
): Either.Either<void, NotEnoughReplicas> =>
  acks === "all" && isrSize < minInsyncReplicas
    ? Either.left(new NotEnoughReplicas({ topic: tp.topic, partition: tp.partition, isrSize, minInsyncReplicas }))
    : Either.void

/** Where an acks=all produce stands. */
export type AckState = Data.TaggedEnum<{
  /** The high watermark has not reached the batch yet. */
  Waiting: {}
  /** Committed with enough in-sync replicas: reply success. */
  Acked: {}
  /** Committed, but the ISR shrank below `minInsyncReplicas` meanwhile: reply the error. */
  Failed: { readonly error: NotEnoughReplicasAfterAppend }
}>
/** Constructors and matchers for {@link AckState}. */
export const AckState = Data.taggedEnum<AckState>()

/**
 * Kafka's `checkEnoughReplicasReachOffset`: a batch ending before `requiredOffset` (its last
 * offset + 1) is done once the high watermark reaches it; it fails if the ISR is then below
 * `minInsyncReplicas`.
 */
export const acksAllState = (input: {
  readonly tp: TopicPartition
  readonly requiredOffset: number
  readonly highWatermark: number
  readonly isrSize: number
  readonly minInsyncReplicas: number
}): AckState => {
  if (input.highWatermark < input.requiredOffset) return AckState.Waiting()
  if (input.isrSize >= input.minInsyncReplicas) return AckState.Acked()
  return AckState.Failed({
    error: new NotEnoughReplicasAfterAppend({
      topic: input.tp.topic,
      partition: input.tp.partition,
      isrSize: input.isrSize,
      minInsyncReplicas: input.minInsyncReplicas
    })
  })
}

/** Whether an acks=all produce can be acknowledged successfully now. */
export const acksAllSatisfied = (input: Parameters<typeof acksAllState>[0]): boolean =>
  acksAllState(input)._tag === "Acked"
