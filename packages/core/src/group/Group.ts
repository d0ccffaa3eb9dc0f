/**
 * A consumer group as a pure state machine (Kafka's classic group protocol). `step` takes the
 * group, an event and `nowMs`, and returns the new group with the outputs its actor performs:
 * replies, timers and offset writes. The `GroupCoordinator` actor only does that I/O.
 */
import * as Errors from "./Errors.js"
import type { CommittedOffset, Config, Event, Group, Member, Step } from "./GroupState.js"
import { defaultConfig, Event as Ev, Group as G } from "./GroupState.js"
import type { Out } from "./internal/common.js"
import { fail } from "./internal/common.js"
import * as membership from "./internal/membership.js"
import * as offsets from "./internal/offsets.js"
import type * as OffsetKey from "./OffsetKey.js"
import * as TopicPartition from "./TopicPartition.js"

/** A new, Empty group at generation 0; `memberIdTag` goes into every member id it issues. */
export const make = (groupId: string, config: Partial<Config> = {}, memberIdTag = ""): Group =>
  G.Empty({
    groupId,
    config: { ...defaultConfig, ...config },
    generationId: 0,
    protocolType: undefined,
    protocolName: undefined,
    leaderId: undefined,
    members: new Map(),
    staticMembers: new Map(),
    offsets: new Map(),
    nextMemberSeq: 0,
    memberIdTag,
    persistedGeneration: 0
  })

/** Applies one event at `nowMs`. Requests on a group with an empty id fail with `InvalidGroupId`. */
export const step = (group: Group, event: Event, nowMs: number): Step => {
  const out: Out = []
  if (group.groupId === "" && "replyTo" in event && event._tag !== "OffsetsPersisted" && event._tag !== "OffsetsPersistFailed") {
    fail(out, event.replyTo, new Errors.InvalidGroupId({ groupId: "" }))
    return { group, outputs: out }
  }
  const next = Ev.$match(event, {
    JoinGroup: (e) => membership.join(group, e, nowMs, out),
    SyncGroup: (e) => membership.sync(group, e, nowMs, out),
    Heartbeat: (e) => membership.heartbeat(group, e, nowMs, out),
    LeaveGroup: (e) => membership.leave(group, e, nowMs, out),
    SessionExpired: (e) => membership.sessionExpired(group, e, nowMs, out),
    JoinTimeout: () => membership.joinTimeout(group, nowMs, out),
    SyncTimeout: () => membership.syncTimeout(group, nowMs, out),
    OffsetCommit: (e) => offsets.commit(group, e, nowMs, out),
    OffsetsPersisted: (e) => offsets.persisted(group, e, out),
    OffsetsPersistFailed: (e) => offsets.persistFailed(group, e, out),
    GroupPersisted: (e) => membership.groupPersisted(group, e, out),
    GroupPersistFailed: (e) => membership.groupPersistFailed(group, e, nowMs, out),
    OffsetFetch: (e) => offsets.fetch(group, e, out),
    Unload: () => membership.unload(group, out)
  })
  return { group: next, outputs: out }
}

/**
 * Replays one `__consumer_offsets` record into a group being loaded (a `null` value is a
 * tombstone). The coordinator loads every record of the group before answering.
 */
export const loadOffset = (group: Group, key: OffsetKey.OffsetKey, value: OffsetKey.OffsetValue | null): Group =>
  value === null
    ? offsets.deleteOffset(group, key)
    : offsets.applyOffsets(group, [{
      topic: key.topic,
      partition: key.partition,
      offset: value.offset,
      metadata: value.metadata,
      commitTimestampMs: value.commitTimestampMs,
      ...(value.leaderEpoch === undefined ? {} : { leaderEpoch: value.leaderEpoch })
    }])

/**
 * Replays a group metadata record: the group continues from the generation it had reached (a
 * new generation is bumped from there), so generations never repeat across coordinators.
 */
export const loadGeneration = (group: Group, generationId: number, nextMemberSeq: number): Group =>
  generationId <= group.persistedGeneration
    ? group
    : G.Empty({
      ...group,
      generationId: Math.max(group.generationId, generationId),
      persistedGeneration: generationId,
      nextMemberSeq: Math.max(group.nextMemberSeq, nextMemberSeq)
    })

/** The committed offset of a partition, if any. */
export const committed = (group: Group, topic: string, partition: number): CommittedOffset | undefined =>
  group.offsets.get(TopicPartition.key({ topic, partition }))

/** A group as Admin's describe shows it. */
export interface Description {
  readonly groupId: string
  readonly state: Group["_tag"]
  readonly generationId: number
  readonly protocolType: string | undefined
  readonly protocolName: string | undefined
  readonly leaderId: string | undefined
  readonly members: ReadonlyArray<{
    readonly memberId: string
    readonly groupInstanceId: string | undefined
    readonly clientId: string
    readonly assignment: Uint8Array
  }>
}

/** Describes a group (state, generation, members and their assignments). */
export const describe = (group: Group): Description => ({
  groupId: group.groupId,
  state: group._tag,
  generationId: group.generationId,
  protocolType: group.protocolType,
  protocolName: group.protocolName,
  leaderId: group.leaderId,
  members: Array.from(group.members.values(), (m: Member) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    clientId: m.clientId,
    assignment: m.assignment
  }))
})
