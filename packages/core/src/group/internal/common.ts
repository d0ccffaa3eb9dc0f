/**
 * Helpers shared by the group transitions: outputs, member updates, error constructors.
 */
import { Either } from "effect"
import * as Errors from "../Errors.js"
import type { Common, Group, Member, ReplyKey, Response } from "../GroupState.js"
import { Group as G, Output, Timer } from "../GroupState.js"

/** The outputs a transition accumulates, in order. */
export type Out = Array<Output>

/** Queues a success reply. */
export const ok = (out: Out, replyTo: ReplyKey, response: Response): void => {
  out.push(Output.Reply({ replyTo, result: Either.right(response) }))
}

/** Queues a failure reply. */
export const fail = (out: Out, replyTo: ReplyKey, error: Errors.GroupError): void => {
  out.push(Output.Reply({ replyTo, result: Either.left(error) }))
}

/** Rebuilds `g` in the same state with some common fields changed. */
export const patch = <S extends Group>(g: S, changes: Partial<Common>): S =>
  // One cast: `g._tag` picks the constructor of g's own state, so the result is an `S`.
  (G[g._tag] as (args: unknown) => S)({ ...g, ...changes })

/** Replaces (or adds, at the end) one member, keeping join order. */
export const setMember = <S extends Group>(g: S, member: Member): S => {
  const members = new Map(g.members)
  members.set(member.memberId, member)
  return patch(g, { members })
}

/** Updates every member. */
export const mapMembers = <S extends Group>(g: S, f: (m: Member) => Member): S =>
  patch(g, { members: new Map(Array.from(g.members, ([id, m]) => [id, f(m)])) })

/** Restarts a member's session: it must be heard from again within `sessionTimeoutMs`. */
export const refreshSession = (m: Member, nowMs: number, out: Out): Member => {
  out.push(Output.StartTimer({ timer: Timer.Session({ memberId: m.memberId }), delayMs: m.sessionTimeoutMs }))
  return { ...m, sessionDeadlineMs: nowMs + m.sessionTimeoutMs }
}

/** Largest rebalance timeout among members (Kafka's group rebalance timeout). */
export const rebalanceTimeoutMs = (g: Common): number =>
  Array.from(g.members.values()).reduce((max, m) => Math.max(max, m.rebalanceTimeoutMs), 0)

/**
 * Resolves who sent a request: unknown ids fail with `UnknownMemberId`; a static instance id
 * now held by another member id fails with `FencedInstanceId`.
 */
export const findMember = (
  g: Common,
  memberId: string,
  groupInstanceId: string | undefined
): Either.Either<Member, Errors.UnknownMemberId | Errors.FencedInstanceId> => {
  if (groupInstanceId !== undefined) {
    const holder = g.staticMembers.get(groupInstanceId)
    if (holder !== undefined && holder !== memberId) {
      return Either.left(new Errors.FencedInstanceId({ groupId: g.groupId, groupInstanceId, memberId }))
    }
  }
  const member = g.members.get(memberId)
  return member === undefined
    ? Either.left(new Errors.UnknownMemberId({ groupId: g.groupId, memberId }))
    : Either.right(member)
}

/** Fails unless `generationId` is the group's current generation. */
export const checkGeneration = (
  g: Common,
  memberId: string,
  generationId: number
): Either.Either<void, Errors.IllegalGeneration> =>
  generationId === g.generationId
    ? Either.void
    : Either.left(
      new Errors.IllegalGeneration({ groupId: g.groupId, memberId, generationId, currentGenerationId: g.generationId })
    )

/** The error for requests to a group that this coordinator no longer serves. */
export const notAvailable = (g: Common) => new Errors.CoordinatorNotAvailable({ groupId: g.groupId })

/** Just the fields every state carries (drops state-specific ones). */
export const commonOf = (g: Common): Common => ({
  groupId: g.groupId,
  config: g.config,
  generationId: g.generationId,
  protocolType: g.protocolType,
  protocolName: g.protocolName,
  leaderId: g.leaderId,
  members: g.members,
  staticMembers: g.staticMembers,
  offsets: g.offsets,
  nextMemberSeq: g.nextMemberSeq,
  memberIdTag: g.memberIdTag,
  persistedGeneration: g.persistedGeneration
})
