/**
 * The data of a consumer group's state machine: its states, members, the events it reacts to
 * and the outputs it asks its actor to perform. Transitions live in `Group.ts`.
 */
import type { Either } from "effect"
import { Data } from "effect"
import type * as Errors from "./Errors.js"

/** The actor's handle for a pending request; the machine hands it back in a `Reply` output. */
export type ReplyKey = number

/** One protocol (assignor) a member supports, with its subscription metadata. */
export interface Protocol {
  readonly name: string
  readonly metadata: Uint8Array
}

/** A member of the group, as the coordinator tracks it. */
export interface Member {
  readonly memberId: string
  /** Static membership id (KIP-345), if any. */
  readonly groupInstanceId: string | undefined
  readonly clientId: string
  readonly protocolType: string
  /** In the member's order of preference. */
  readonly protocols: ReadonlyArray<Protocol>
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  /** The member is removed if it is silent past this instant (unless it awaits a reply). */
  readonly sessionDeadlineMs: number
  /** The assignment the leader gave it in the current generation (empty before sync). */
  readonly assignment: Uint8Array
  /** Its JoinGroup waiting for the join phase to end. */
  readonly pendingJoin: ReplyKey | undefined
  /** Its SyncGroup waiting for the leader's assignment. */
  readonly pendingSync: ReplyKey | undefined
}

/** Coordinator settings for one group. */
export interface Config {
  /** Kafka's `group.initial.rebalance.delay.ms`: how long a new group waits for more members. */
  readonly initialRebalanceDelayMs: number
  readonly minSessionTimeoutMs: number
  readonly maxSessionTimeoutMs: number
  /** Most members a group may have. */
  readonly maxSize: number
  /** Longest metadata string a commit may carry, in UTF-16 code units. */
  readonly maxMetadataBytes: number
}

/** Kafka's defaults. */
export const defaultConfig: Config = {
  initialRebalanceDelayMs: 3_000,
  minSessionTimeoutMs: 6_000,
  maxSessionTimeoutMs: 1_800_000,
  maxSize: 1_000,
  maxMetadataBytes: 4_096
}

/** A committed offset: `offset` is the next offset to read. */
export interface CommittedOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly metadata: string
  readonly commitTimestampMs: number
  /** The leader epoch of the last record read before `offset`, when the committer knew it. */
  readonly leaderEpoch?: number
}

/** What every state carries. */
export interface Common {
  readonly groupId: string
  readonly config: Config
  readonly generationId: number
  readonly protocolType: string | undefined
  readonly protocolName: string | undefined
  readonly leaderId: string | undefined
  /** By member id, in join order. */
  readonly members: ReadonlyMap<string, Member>
  /** groupInstanceId → member id, for static members. */
  readonly staticMembers: ReadonlyMap<string, string>
  /** By `TopicPartition.key`. */
  readonly offsets: ReadonlyMap<string, CommittedOffset>
  /** Source of new member ids, so ids are deterministic. */
  readonly nextMemberSeq: number
  /**
   * Put in every new member id (`<client>-<tag><seq>`): the coordinator sets it per load (its
   * offsets partition's leader epoch), so ids never repeat across coordinator failovers.
   */
  readonly memberIdTag: string
  /**
   * The newest generation known to be written to `__consumer_offsets`. A generation's SyncGroup
   * answers wait for it, so a member only owns partitions in a generation a new coordinator
   * will load (and never reissue).
   */
  readonly persistedGeneration: number
}

/** Waiting for members to (re)join. */
export interface Preparing extends Common {
  /** The join phase ends here even if some members have not rejoined (they are removed). */
  readonly joinDeadlineMs: number
  /** Set during a new group's initial delay: the join phase cannot end before `joinDeadlineMs`, nor extend past this. */
  readonly initialDelayCapMs: number | undefined
}

/** Joined: waiting for the leader's assignment. */
export interface Completing extends Common {
  /** Members that have not sent SyncGroup by then are removed. */
  readonly syncDeadlineMs: number
}

/** A group: `Empty | PreparingRebalance | CompletingRebalance | Stable | Dead`, as in Kafka. */
export type Group = Data.TaggedEnum<{
  Empty: Common
  PreparingRebalance: Preparing
  CompletingRebalance: Completing
  Stable: Common
  Dead: Common
}>

/** Constructors, `$is` and `$match` for {@link Group}. */
export const Group = Data.taggedEnum<Group>()

/** A group in one given state. */
export type In<Tag extends Group["_tag"]> = Extract<Group, { readonly _tag: Tag }>

/** A member of a join response (sent to the leader only). */
export interface JoinedMember {
  readonly memberId: string
  readonly groupInstanceId: string | undefined
  readonly metadata: Uint8Array
}

/** A leader's assignment for one member. */
export interface MemberAssignment {
  readonly memberId: string
  readonly assignment: Uint8Array
}

/** An offset asked for by OffsetFetch: `offset` is -1 when nothing was committed. */
export interface FetchedOffset {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly metadata: string
  readonly leaderEpoch?: number
}

/** Offsets a member asks to commit. */
export interface OffsetToCommit {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly metadata: string
  readonly leaderEpoch?: number
}

/** Successful answers, one per request kind. */
export type Response = Data.TaggedEnum<{
  Joined: {
    readonly generationId: number
    readonly memberId: string
    readonly leaderId: string
    readonly protocolType: string
    readonly protocolName: string
    /** Every member's metadata for the chosen protocol; empty unless you are the leader. */
    readonly members: ReadonlyArray<JoinedMember>
  }
  Synced: { readonly protocolType: string; readonly protocolName: string; readonly assignment: Uint8Array }
  HeartbeatOk: {}
  Left: {}
  Committed: { readonly offsets: ReadonlyArray<CommittedOffset> }
  Fetched: { readonly offsets: ReadonlyArray<FetchedOffset> }
}>

/** Constructors for {@link Response}. */
export const Response = Data.taggedEnum<Response>()

/** A timer the actor runs for the group; starting one replaces a running one with the same key. */
export type Timer = Data.TaggedEnum<{
  Session: { readonly memberId: string }
  Join: {}
  Sync: {}
}>

/** Constructors for {@link Timer}. */
export const Timer = Data.taggedEnum<Timer>()

/** The key of a timer, for the actor's timer map. */
export const timerKey = (timer: Timer): string => (timer._tag === "Session" ? `Session/${timer.memberId}` : timer._tag)

/** What the actor must do after a transition, in order. */
export type Output = Data.TaggedEnum<{
  /** Answer the request parked (or just received) under `replyTo`. */
  Reply: { readonly replyTo: ReplyKey; readonly result: Either.Either<Response, Errors.GroupError> }
  /** (Re)start a timer; when it fires, feed {@link timerEvent} back. */
  StartTimer: { readonly timer: Timer; readonly delayMs: number }
  CancelTimer: { readonly timer: Timer }
  /** Append to `__consumer_offsets` (acks=all), then feed `OffsetsPersisted` or `OffsetsPersistFailed`. */
  PersistOffsets: { readonly replyTo: ReplyKey; readonly offsets: ReadonlyArray<CommittedOffset> }
  /** Append the group's generation to `__consumer_offsets` (acks=all), then feed `GroupPersisted` or `GroupPersistFailed`. */
  PersistGroup: { readonly generationId: number; readonly nextMemberSeq: number }
}>

/** Constructors for {@link Output}. */
export const Output = Data.taggedEnum<Output>()

/** What happens to a group: requests (with the actor's reply key), timers and storage results. */
export type Event = Data.TaggedEnum<{
  JoinGroup: {
    readonly replyTo: ReplyKey
    /** "" on a first join: the coordinator assigns one. */
    readonly memberId: string
    readonly groupInstanceId: string | undefined
    readonly clientId: string
    readonly protocolType: string
    readonly protocols: ReadonlyArray<Protocol>
    readonly sessionTimeoutMs: number
    readonly rebalanceTimeoutMs: number
  }
  SyncGroup: {
    readonly replyTo: ReplyKey
    readonly memberId: string
    readonly groupInstanceId: string | undefined
    readonly generationId: number
    readonly protocolType: string | undefined
    readonly protocolName: string | undefined
    /** The leader's assignment; empty from followers. */
    readonly assignments: ReadonlyArray<MemberAssignment>
  }
  Heartbeat: {
    readonly replyTo: ReplyKey
    readonly memberId: string
    readonly groupInstanceId: string | undefined
    readonly generationId: number
  }
  LeaveGroup: { readonly replyTo: ReplyKey; readonly memberId: string; readonly groupInstanceId: string | undefined }
  SessionExpired: { readonly memberId: string }
  /** The rebalance timeout or the initial rebalance delay elapsed. */
  JoinTimeout: {}
  SyncTimeout: {}
  OffsetCommit: {
    readonly replyTo: ReplyKey
    /** "" with generation -1 for a standalone consumer (group Empty). */
    readonly memberId: string
    readonly groupInstanceId: string | undefined
    readonly generationId: number
    readonly offsets: ReadonlyArray<OffsetToCommit>
  }
  OffsetsPersisted: { readonly replyTo: ReplyKey; readonly offsets: ReadonlyArray<CommittedOffset> }
  OffsetsPersistFailed: { readonly replyTo: ReplyKey }
  GroupPersisted: { readonly generationId: number }
  GroupPersistFailed: { readonly generationId: number }
  /** All partitions when `partitions` is undefined. */
  OffsetFetch: {
    readonly replyTo: ReplyKey
    readonly partitions: ReadonlyArray<{ readonly topic: string; readonly partition: number }> | undefined
  }
  /** This broker stopped coordinating the group (leadership of its offsets partition moved). */
  Unload: {}
}>

/** Constructors for {@link Event}. */
export const Event = Data.taggedEnum<Event>()

/** The event to feed back when `timer` fires. */
export const timerEvent = (timer: Timer): Event =>
  Timer.$match(timer, {
    Session: ({ memberId }) => Event.SessionExpired({ memberId }),
    Join: () => Event.JoinTimeout(),
    Sync: () => Event.SyncTimeout()
  })

/** A transition's result: the new group and the outputs to perform, in order. */
export interface Step {
  readonly group: Group
  readonly outputs: ReadonlyArray<Output>
}
