/**
 * A tiny stand-in for the GroupCoordinator actor: feeds events to `Group.step` on a virtual
 * clock, keeps replies by key, runs timers, and "persists" offsets at once (and generations
 * too, unless `holdGroupWrites` parks them in `heldGroupWrites` for the test to settle).
 */
import type { Either } from "effect"
import * as Group from "../../src/group/Group.js"
import type * as Errors from "../../src/group/Errors.js"
import * as GroupState from "../../src/group/GroupState.js"

const { Event } = GroupState

export class Sim {
  group: GroupState.Group
  nowMs = 0
  replies = new Map<number, Either.Either<GroupState.Response, Errors.GroupError>>()
  timers = new Map<string, { timer: GroupState.Timer; dueMs: number }>()
  outputs: Array<GroupState.Output> = []
  /** Replies per key: a request must never be answered twice. */
  replyCounts = new Map<number, number>()
  /** Park generation writes instead of completing them at once. */
  holdGroupWrites = false
  heldGroupWrites: Array<number> = []
  private nextReply = 0

  constructor(config: Partial<GroupState.Config> = {}, groupId = "g") {
    this.group = Group.make(groupId, { initialRebalanceDelayMs: 0, ...config })
  }

  feed(event: GroupState.Event): void {
    const { group, outputs } = Group.step(this.group, event, this.nowMs)
    this.group = group
    this.outputs.push(...outputs)
    for (const o of outputs) {
      GroupState.Output.$match(o, {
        Reply: ({ replyTo, result }) => {
          this.replies.set(replyTo, result)
          this.replyCounts.set(replyTo, (this.replyCounts.get(replyTo) ?? 0) + 1)
        },
        StartTimer: ({ timer, delayMs }) =>
          void this.timers.set(GroupState.timerKey(timer), { timer, dueMs: this.nowMs + delayMs }),
        CancelTimer: ({ timer }) => void this.timers.delete(GroupState.timerKey(timer)),
        PersistOffsets: ({ replyTo, offsets }) => this.feed(Event.OffsetsPersisted({ replyTo, offsets })),
        PersistGroup: ({ generationId }) => {
          if (this.holdGroupWrites) this.heldGroupWrites.push(generationId)
          else this.feed(Event.GroupPersisted({ generationId }))
        }
      })
    }
  }

  /** Sends a request built around a fresh reply key; returns the key. */
  request(make: (replyTo: number) => GroupState.Event): number {
    const replyTo = this.nextReply++
    this.feed(make(replyTo))
    return replyTo
  }

  /** Moves the clock forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.nowMs + ms
    for (;;) {
      const due = Array.from(this.timers.entries())
        .filter(([, t]) => t.dueMs <= end)
        .sort((a, b) => a[1].dueMs - b[1].dueMs || a[0].localeCompare(b[0]))[0]
      if (due === undefined) break
      this.timers.delete(due[0])
      this.nowMs = Math.max(this.nowMs, due[1].dueMs)
      this.feed(GroupState.timerEvent(due[1].timer))
    }
    this.nowMs = end
  }

  reply(key: number) {
    return this.replies.get(key)
  }

  join(opts: {
    memberId?: string
    groupInstanceId?: string
    protocols?: ReadonlyArray<GroupState.Protocol>
    sessionTimeoutMs?: number
    rebalanceTimeoutMs?: number
  } = {}): number {
    return this.request((replyTo) =>
      Event.JoinGroup({
        replyTo,
        memberId: opts.memberId ?? "",
        groupInstanceId: opts.groupInstanceId,
        clientId: "c",
        protocolType: "consumer",
        protocols: opts.protocols ?? [{ name: "range", metadata: new TextEncoder().encode(`{"topics":["orders"]}`) }],
        sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
        rebalanceTimeoutMs: opts.rebalanceTimeoutMs ?? 30_000
      })
    )
  }

  sync(memberId: string, generationId: number, assignments: ReadonlyArray<GroupState.MemberAssignment> = []): number {
    return this.request((replyTo) =>
      Event.SyncGroup({ replyTo, memberId, groupInstanceId: undefined, generationId, protocolType: undefined, protocolName: undefined, assignments })
    )
  }

  heartbeat(memberId: string, generationId: number): number {
    return this.request((replyTo) => Event.Heartbeat({ replyTo, memberId, groupInstanceId: undefined, generationId }))
  }

  commit(memberId: string, generationId: number, offsets: ReadonlyArray<{ topic: string; partition: number; offset: number }>): number {
    return this.request((replyTo) =>
      Event.OffsetCommit({
        replyTo,
        memberId,
        groupInstanceId: undefined,
        generationId,
        offsets: offsets.map((o) => ({ ...o, metadata: "" }))
      })
    )
  }
}

/** The success value of a reply, or a thrown test failure. */
export const success = (r: Either.Either<GroupState.Response, Errors.GroupError> | undefined): GroupState.Response => {
  if (r === undefined) throw new Error("no reply yet")
  if (r._tag === "Left") throw new Error(`expected success, got ${r.left._tag}`)
  return r.right
}

/** The `Joined` answer of a reply. */
export const joined = (r: Either.Either<GroupState.Response, Errors.GroupError> | undefined) => {
  const res = success(r)
  if (res._tag !== "Joined") throw new Error(`expected Joined, got ${res._tag}`)
  return res
}

/** The error tag of a failed reply. */
export const errorTag = (r: Either.Either<GroupState.Response, Errors.GroupError> | undefined): string | undefined =>
  r !== undefined && r._tag === "Left" ? r.left._tag : undefined
