/**
 * The rebalance itself: entering PreparingRebalance, ending the join phase (protocol vote,
 * generation bump, leader election, join replies), and removing members.
 */
import * as Errors from "../Errors.js"
import type { Common, Group, In, JoinedMember, Member } from "../GroupState.js"
import { Group as G, Output, Response, Timer } from "../GroupState.js"
import type { Out } from "./common.js"
import { fail, ok, patch, rebalanceTimeoutMs, refreshSession } from "./common.js"

/** States a rebalance can start from. */
export type CanPrepare = In<"Empty"> | In<"Stable"> | In<"CompletingRebalance">

const emptyBytes = new Uint8Array(0)

/** Enters PreparingRebalance: pending syncs are told to rejoin; the join timer starts. */
export const prepare = (g: CanPrepare, nowMs: number, out: Out): In<"PreparingRebalance"> => {
  let common: Common = g
  // Syncs parked in CompletingRebalance, or in Stable while the generation is being written.
  if (g._tag === "CompletingRebalance" || Array.from(g.members.values()).some((m) => m.pendingSync !== undefined)) {
    if (g._tag === "CompletingRebalance") out.push(Output.CancelTimer({ timer: Timer.Sync() }))
    const members = new Map<string, Member>()
    for (const [id, m] of g.members) {
      if (m.pendingSync !== undefined) fail(out, m.pendingSync, new Errors.RebalanceInProgress({ groupId: g.groupId }))
      members.set(id, { ...m, pendingSync: undefined, assignment: emptyBytes })
    }
    common = { ...g, members }
  }
  const timeoutMs = rebalanceTimeoutMs(common)
  const delayMs = g.config.initialRebalanceDelayMs
  const initial = g._tag === "Empty" && delayMs > 0
  const joinDeadlineMs = nowMs + (initial ? delayMs : timeoutMs)
  out.push(Output.StartTimer({ timer: Timer.Join(), delayMs: joinDeadlineMs - nowMs }))
  const { _tag, ...fields } = { ...g, ...common }
  return G.PreparingRebalance({
    ...fields,
    joinDeadlineMs,
    initialDelayCapMs: initial ? nowMs + Math.max(delayMs, timeoutMs) : undefined
  })
}

/** During a new group's initial delay, each new member pushes the end of the join phase back. */
export const extendInitialDelay = (
  g: In<"PreparingRebalance">,
  nowMs: number,
  out: Out
): In<"PreparingRebalance"> => {
  if (g.initialDelayCapMs === undefined) return g
  const joinDeadlineMs = Math.min(nowMs + g.config.initialRebalanceDelayMs, g.initialDelayCapMs)
  if (joinDeadlineMs <= g.joinDeadlineMs) return g
  out.push(Output.StartTimer({ timer: Timer.Join(), delayMs: joinDeadlineMs - nowMs }))
  return G.PreparingRebalance({ ...g, joinDeadlineMs })
}

/** Ends the join phase once every member has rejoined (never during the initial delay). */
export const tryCompleteJoin = (g: In<"PreparingRebalance">, nowMs: number, out: Out): Group => {
  if (g.initialDelayCapMs !== undefined) return g
  for (const m of g.members.values()) if (m.pendingJoin === undefined) return g
  return completeJoin(g, nowMs, out)
}

/**
 * Ends the join phase: members that did not rejoin are removed; if none is left the group is
 * Empty, else the generation is bumped, a protocol voted, a leader chosen and every join answered.
 */
export const completeJoin = (
  g: In<"PreparingRebalance">,
  nowMs: number,
  out: Out
): In<"Empty"> | In<"CompletingRebalance"> => {
  out.push(Output.CancelTimer({ timer: Timer.Join() }))
  let members = new Map(g.members)
  const staticMembers = new Map(g.staticMembers)
  for (const m of g.members.values()) {
    if (m.pendingJoin !== undefined) continue
    members.delete(m.memberId)
    if (m.groupInstanceId !== undefined) staticMembers.delete(m.groupInstanceId)
    out.push(Output.CancelTimer({ timer: Timer.Session({ memberId: m.memberId }) }))
  }
  const { _tag, joinDeadlineMs, initialDelayCapMs, ...common } = g
  const generationId = g.generationId + 1
  if (members.size === 0) {
    return G.Empty({ ...common, members, staticMembers, generationId, protocolName: undefined, leaderId: undefined })
  }
  const protocolName = vote(Array.from(members.values()))
  const leaderId = g.leaderId !== undefined && members.has(g.leaderId) ? g.leaderId : members.keys().next().value!
  const protocolType = members.get(leaderId)!.protocolType
  const joined: Array<JoinedMember> = Array.from(members.values(), (m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    metadata: m.protocols.find((p) => p.name === protocolName)!.metadata
  }))
  members = new Map(Array.from(members, ([id, m]) => {
    ok(
      out,
      m.pendingJoin!,
      Response.Joined({
        generationId,
        memberId: id,
        leaderId,
        protocolType,
        protocolName,
        members: id === leaderId ? joined : []
      })
    )
    return [id, { ...refreshSession(m, nowMs, out), pendingJoin: undefined, assignment: emptyBytes }]
  }))
  const next = { ...common, members, staticMembers, generationId, protocolType, protocolName, leaderId }
  const syncDeadlineMs = nowMs + rebalanceTimeoutMs(next)
  out.push(Output.StartTimer({ timer: Timer.Sync(), delayMs: syncDeadlineMs - nowMs }))
  return G.CompletingRebalance({ ...next, syncDeadlineMs })
}

/**
 * Kafka's protocol vote: among protocols every member supports, each member votes for its most
 * preferred; most votes wins, ties go to the first member's preference.
 */
export const vote = (members: ReadonlyArray<Pick<Member, "protocols">>): string => {
  const first = members[0]!.protocols.map((p) => p.name)
  const candidates = first.filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)))
  // Joins are checked against the protocols all members support, so this cannot be empty.
  if (candidates.length === 0) throw new Error("group invariant broken: members share no protocol")
  const votes = new Map(candidates.map((name) => [name, 0]))
  for (const m of members) {
    const choice = m.protocols.find((p) => votes.has(p.name))!.name
    votes.set(choice, votes.get(choice)! + 1)
  }
  return candidates.reduce((best, name) => (votes.get(name)! > votes.get(best)! ? name : best))
}

/** Protocol names every member supports (all names for an empty list). */
export const supportedProtocols = (g: Common): ReadonlySet<string> | undefined => {
  let names: Set<string> | undefined
  for (const m of g.members.values()) {
    const mine = new Set(m.protocols.map((p) => p.name))
    names = names === undefined ? mine : new Set(Array.from(names).filter((n) => mine.has(n)))
  }
  return names
}

/**
 * Removes a member (its pending requests fail with `UnknownMemberId`) and rebalances the rest:
 * a Stable or CompletingRebalance group prepares a rebalance; a preparing one may now complete.
 */
export const removeMember = (g: Group, memberId: string, nowMs: number, out: Out): Group => {
  const m = g.members.get(memberId)
  if (m === undefined) return g
  const gone = new Errors.UnknownMemberId({ groupId: g.groupId, memberId })
  if (m.pendingJoin !== undefined) fail(out, m.pendingJoin, gone)
  if (m.pendingSync !== undefined) fail(out, m.pendingSync, gone)
  out.push(Output.CancelTimer({ timer: Timer.Session({ memberId }) }))
  const members = new Map(g.members)
  members.delete(memberId)
  const staticMembers = new Map(g.staticMembers)
  if (m.groupInstanceId !== undefined) staticMembers.delete(m.groupInstanceId)
  const next = patch(g, { members, staticMembers })
  return G.$match(next, {
    Empty: (e) => e,
    Dead: (d) => d,
    Stable: (s) => tryCompleteJoin(prepare(s, nowMs, out), nowMs, out),
    CompletingRebalance: (c) => tryCompleteJoin(prepare(c, nowMs, out), nowMs, out),
    PreparingRebalance: (p) => tryCompleteJoin(p, nowMs, out)
  })
}

/** Whether a join's protocol type and protocols fit the group. */
export const protocolsFit = (
  g: Common,
  protocolType: string,
  protocols: ReadonlyArray<{ readonly name: string }>
): boolean => {
  if (protocolType === "" || protocols.length === 0) return false
  const supported = supportedProtocols(g)
  if (supported === undefined) return true
  const groupType = g.members.values().next().value!.protocolType
  return protocolType === groupType && protocols.some((p) => supported.has(p.name))
}
