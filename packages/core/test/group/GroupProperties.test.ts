import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as GroupState from "../../src/group/GroupState.js"
import { Sim } from "./harness.js"

const { Event } = GroupState

// Random client behaviour: new joins (some static), rejoins, syncs (leader assigns), heartbeats,
// leaves, commits with any generation, and time passing (timers fire).
const op = fc.oneof(
  fc.record({ kind: fc.constant("join" as const), instance: fc.option(fc.constantFrom("i0", "i1", "i2"), { nil: undefined }) }),
  fc.record({ kind: fc.constantFrom("rejoin" as const, "sync" as const, "heartbeat" as const, "leave" as const, "commit" as const), who: fc.nat(5), gen: fc.integer({ min: -1, max: 1 }) }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 12_000 }) })
)

describe("Group state machine (property)", () => {
  it.prop("invariants hold under random traffic", [fc.array(op, { maxLength: 60 }), fc.constantFrom(0, 500)], ([ops, delay]) => {
    const sim = new Sim({ initialRebalanceDelayMs: delay })
    let lastGeneration = 0
    const committed = new Map<string, number>()
    for (const o of ops) {
      const ids = Array.from(sim.group.members.keys())
      const id = o.kind === "join" || o.kind === "advance" ? "" : ids[o.who % Math.max(ids.length, 1)] ?? "ghost"
      const gen = o.kind === "join" || o.kind === "advance" ? 0 : sim.group.generationId + o.gen
      switch (o.kind) {
        case "join": sim.join(o.instance === undefined ? {} : { groupInstanceId: o.instance }); break
        case "rejoin": sim.join({ memberId: id }); break
        case "sync": {
          const assignments = id === sim.group.leaderId ? ids.map((memberId) => ({ memberId, assignment: new Uint8Array([1]) })) : []
          sim.sync(id, gen, assignments)
          break
        }
        case "heartbeat": sim.heartbeat(id, gen); break
        case "leave": sim.request((replyTo) => Event.LeaveGroup({ replyTo, memberId: id, groupInstanceId: undefined })); break
        case "commit": {
          const before = sim.group.offsets.get("t\u00000")?.offset
          const key = sim.commit(id, gen, [{ topic: "t", partition: 0, offset: ops.length }])
          const ok = sim.reply(key)?._tag === "Right"
          // Fenced or unknown members change nothing.
          if (!ok) expect(sim.group.offsets.get("t\u00000")?.offset).toBe(before)
          if (ok) committed.set(id, gen)
          break
        }
        case "advance": sim.advance(o.ms); break
      }
      const g = sim.group
      expect(g.generationId).toBeGreaterThanOrEqual(lastGeneration)
      lastGeneration = g.generationId
      for (const [instance, memberId] of g.staticMembers) expect(g.members.get(memberId)?.groupInstanceId).toBe(instance)
      for (const m of g.members.values()) {
        if (g._tag === "Stable") expect([m.pendingJoin, m.pendingSync]).toEqual([undefined, undefined])
        if (g._tag === "CompletingRebalance") expect(m.pendingJoin).toBeUndefined()
        if (g._tag === "PreparingRebalance") expect(m.pendingSync).toBeUndefined()
      }
      if (g.members.size === 0) expect(["Empty", "PreparingRebalance"]).toContain(g._tag)
      if (g._tag === "Stable" || g._tag === "CompletingRebalance") expect(g.members.has(g.leaderId!)).toBe(true)
      for (const n of sim.replyCounts.values()) expect(n).toBe(1)
    }
  }, { fastCheck: { numRuns: 500 } })
})
