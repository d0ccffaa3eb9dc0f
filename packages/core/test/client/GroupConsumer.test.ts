import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { Assignor, InProcess } from "../../src/index.js"
import { advance } from "../server/harness.js"
import { consumer, partitionsOf, send, setup, take } from "./groupHarness.js"

const network = InProcess.layer({ serialize: true })

describe("GroupConsumer membership", () => {
  for (const assignor of [Assignor.range, Assignor.roundRobin, Assignor.cooperativeSticky]) {
    it.scoped(`three members split six partitions with ${assignor.name}`, () =>
      Effect.gen(function*() {
        const { c, client } = yield* setup()
        const members = yield* Effect.forEach([1, 2, 3], () => consumer(c, client, "g", { assignors: [assignor] }))
        yield* Effect.forEach(members, (m) => m.subscribe(["orders"]))
        yield* advance(5_000)
        const shares = yield* Effect.forEach(members, partitionsOf)
        expect(shares.map((s) => s.length)).toEqual([2, 2, 2])
        expect(shares.flat().sort()).toEqual([0, 1, 2, 3, 4, 5])
        const generations = new Set(yield* Effect.forEach(members, (m) => Effect.map(m.membership, (x) => x.generationId)))
        expect(generations.size).toBe(1)
        if (assignor.name === "range") for (const s of shares) expect(s[1]! - s[0]!).toBe(1)
        if (assignor.name === "roundrobin") for (const s of shares) expect(s[1]! - s[0]!).toBe(3)
        // The last Assigned event names the member, its generation and everything it owns there.
        const events = yield* Effect.flatten(Stream.toPull(members[0]!.events)) // everything queued so far
        const last = [...events].filter((e) => e._tag === "Assigned").at(-1)!
        const info = yield* members[0]!.membership
        expect(last._tag === "Assigned" && [last.memberId, last.generationId, last.assignment.map((tp) => tp.partition).sort()])
          .toEqual([info.memberId, info.generationId, shares[0]])
      }).pipe(Effect.provide(network)))
  }

  it.scoped("a member leaving and a member going silent both trigger a rebalance that reassigns its partitions", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup()
      const scopes = yield* Effect.forEach([1, 2, 3], () => Scope.make())
      const members = yield* Effect.forEach(scopes, (s, i) =>
        Scope.extend(consumer(c, client, "g", { leaveOnClose: i !== 2 }), s))
      yield* Effect.forEach(members, (m) => m.subscribe(["orders"]))
      yield* advance(5_000)
      // Member 0 leaves (LeaveGroup): the other two take its partitions at once.
      yield* Scope.close(scopes[0]!, Exit.void)
      yield* advance(2_000)
      const afterLeave = yield* Effect.forEach(members.slice(1), partitionsOf)
      expect(afterLeave.map((s) => s.length)).toEqual([3, 3])
      expect(afterLeave.flat().sort()).toEqual([0, 1, 2, 3, 4, 5])
      // Member 2 goes silent (closed without leaving): after the session timeout member 1 has all.
      yield* Scope.close(scopes[2]!, Exit.void)
      yield* advance(1_000)
      expect((yield* partitionsOf(members[1]!)).length).toBe(3)
      yield* advance(6_000)
      expect(yield* partitionsOf(members[1]!)).toEqual([0, 1, 2, 3, 4, 5])
      yield* Scope.close(scopes[1]!, Exit.void)
    }).pipe(Effect.provide(network)))

  for (const assignor of [Assignor.range, Assignor.cooperativeSticky]) {
    it.scoped(`no partition is owned by two members at any moment while members come and go (${assignor.name})`, () =>
      Effect.gen(function*() {
        const { c, client } = yield* setup()
        const scopes = yield* Effect.forEach([1, 2, 3, 4], () => Scope.make())
        const members = yield* Effect.forEach(scopes, (s) => Scope.extend(consumer(c, client, "g", { assignors: [assignor] }), s))
        const alive = new Set<number>()
        let checks = 0
        const check = Effect.gen(function*() {
          const owners = new Map<number, number>()
          for (const i of alive) {
            for (const p of yield* partitionsOf(members[i]!)) {
              expect(owners.has(p), `partition ${p} owned by ${owners.get(p)} and ${i}`).toBe(false)
              owners.set(p, i)
            }
          }
          checks++
        })
        const watch = (ms: number) =>
          Effect.gen(function*() {
            for (let t = 0; t < ms; t += 100) {
              yield* advance(100)
              yield* check
            }
          })
        for (const i of [0, 1, 2]) {
          yield* members[i]!.subscribe(["orders"])
          alive.add(i)
          yield* watch(1_500)
        }
        yield* members[3]!.subscribe(["orders"])
        alive.add(3)
        yield* watch(4_000)
        yield* Scope.close(scopes[1]!, Exit.void)
        alive.delete(1)
        yield* watch(4_000)
        const final = yield* Effect.forEach([0, 2, 3], (i) => partitionsOf(members[i]!))
        expect(final.flat().sort()).toEqual([0, 1, 2, 3, 4, 5])
        expect(checks).toBeGreaterThan(100)
      }).pipe(Effect.provide(network)))
  }

  it.scoped("a static member restarting within the session timeout keeps its partitions without a rebalance", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup()
      const s1 = yield* Scope.make()
      const a = yield* Scope.extend(consumer(c, client, "g", { groupInstanceId: "a" }), s1)
      const b = yield* consumer(c, client, "g", { groupInstanceId: "b" })
      yield* a.subscribe(["orders"])
      yield* b.subscribe(["orders"])
      yield* advance(5_000)
      const before = yield* a.membership
      const bBefore = yield* b.membership
      expect(before.assignment).toHaveLength(3)
      yield* Scope.close(s1, Exit.void) // static: no LeaveGroup
      yield* advance(1_000)
      const a2 = yield* consumer(c, client, "g", { groupInstanceId: "a" })
      yield* a2.subscribe(["orders"])
      yield* advance(3_000)
      const after = yield* a2.membership
      const bAfter = yield* b.membership
      expect(after.assignment).toEqual(before.assignment)
      expect(after.generationId).toBe(before.generationId)
      expect(bAfter.generationId).toBe(bBefore.generationId)
      expect(bAfter.rebalances).toBe(bBefore.rebalances)
    }).pipe(Effect.provide(network)))
})

describe("GroupConsumer offsets", () => {
  it.scoped("two groups read one topic independently", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      yield* send(c, client, "t", 0, ["a", "b", "c"])
      const g1 = yield* consumer(c, client, "g1")
      const g2 = yield* consumer(c, client, "g2")
      yield* g1.subscribe(["t"])
      yield* g2.subscribe(["t"])
      expect((yield* take(g1, 3)).map((r) => r.value)).toEqual(["a", "b", "c"])
      expect((yield* take(g2, 3)).map((r) => r.value)).toEqual(["a", "b", "c"])
    }).pipe(Effect.provide(network)))
})
