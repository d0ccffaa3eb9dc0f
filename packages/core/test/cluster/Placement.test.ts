import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Placement from "../../src/cluster/Placement.js"

describe("Placement.assignReplicas", () => {
  it("matches Kafka's AdminTest.testReplicaAssignment (5 brokers, 10 partitions, RF 3, fixed start 0)", () => {
    expect(Placement.assignReplicas([0, 1, 2, 3, 4], 10, 3, { startIndex: 0, replicaShift: 0 })).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 0],
      [4, 0, 1],
      [0, 2, 3],
      [1, 3, 4],
      [2, 4, 0],
      [3, 0, 1],
      [4, 1, 2]
    ])
  })

  it("uses brokers in id order and a single broker works", () => {
    expect(Placement.assignReplicas([7], 3, 1, { startIndex: 5, replicaShift: 2 })).toEqual([[7], [7], [7]])
    expect(Placement.assignReplicas([9, 3], 2, 2, { startIndex: 0, replicaShift: 0 })).toEqual([[3, 9], [9, 3]])
  })

  it.prop("no two replicas of a partition share a broker; leaders spread within one of even", [
    fc.uniqueArray(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 12 }),
    fc.integer({ min: 1, max: 60 }),
    fc.nat(),
    fc.nat(),
    fc.nat()
  ], ([brokers, partitions, rf, startIndex, replicaShift]) => {
    const replicationFactor = 1 + (rf % brokers.length)
    const assignment = Placement.assignReplicas(brokers, partitions, replicationFactor, { startIndex, replicaShift })
    expect(assignment.length).toBe(partitions)
    const leaders = new Map<number, number>()
    for (const replicas of assignment) {
      expect(replicas.length).toBe(replicationFactor)
      expect(new Set(replicas).size).toBe(replicationFactor)
      for (const r of replicas) expect(brokers).toContain(r)
      leaders.set(replicas[0]!, (leaders.get(replicas[0]!) ?? 0) + 1)
    }
    const counts = brokers.map((b) => leaders.get(b) ?? 0)
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
  })
})
