import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { GroupAdmin, InProcess } from "../../src/index.js"
import { advance } from "../server/harness.js"
import { consumer, partitionsOf, send, setup, take, untilDone } from "./groupHarness.js"

const network = InProcess.layer({ serialize: true })
const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
/** Runs an admin call while virtual time advances. */
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(effect), (f) => untilDone(f))

describe("GroupAdmin pure rules", () => {
  it("lag is the high watermark minus the commit, -1 when either is unknown", () => {
    expect(GroupAdmin.lagOf(3, 5)).toBe(2)
    expect(GroupAdmin.lagOf(5, 5)).toBe(0)
    expect(GroupAdmin.lagOf(-1, 5)).toBe(-1)
    expect(GroupAdmin.lagOf(3, -1)).toBe(-1)
  })

  it("only an inactive group may be reset", () => {
    expect(GroupAdmin.canReset("Empty")).toBe(true)
    expect(GroupAdmin.canReset("Dead")).toBe(true)
    for (const s of ["Stable", "PreparingRebalance", "CompletingRebalance"]) expect(GroupAdmin.canReset(s)).toBe(false)
  })

  it("reset targets: earliest, latest, an offset clamped into the log, a timestamp (log end when past every record)", () => {
    const range = { earliest: 2, latest: 10 }
    expect(GroupAdmin.resetTarget("earliest", range)).toBe(2)
    expect(GroupAdmin.resetTarget("latest", range)).toBe(10)
    expect(GroupAdmin.resetTarget({ offset: 5 }, range)).toBe(5)
    expect(GroupAdmin.resetTarget({ offset: 0 }, range)).toBe(2)
    expect(GroupAdmin.resetTarget({ offset: 99 }, range)).toBe(10)
    expect(GroupAdmin.resetTarget({ timestamp: 1_000 }, range, 7)).toBe(7)
    expect(GroupAdmin.resetTarget({ timestamp: 1_000 }, range, -1)).toBe(10)
  })
})

describe("GroupAdmin", () => {
  it.scoped("lists a group and describes it: Stable, members, assignments, committed offsets and lag", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 2)
      yield* send(c, client, "t", 0, values("a", 5))
      yield* send(c, client, "t", 1, values("b", 3))
      const members = yield* Effect.forEach([1, 2], () => consumer(c, client, "g", { autoCommit: false }))
      yield* Effect.forEach(members, (m) => m.subscribe(["t"]))
      yield* advance(5_000)
      const owner = (yield* partitionsOf(members[0]!))[0] === 0 ? members[0]! : members[1]!
      yield* run(owner.commitOffsets([{ topic: "t", partition: 0, offset: 3 }]))
      const admin = yield* GroupAdmin.make({ node: client, bootstrap: c.bootstrap })

      const groups = yield* run(admin.listGroups)
      expect(groups).toContainEqual({ groupId: "g", state: "Stable", protocolType: "consumer" })

      const d = yield* run(admin.describeGroup("g"))
      expect(d.state).toBe("Stable")
      expect(d.protocolType).toBe("consumer")
      expect(d.protocol).toBe("range")
      expect(d.generationId).toBeGreaterThan(0)
      expect(d.members).toHaveLength(2)
      const ids = new Set(yield* Effect.forEach(members, (m) => Effect.map(m.membership, (x) => x.memberId)))
      expect(new Set(d.members.map((m) => m.memberId))).toEqual(ids)
      for (const m of d.members) expect(m.assignment).toHaveLength(1)
      expect(d.members.flatMap((m) => m.assignment.map((tp) => `${tp.topic}-${tp.partition}`)).sort()).toEqual(["t-0", "t-1"])
      expect(d.offsets).toEqual([
        { topic: "t", partition: 0, committed: 3, highWatermark: 5, lag: 2 },
        { topic: "t", partition: 1, committed: -1, highWatermark: 3, lag: -1 }
      ])
      const fetched = yield* run(admin.fetchOffsets("g", ["t"]))
      expect(fetched.map((o) => [o.partition, o.offset])).toEqual([[0, 3], [1, -1]])
      expect((yield* run(admin.fetchOffsets("g"))).map((o) => [o.partition, o.offset])).toEqual([[0, 3]])
    }).pipe(Effect.provide(network)))

  it.scoped("reset is refused while a member is active, works once the group is Empty, and a new member starts there", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      yield* send(c, client, "t", 0, values("a", 10))
      const admin = yield* GroupAdmin.make({ node: client, bootstrap: c.bootstrap })
      const s1 = yield* Scope.make()
      const first = yield* Scope.extend(consumer(c, client, "g", { autoCommit: false }), s1)
      yield* first.subscribe(["t"])
      expect((yield* take(first, 10)).map((r) => r.offset)).toEqual(values("", 10).map((_, i) => i))
      yield* run(first.commitOffsets([{ topic: "t", partition: 0, offset: 10 }]))

      const refused = yield* run(Effect.flip(admin.resetOffsets("g", { topic: "t", to: { offset: 4 } })))
      expect(refused._tag).toBe("GroupNotEmpty")
      expect(refused).toMatchObject({ groupId: "g", state: "Stable" })
      expect((yield* run(admin.fetchOffsets("g", ["t"])))[0]!.offset).toBe(10)

      yield* Scope.close(s1, Exit.void) // a dynamic member leaves: the group becomes Empty
      yield* advance(1_000)
      expect((yield* run(admin.describeGroup("g"))).state).toBe("Empty")
      expect(yield* run(admin.resetOffsets("g", { topic: "t", to: "earliest" }))).toEqual([
        { topic: "t", partition: 0, offset: 0 }
      ])
      expect(yield* run(admin.resetOffsets("g", { topic: "t", to: { offset: 4 } }))).toEqual([
        { topic: "t", partition: 0, offset: 4 }
      ])
      const d = yield* run(admin.describeGroup("g"))
      expect(d.members).toEqual([])
      expect(d.offsets).toEqual([{ topic: "t", partition: 0, committed: 4, highWatermark: 10, lag: 6 }])

      const second = yield* consumer(c, client, "g")
      yield* second.subscribe(["t"])
      const resumed = yield* take(second, 6)
      expect(resumed.map((r) => r.offset)).toEqual([4, 5, 6, 7, 8, 9])
      expect(resumed.map((r) => r.value)).toEqual(values("a", 10).slice(4))
    }).pipe(Effect.provide(network)))

  it.scoped("a reset to latest moves past everything; an unknown group can be reset and then has offsets", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 2)
      yield* send(c, client, "t", 0, values("a", 4))
      const admin = yield* GroupAdmin.make({ node: client, bootstrap: c.bootstrap })
      const reset = yield* run(admin.resetOffsets("fresh", { topic: "t", to: "latest" }))
      expect(reset).toEqual([{ topic: "t", partition: 0, offset: 4 }, { topic: "t", partition: 1, offset: 0 }])
      const only1 = yield* run(admin.resetOffsets("fresh", { topic: "t", to: { offset: 9 }, partitions: [1] }))
      expect(only1).toEqual([{ topic: "t", partition: 1, offset: 0 }])
      const member = yield* consumer(c, client, "fresh")
      yield* member.subscribe(["t"])
      yield* advance(3_000)
      yield* send(c, client, "t", 0, ["new"])
      expect((yield* take(member, 1)).map((r) => [r.value, r.offset])).toEqual([["new", 4]])
    }).pipe(Effect.provide(network)))
})
