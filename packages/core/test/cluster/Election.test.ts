import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Election from "../../src/cluster/Election.js"
import type * as Metadata from "../../src/cluster/Metadata.js"

const partition = (over: Partial<Metadata.PartitionState>): Metadata.PartitionState => ({
  topic: "t",
  partition: 0,
  replicas: [1, 2, 3],
  isr: [1, 2, 3],
  leader: 1,
  leaderEpoch: 0,
  partitionEpoch: 0,
  ...over
})
const liveSet = (...ids: Array<number>) => (id: number) => ids.includes(id)

describe("Election", () => {
  it("prefers the first live ISR member in assignment order", () => {
    expect(Election.electLeader([3, 1, 2], [1, 2, 3], liveSet(1, 2), false)).toEqual({
      leader: 1,
      isr: [1, 2, 3],
      unclean: false
    })
  })

  it("leader dies: next ISR member leads, epochs bump, dead leader leaves the ISR", () => {
    expect(Election.reconcile(partition({}), liveSet(2, 3), false)).toEqual(
      partition({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 })
    )
  })

  it("a follower dies: ISR shrinks, leader epoch stays", () => {
    expect(Election.reconcile(partition({}), liveSet(1, 3), false)).toEqual(
      partition({ isr: [1, 3], partitionEpoch: 1 })
    )
  })

  it("all ISR down, unclean off: offline, the ISR is kept (never empty)", () => {
    const p = partition({ isr: [1], leader: 1 })
    expect(Election.reconcile(p, liveSet(2, 3), false)).toEqual(
      partition({ isr: [1], leader: -1, leaderEpoch: 1, partitionEpoch: 1 })
    )
  })

  it("all ISR down, unclean on: a live non-ISR replica leads with ISR = itself", () => {
    const p = partition({ isr: [1], leader: 1 })
    expect(Election.reconcile(p, liveSet(3, 2), true)).toEqual(
      partition({ isr: [2], leader: 2, leaderEpoch: 1, partitionEpoch: 1 })
    )
  })

  it("offline partition: the returning ISR member leads again", () => {
    const p = partition({ isr: [1], leader: -1, leaderEpoch: 1, partitionEpoch: 1 })
    expect(Election.reconcile(p, liveSet(1), false)).toEqual(
      partition({ isr: [1], leader: 1, leaderEpoch: 2, partitionEpoch: 2 })
    )
    expect(Election.reconcile(p, liveSet(2, 3), false)).toBeUndefined()
  })

  it("nothing changed: no new state", () => {
    expect(Election.reconcile(partition({}), liveSet(1, 2, 3), false)).toBeUndefined()
  })

  it.prop("clean election only picks live ISR members; ISR never empties; epochs bump on change", [
    fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 5 }),
    fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
    fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
    fc.boolean(),
    fc.integer({ min: -1, max: 6 })
  ], ([replicas, inIsr, live, unclean, leader]) => {
    const isr0 = replicas.filter((r) => inIsr[r])
    const isr = isr0.length === 0 ? [replicas[0]!] : isr0
    const p = partition({ replicas, isr, leader: isr.includes(leader) ? leader : -1 })
    const isLive = (id: number) => live[id] === true
    const next = Election.reconcile(p, isLive, unclean) ?? p
    expect(next.isr.length).toBeGreaterThan(0)
    for (const id of next.isr) expect(replicas).toContain(id)
    if (next.leader !== -1) {
      expect(isLive(next.leader)).toBe(true)
      expect(next.isr).toContain(next.leader)
      if (!unclean) expect(isr).toContain(next.leader)
    } else {
      expect(isr.some(isLive)).toBe(false)
      if (unclean) expect(replicas.some(isLive)).toBe(false)
    }
    if (!unclean) for (const id of next.isr) expect(isr).toContain(id)
    expect(next.leaderEpoch).toBe(p.leaderEpoch + (next.leader !== p.leader ? 1 : 0))
    expect(next.partitionEpoch).toBe(p.partitionEpoch + (next === p ? 0 : 1))
  })
})
