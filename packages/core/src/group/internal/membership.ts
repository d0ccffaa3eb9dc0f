/**
 * Membership transitions: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, the session, join and
 * sync timers, and unloading. Each takes the group, the event and `nowMs`, and pushes outputs.
 */
import { Either } from "effect"
import * as Errors from "../Errors.js"
import type { Event, Group, In, Member } from "../GroupState.js"
import { Group as G, Output, Response, Timer } from "../GroupState.js"
import type { Out } from "./common.js"
import { checkGeneration, commonOf, fail, findMember, notAvailable, ok, patch, refreshSession, setMember } from "./common.js"
import { completeJoin, extendInitialDelay, prepare, protocolsFit, removeMember, tryCompleteJoin } from "./rebalance.js"

type E<Tag extends Event["_tag"]> = Extract<Event, { readonly _tag: Tag }>

const emptyBytes = new Uint8Array(0)

/** JoinGroup: admits a new member, replaces a static one, or parks a rejoin until the join phase ends. */
export const join = (g: Group, e: E<"JoinGroup">, nowMs: number, out: Out): Group => {
  if (g._tag === "Dead") return failWith(g, out, e.replyTo, notAvailable(g))
  const { minSessionTimeoutMs, maxSessionTimeoutMs } = g.config
  if (e.sessionTimeoutMs < minSessionTimeoutMs || e.sessionTimeoutMs > maxSessionTimeoutMs) {
    const error = new Errors.InvalidSessionTimeout({
      groupId: g.groupId,
      sessionTimeoutMs: e.sessionTimeoutMs,
      minSessionTimeoutMs,
      maxSessionTimeoutMs
    })
    return failWith(g, out, e.replyTo, error)
  }
  if (!protocolsFit(g, e.protocolType, e.protocols)) {
    return failWith(g, out, e.replyTo, new Errors.InconsistentGroupProtocol({ groupId: g.groupId, memberId: e.memberId }))
  }
  if (e.memberId === "") {
    const staticId = e.groupInstanceId === undefined ? undefined : g.staticMembers.get(e.groupInstanceId)
    if (staticId === undefined) return joinNew(g, e, nowMs, out)
    const old = g.members.get(staticId)!
    const expired = nowMs >= old.sessionDeadlineMs && old.pendingJoin === undefined && old.pendingSync === undefined
    if (expired) return joinNew(removeMember(g, staticId, nowMs, out), e, nowMs, out)
    return rejoinStatic(g, old, e, nowMs, out)
  }
  const found = findMember(g, e.memberId, e.groupInstanceId)
  if (Either.isLeft(found)) return failWith(g, out, e.replyTo, found.left)
  return rejoin(g, found.right, e, nowMs, out)
}

const failWith = (g: Group, out: Out, replyTo: number, error: Errors.GroupError): Group => {
  fail(out, replyTo, error)
  return g
}

const memberFrom = (e: E<"JoinGroup">, memberId: string, nowMs: number): Member => ({
  memberId,
  groupInstanceId: e.groupInstanceId,
  clientId: e.clientId,
  protocolType: e.protocolType,
  protocols: e.protocols,
  sessionTimeoutMs: e.sessionTimeoutMs,
  rebalanceTimeoutMs: e.rebalanceTimeoutMs,
  sessionDeadlineMs: nowMs + e.sessionTimeoutMs,
  assignment: emptyBytes,
  pendingJoin: e.replyTo,
  pendingSync: undefined
})

/** A first join: a new member id (from the group's counter), then a rebalance. */
const joinNew = (g: Group, e: E<"JoinGroup">, nowMs: number, out: Out): Group => {
  if (g._tag === "Dead") return failWith(g, out, e.replyTo, notAvailable(g))
  if (g.members.size >= g.config.maxSize) {
    return failWith(g, out, e.replyTo, new Errors.GroupMaxSizeReached({ groupId: g.groupId, maxSize: g.config.maxSize }))
  }
  const prefix = e.groupInstanceId ?? (e.clientId === "" ? "member" : e.clientId)
  const memberId = `${prefix}-${g.memberIdTag}${g.nextMemberSeq}`
  const staticMembers = new Map(g.staticMembers)
  if (e.groupInstanceId !== undefined) staticMembers.set(e.groupInstanceId, memberId)
  const added = setMember(
    patch(g, {
      nextMemberSeq: g.nextMemberSeq + 1,
      staticMembers,
      protocolType: g.members.size === 0 ? e.protocolType : g.protocolType
    }),
    memberFrom(e, memberId, nowMs)
  )
  return G.$match(added, {
    Empty: (s) => tryCompleteJoin(prepare(s, nowMs, out), nowMs, out),
    Stable: (s) => tryCompleteJoin(prepare(s, nowMs, out), nowMs, out),
    CompletingRebalance: (s) => tryCompleteJoin(prepare(s, nowMs, out), nowMs, out),
    PreparingRebalance: (s) => tryCompleteJoin(extendInitialDelay(s, nowMs, out), nowMs, out),
    Dead: (s) => s
  })
}

const sameProtocols = (m: Member, e: E<"JoinGroup">): boolean =>
  m.protocolType === e.protocolType &&
  m.protocols.length === e.protocols.length &&
  m.protocols.every((p, i) => p.name === e.protocols[i]!.name && sameBytes(p.metadata, e.protocols[i]!.metadata))

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** The answer to a join that changes nothing: the current generation as it stands. */
const currentJoin = (g: In<"CompletingRebalance"> | In<"Stable">, memberId: string): Response => {
  const leaderId = g.leaderId!
  const protocolName = g.protocolName!
  return Response.Joined({
    generationId: g.generationId,
    memberId,
    leaderId,
    protocolType: g.protocolType!,
    protocolName,
    members: memberId !== leaderId ? [] : Array.from(g.members.values(), (m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.protocols.find((p) => p.name === protocolName)!.metadata
    }))
  })
}

/**
 * A static member restarting (KIP-345): a new member id replaces the old one, which is fenced.
 * In a Stable group with unchanged metadata it keeps its assignment and no rebalance happens.
 */
const rejoinStatic = (g: Group, old: Member, e: E<"JoinGroup">, nowMs: number, out: Out): Group => {
  const memberId = `${e.groupInstanceId!}-${g.memberIdTag}${g.nextMemberSeq}`
  const fenced = new Errors.FencedInstanceId({ groupId: g.groupId, groupInstanceId: e.groupInstanceId!, memberId: old.memberId })
  if (old.pendingJoin !== undefined) fail(out, old.pendingJoin, fenced)
  if (old.pendingSync !== undefined) fail(out, old.pendingSync, fenced)
  out.push(Output.CancelTimer({ timer: Timer.Session({ memberId: old.memberId }) }))
  const unchanged = g._tag === "Stable" && sameProtocols(old, e)
  const replaced: Member = {
    ...memberFrom(e, memberId, nowMs),
    assignment: old.assignment,
    pendingJoin: unchanged ? undefined : e.replyTo
  }
  const members = new Map(Array.from(g.members, ([id, m]) => (id === old.memberId ? [memberId, replaced] : [id, m])))
  const staticMembers = new Map(g.staticMembers).set(e.groupInstanceId!, memberId)
  const leaderId = g.leaderId === old.memberId ? memberId : g.leaderId
  const next = patch(g, { members, staticMembers, leaderId, nextMemberSeq: g.nextMemberSeq + 1 })
  return G.$match(next, {
    Stable: (s) => {
      if (!unchanged) return tryCompleteJoin(prepare(s, nowMs, out), nowMs, out)
      out.push(Output.StartTimer({ timer: Timer.Session({ memberId }), delayMs: e.sessionTimeoutMs }))
      ok(out, e.replyTo, currentJoin(s, memberId))
      return s
    },
    CompletingRebalance: (s) => tryCompleteJoin(prepare(s, nowMs, out), nowMs, out),
    PreparingRebalance: (s) => tryCompleteJoin(s, nowMs, out),
    Empty: (s) => s,
    Dead: (s) => s
  })
}

/** A known member rejoining: parked while preparing; answered at once if nothing changed. */
const rejoin = (g: Group, m: Member, e: E<"JoinGroup">, nowMs: number, out: Out): Group => {
  const updated: Member = {
    ...memberFrom(e, m.memberId, nowMs),
    groupInstanceId: m.groupInstanceId,
    assignment: m.assignment,
    pendingSync: m.pendingSync
  }
  const park = <S extends In<"Stable"> | In<"CompletingRebalance">>(s: S) =>
    tryCompleteJoin(prepare(setMember(s, updated), nowMs, out), nowMs, out)
  return G.$match(g, {
    PreparingRebalance: (s) => {
      if (m.pendingJoin !== undefined) fail(out, m.pendingJoin, new Errors.RebalanceInProgress({ groupId: g.groupId }))
      return tryCompleteJoin(setMember(s, updated), nowMs, out)
    },
    CompletingRebalance: (s) => {
      if (!sameProtocols(m, e)) return park(s)
      ok(out, e.replyTo, currentJoin(s, m.memberId))
      return s
    },
    Stable: (s) => {
      if (m.memberId === s.leaderId || !sameProtocols(m, e)) return park(s)
      ok(out, e.replyTo, currentJoin(s, m.memberId))
      return setMember(s, refreshSession(m, nowMs, out))
    },
    Empty: (s) => failWith(s, out, e.replyTo, new Errors.UnknownMemberId({ groupId: g.groupId, memberId: m.memberId })),
    Dead: (s) => failWith(s, out, e.replyTo, notAvailable(s))
  })
}

/** SyncGroup: the leader's assignment moves the group to Stable and answers every member. */
export const sync = (g: Group, e: E<"SyncGroup">, nowMs: number, out: Out): Group => {
  if (g._tag === "Dead") return failWith(g, out, e.replyTo, notAvailable(g))
  const found = findMember(g, e.memberId, e.groupInstanceId)
  if (Either.isLeft(found)) return failWith(g, out, e.replyTo, found.left)
  const generation = checkGeneration(g, e.memberId, e.generationId)
  if (Either.isLeft(generation)) return failWith(g, out, e.replyTo, generation.left)
  if (
    (e.protocolType !== undefined && e.protocolType !== g.protocolType) ||
    (e.protocolName !== undefined && e.protocolName !== g.protocolName)
  ) {
    return failWith(g, out, e.replyTo, new Errors.InconsistentGroupProtocol({ groupId: g.groupId, memberId: e.memberId }))
  }
  const member = refreshSession(found.right, nowMs, out)
  return G.$match(g, {
    PreparingRebalance: (s) => failWith(s, out, e.replyTo, new Errors.RebalanceInProgress({ groupId: g.groupId })),
    CompletingRebalance: (s) => {
      if (member.pendingSync !== undefined) {
        fail(out, member.pendingSync, new Errors.RebalanceInProgress({ groupId: g.groupId }))
      }
      const parked = setMember(s, { ...member, pendingSync: e.replyTo })
      return e.memberId === s.leaderId ? completeSync(parked, e.assignments, out) : parked
    },
    Stable: (s) => {
      if (s.persistedGeneration < s.generationId) {
        // The generation is still being written: answer once it is durable.
        if (member.pendingSync !== undefined) fail(out, member.pendingSync, new Errors.RebalanceInProgress({ groupId: g.groupId }))
        return setMember(s, { ...member, pendingSync: e.replyTo })
      }
      ok(out, e.replyTo, Response.Synced({ protocolType: s.protocolType!, protocolName: s.protocolName!, assignment: member.assignment }))
      return setMember(s, member)
    },
    Empty: (s) => failWith(s, out, e.replyTo, new Errors.UnknownMemberId({ groupId: g.groupId, memberId: e.memberId })),
    Dead: (s) => s
  })
}

/**
 * The leader's assignment arrived: store it and become Stable. As Kafka does, the generation is
 * written to `__consumer_offsets` first; parked syncs are answered once it is durable
 * ({@link groupPersisted}).
 */
const completeSync = (
  g: In<"CompletingRebalance">,
  assignments: ReadonlyArray<{ readonly memberId: string; readonly assignment: Uint8Array }>,
  out: Out
): In<"Stable"> => {
  out.push(Output.CancelTimer({ timer: Timer.Sync() }))
  const given = new Map(assignments.map((a) => [a.memberId, a.assignment]))
  const members = new Map(Array.from(g.members, ([id, m]) => [id, { ...m, assignment: given.get(id) ?? emptyBytes }]))
  const { _tag, syncDeadlineMs, ...common } = g
  const stable = G.Stable({ ...common, members })
  if (stable.persistedGeneration >= stable.generationId) return answerSyncs(stable, out)
  out.push(Output.PersistGroup({ generationId: stable.generationId, nextMemberSeq: stable.nextMemberSeq }))
  return stable
}

/** Answers every parked SyncGroup with the member's assignment. */
const answerSyncs = (g: In<"Stable">, out: Out): In<"Stable"> => {
  const members = new Map(Array.from(g.members, ([id, m]) => {
    if (m.pendingSync === undefined) return [id, m]
    ok(out, m.pendingSync, Response.Synced({ protocolType: g.protocolType!, protocolName: g.protocolName!, assignment: m.assignment }))
    return [id, { ...m, pendingSync: undefined }]
  }))
  return G.Stable({ ...g, members })
}

/** The generation is durable: members parked in SyncGroup get their assignments. */
export const groupPersisted = (g: Group, e: E<"GroupPersisted">, out: Out): Group => {
  const next = patch(g, { persistedGeneration: Math.max(g.persistedGeneration, e.generationId) })
  return next._tag === "Stable" && next.generationId === e.generationId ? answerSyncs(next, out) : next
}

/**
 * The generation could not be written (the offsets partition lost its ISR, or this broker its
 * leadership): parked syncs fail with `CoordinatorNotAvailable` and the group rebalances.
 */
export const groupPersistFailed = (g: Group, e: E<"GroupPersistFailed">, nowMs: number, out: Out): Group => {
  if (g._tag !== "Stable" || g.generationId !== e.generationId) return g
  const members = new Map(Array.from(g.members, ([id, m]) => {
    if (m.pendingSync !== undefined) fail(out, m.pendingSync, notAvailable(g))
    return [id, { ...m, pendingSync: undefined }]
  }))
  return tryCompleteJoin(prepare(G.Stable({ ...g, members }), nowMs, out), nowMs, out)
}

/** Heartbeat: keeps the session alive; answers `RebalanceInProgress` while rebalancing. */
export const heartbeat = (g: Group, e: E<"Heartbeat">, nowMs: number, out: Out): Group => {
  if (g._tag === "Dead") return failWith(g, out, e.replyTo, notAvailable(g))
  const found = findMember(g, e.memberId, e.groupInstanceId)
  if (Either.isLeft(found)) return failWith(g, out, e.replyTo, found.left)
  const generation = checkGeneration(g, e.memberId, e.generationId)
  if (Either.isLeft(generation)) return failWith(g, out, e.replyTo, generation.left)
  const next = setMember(g, refreshSession(found.right, nowMs, out))
  if (next._tag === "Stable") ok(out, e.replyTo, Response.HeartbeatOk())
  else fail(out, e.replyTo, new Errors.RebalanceInProgress({ groupId: g.groupId }))
  return next
}

/** LeaveGroup (by member id, or by static instance id with member id ""): removes and rebalances. */
export const leave = (g: Group, e: E<"LeaveGroup">, nowMs: number, out: Out): Group => {
  if (g._tag === "Dead") return failWith(g, out, e.replyTo, notAvailable(g))
  const memberId = e.memberId === "" && e.groupInstanceId !== undefined
    ? g.staticMembers.get(e.groupInstanceId) ?? ""
    : e.memberId
  const found = findMember(g, memberId, e.groupInstanceId)
  if (Either.isLeft(found)) return failWith(g, out, e.replyTo, found.left)
  const next = removeMember(g, memberId, nowMs, out)
  ok(out, e.replyTo, Response.Left())
  return next
}

/** A session timer fired: the member is removed unless it was heard from or awaits a reply. */
export const sessionExpired = (g: Group, e: E<"SessionExpired">, nowMs: number, out: Out): Group => {
  const m = g.members.get(e.memberId)
  if (m === undefined || g._tag === "Dead") return g
  if (m.pendingJoin !== undefined || m.pendingSync !== undefined || nowMs < m.sessionDeadlineMs) return g
  return removeMember(g, e.memberId, nowMs, out)
}

/** The join timer fired: the join phase ends with whoever rejoined. */
export const joinTimeout = (g: Group, nowMs: number, out: Out): Group =>
  g._tag === "PreparingRebalance" && nowMs >= g.joinDeadlineMs ? completeJoin(g, nowMs, out) : g

/** The sync timer fired: members that never sent SyncGroup are removed, the rest rebalance. */
export const syncTimeout = (g: Group, nowMs: number, out: Out): Group => {
  if (g._tag !== "CompletingRebalance" || nowMs < g.syncDeadlineMs) return g
  let next: In<"CompletingRebalance"> = g
  for (const m of g.members.values()) {
    if (m.pendingSync !== undefined) continue
    out.push(Output.CancelTimer({ timer: Timer.Session({ memberId: m.memberId }) }))
    const members = new Map(next.members)
    members.delete(m.memberId)
    const staticMembers = new Map(next.staticMembers)
    if (m.groupInstanceId !== undefined) staticMembers.delete(m.groupInstanceId)
    next = patch(next, { members, staticMembers })
  }
  return tryCompleteJoin(prepare(next, nowMs, out), nowMs, out)
}

/** This broker gave the group up: parked requests get `NotCoordinator`, timers stop, the group is Dead. */
export const unload = (g: Group, out: Out): Group => {
  const error = new Errors.NotCoordinator({ groupId: g.groupId })
  for (const m of g.members.values()) {
    if (m.pendingJoin !== undefined) fail(out, m.pendingJoin, error)
    if (m.pendingSync !== undefined) fail(out, m.pendingSync, error)
    out.push(Output.CancelTimer({ timer: Timer.Session({ memberId: m.memberId }) }))
  }
  out.push(Output.CancelTimer({ timer: Timer.Join() }), Output.CancelTimer({ timer: Timer.Sync() }))
  return G.Dead({
    ...commonOf(g),
    members: new Map(Array.from(g.members, ([id, m]) => [id, { ...m, pendingJoin: undefined, pendingSync: undefined }]))
  })
}
