import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Assignor from "../../src/group/Assignor.js"
import * as TopicPartition from "../../src/group/TopicPartition.js"

const names = (a: Assignor.Assignment) =>
  Object.fromEntries(Array.from(a, ([id, tps]) => [id, tps.map((tp) => `${tp.topic}-${tp.partition}`)]))

const sub = (memberId: string, topics: Array<string>, extra: Partial<Assignor.Subscription> = {}): Assignor.Subscription => ({
  memberId,
  topics,
  ...extra
})

describe("Assignor.range (Kafka's RangeAssignor)", () => {
  it("splits two 3-partition topics between two members as Kafka's javadoc shows", () => {
    const a = Assignor.range.assign([sub("C1", ["t0", "t1"]), sub("C0", ["t0", "t1"])], new Map([["t0", 3], ["t1", 3]]))
    expect(names(a)).toEqual({ C1: ["t0-2", "t1-2"], C0: ["t0-0", "t0-1", "t1-0", "t1-1"] })
  })

  it("gives the extra partitions to the first members, per topic", () => {
    const a = Assignor.range.assign([sub("a", ["t"]), sub("b", ["t"]), sub("c", ["t"])], new Map([["t", 10]]))
    expect(names(a)).toEqual({
      a: ["t-0", "t-1", "t-2", "t-3"],
      b: ["t-4", "t-5", "t-6"],
      c: ["t-7", "t-8", "t-9"]
    })
  })

  it("sorts static members first, by instance id", () => {
    const a = Assignor.range.assign(
      [sub("a", ["t"]), sub("z", ["t"], { groupInstanceId: "i1" })],
      new Map([["t", 3]])
    )
    expect(names(a)).toEqual({ a: ["t-2"], z: ["t-0", "t-1"] })
  })
})

describe("Assignor.roundRobin (Kafka's RoundRobinAssignor)", () => {
  it("deals two 3-partition topics between two members as Kafka's javadoc shows", () => {
    const a = Assignor.roundRobin.assign([sub("C0", ["t0", "t1"]), sub("C1", ["t0", "t1"])], new Map([["t0", 3], ["t1", 3]]))
    expect(names(a)).toEqual({ C0: ["t0-0", "t0-2", "t1-1"], C1: ["t0-1", "t1-0", "t1-2"] })
  })

  it("skips unsubscribed members as in Kafka's unequal-subscription example", () => {
    const a = Assignor.roundRobin.assign(
      [sub("C0", ["t0"]), sub("C1", ["t0", "t1"]), sub("C2", ["t0", "t1", "t2"])],
      new Map([["t0", 1], ["t1", 2], ["t2", 3]])
    )
    expect(names(a)).toEqual({ C0: ["t0-0"], C1: ["t1-0"], C2: ["t1-1", "t2-0", "t2-1", "t2-2"] })
  })
})

// Members with random subscriptions over a few topics with random partition counts.
const scenario = fc.record({
  counts: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }),
  members: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
  seed: fc.array(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), { minLength: 8, maxLength: 8 })
}).map(({ counts, members, seed }) => {
  const topics = counts.map((_, i) => `t${i}`)
  const partitionsPerTopic = new Map(topics.map((t, i) => [t, counts[i]!]))
  const subs = members.map((m, i) => {
    const mine = topics.filter((_, j) => seed[i]![j])
    return sub(`m${m}`, mine.length > 0 ? mine : [topics[0]!])
  })
  return { partitionsPerTopic, subs }
})

const subscribedPartitions = (subs: ReadonlyArray<Assignor.Subscription>, partitionsPerTopic: Map<string, number>) =>
  TopicPartition.allOf(subs.flatMap((s) => s.topics), partitionsPerTopic).map(TopicPartition.key).sort()

const assignedKeys = (a: Assignor.Assignment) => Array.from(a.values()).flat().map(TopicPartition.key).sort()

const respectsSubscriptions = (a: Assignor.Assignment, subs: ReadonlyArray<Assignor.Subscription>) =>
  subs.every((s) => a.get(s.memberId)!.every((tp) => s.topics.includes(tp.topic)))

describe("eager assignors (property)", () => {
  for (const assignor of [Assignor.range, Assignor.roundRobin]) {
    it.prop(`${assignor.name}: every subscribed partition assigned exactly once, to a subscriber`, [scenario], ([{ partitionsPerTopic, subs }]) => {
      const a = assignor.assign(subs, partitionsPerTopic)
      expect(assignedKeys(a)).toEqual(subscribedPartitions(subs, partitionsPerTopic))
      expect(respectsSubscriptions(a, subs)).toBe(true)
      expect(assignor.assign([...subs].reverse(), partitionsPerTopic)).toEqual(a)
    })
  }

  it.prop("roundRobin balances members with one shared subscription", [fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 60 })], ([n, p]) => {
    const subs = Array.from({ length: n }, (_, i) => sub(`m${i}`, ["t"]))
    const sizes = Array.from(Assignor.roundRobin.assign(subs, new Map([["t", p]])).values(), (tps) => tps.length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
  })
})

/**
 * Simulates KIP-429 across membership changes: each rebalance gives members what they own;
 * a member keeps only what it is assigned (revoking the rest), and a rebalance that revoked
 * anything is followed by another one. Ownership is checked after every generation.
 */
const cooperativeRounds = (
  membership: ReadonlyArray<ReadonlyArray<Assignor.Subscription>>,
  partitionsPerTopic: Map<string, number>
) => {
  let owned = new Map<string, Array<TopicPartition.TopicPartition>>()
  const generations: Array<Assignor.Assignment> = []
  let followUps = 0
  for (const subs of membership) {
    // A member that left (or was expired) no longer owns anything: it is fenced.
    owned = new Map(subs.flatMap((s) => (owned.has(s.memberId) ? [[s.memberId, owned.get(s.memberId)!]] : [])))
    for (let round = 0; round < 3; round++) {
      const a = Assignor.cooperativeSticky.assign(
        subs.map((s) => ({ ...s, ownedPartitions: owned.get(s.memberId) ?? [] })),
        partitionsPerTopic
      )
      generations.push(a)
      const anyRevoked = subs.some((s) => Assignor.revoked(owned.get(s.memberId) ?? [], a.get(s.memberId)!).length > 0)
      // Members never gain a partition someone else owned in the previous generation.
      for (const [id, tps] of a) {
        for (const tp of tps) {
          for (const [other, theirs] of owned) {
            if (other !== id) expect(theirs.map(TopicPartition.key)).not.toContain(TopicPartition.key(tp))
          }
        }
      }
      owned = new Map(a)
      if (!anyRevoked) break
      followUps++
    }
  }
  return { generations, owned, followUps }
}

describe("Assignor.cooperativeSticky", () => {
  it("moves partitions to a new member only after the owners revoke them", () => {
    const pp = new Map([["t", 6]])
    const before = [sub("a", ["t"]), sub("b", ["t"])]
    const after = [...before, sub("c", ["t"])]
    const { generations, owned, followUps } = cooperativeRounds([before, after], pp)
    expect(followUps).toBe(1)
    expect(names(generations[0]!)).toEqual({ a: ["t-0", "t-2", "t-4"], b: ["t-1", "t-3", "t-5"] })
    // c joins: a and b keep two each and revoke one; c gets nothing yet.
    expect(names(generations[1]!)).toEqual({ a: ["t-0", "t-2"], b: ["t-1", "t-3"], c: [] })
    // The follow-up rebalance hands the revoked partitions to c.
    expect(names(generations[2]!)).toEqual({ a: ["t-0", "t-2"], b: ["t-1", "t-3"], c: ["t-4", "t-5"] })
    expect(names(owned)).toEqual(names(generations[2]!))
  })

  it("keeps owned partitions when a member leaves, spreading only the orphans", () => {
    const pp = new Map([["t", 6]])
    const all = [sub("a", ["t"]), sub("b", ["t"]), sub("c", ["t"])]
    const { generations } = cooperativeRounds([all, [all[0]!, all[2]!]], pp)
    const first = generations[0]!
    const last = generations[generations.length - 1]!
    for (const id of ["a", "c"]) {
      for (const tp of first.get(id)!) expect(last.get(id)!.map(TopicPartition.key)).toContain(TopicPartition.key(tp))
    }
    expect(assignedKeys(last)).toEqual(subscribedPartitions(all, pp))
  })

  it.prop(
    "no partition owned by two members in any generation; full and balanced after the follow-up",
    [scenario, fc.array(fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 5 })],
    ([{ partitionsPerTopic, subs }, presence]) => {
      const membership = presence
        .map((mask) => subs.filter((_, i) => mask[i]))
        .filter((m) => m.length > 0)
      if (membership.length === 0) return
      const { generations } = cooperativeRounds(membership, partitionsPerTopic)
      for (const a of generations) {
        const keys = assignedKeys(a)
        expect(new Set(keys).size).toBe(keys.length)
      }
      // After the last membership settles: everything assigned, subscriptions respected, balanced.
      const last = generations[generations.length - 1]!
      const current = membership[membership.length - 1]!
      expect(assignedKeys(last)).toEqual(subscribedPartitions(current, partitionsPerTopic))
      expect(respectsSubscriptions(last, current)).toBe(true)
      const bySubscription = new Map<string, Array<number>>()
      for (const s of current) {
        const k = [...s.topics].sort().join(",")
        bySubscription.set(k, [...(bySubscription.get(k) ?? []), last.get(s.memberId)!.length])
      }
      for (const sizes of bySubscription.values()) expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("drops owned partitions that no longer exist or are no longer subscribed", () => {
    const a = Assignor.cooperativeSticky.assign(
      [sub("a", ["t"], { ownedPartitions: [TopicPartition.make("t", 5), TopicPartition.make("u", 0)] })],
      new Map([["t", 2], ["u", 1]])
    )
    // u-0 is still owned by `a`, which no longer subscribes: it is revoked, not reassigned.
    expect(names(a)).toEqual({ a: ["t-0", "t-1"] })
  })
})
