import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Partitioner from "../../src/client/Partitioner.js"

const utf8 = (s: string) => new TextEncoder().encode(s)

// Kafka's UtilsTest.testMurmur2, plus the Kafka-derived vectors Akka's Murmur2Spec checks.
const kafkaVectors: ReadonlyArray<readonly [string, number]> = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
  ["1", -1993445489],
  ["12", 126087238],
  ["123", -267702483],
  ["1234", -1614185708],
  ["12345", -1188365604]
]

describe("Partitioner", () => {
  it("murmur2 matches Kafka's Java client on known vectors", () => {
    for (const [key, hash] of kafkaVectors) expect(Partitioner.murmur2(utf8(key))).toBe(hash)
  })

  it("keyed partition is toPositive(murmur2) % n", () => {
    for (const [key, hash] of kafkaVectors) {
      for (const n of [1, 3, 7, 12, 100]) {
        expect(Partitioner.partitionForKey(utf8(key), n)).toBe((hash & 0x7fffffff) % n)
      }
    }
    // "foobar": toPositive(-790332482) = 1357151166
    expect(Partitioner.partitionForKey(utf8("foobar"), 3)).toBe(1357151166 % 3)
  })

  it("toPositive clears the sign bit (int32 min maps to 0, not abs)", () => {
    expect(Partitioner.toPositive(-2147483648)).toBe(0)
    expect(Partitioner.toPositive(-1)).toBe(2147483647)
  })

  it.prop("murmur2 is a signed int32 and keyed partitions are in range", [
    fc.uint8Array({ maxLength: 64 }),
    fc.integer({ min: 1, max: 1000 })
  ], ([bytes, n]) => {
    const h = Partitioner.murmur2(bytes)
    expect(h | 0).toBe(h)
    const p = Partitioner.partitionForKey(bytes, n)
    expect(p >= 0 && p < n).toBe(true)
  })

  it("keyless round-robin cycles per topic", () => {
    let state = Partitioner.initial
    const seen: Array<number> = []
    for (let i = 0; i < 7; i++) {
      const [p, next] = Partitioner.roundRobin(state, "a", 3)
      seen.push(p)
      state = next
    }
    expect(seen).toEqual([0, 1, 2, 0, 1, 2, 0])
    expect(Partitioner.roundRobin(state, "b", 3)[0]).toBe(0)
  })

  it("sticky keeps one partition until onNewBatch moves it to another", () => {
    const [p1, s1] = Partitioner.sticky(Partitioner.initial, "t", 4, 7)
    expect(p1).toBe(3)
    expect(Partitioner.sticky(s1, "t", 4, 1)[0]).toBe(3)
    const s2 = Partitioner.onNewBatch(s1, "t", 4, 3, 0)
    const [p2] = Partitioner.sticky(s2, "t", 4, 99)
    expect(p2).not.toBe(3)
    // a stale onNewBatch for the old partition does not move it again
    expect(Partitioner.onNewBatch(s2, "t", 4, 3, 5)).toBe(s2)
  })

  it.prop("onNewBatch always picks a different partition when there is one", [
    fc.integer({ min: 2, max: 50 }),
    fc.nat(),
    fc.integer()
  ], ([n, prev, random]) => {
    const previous = prev % n
    const state = { ...Partitioner.initial, sticky: new Map([["t", previous]]) }
    const next = Partitioner.onNewBatch(state, "t", n, previous, random).sticky.get("t")!
    expect(next).not.toBe(previous)
    expect(next >= 0 && next < n).toBe(true)
  })

  it("choose: explicit partition, then custom, then key, then keyless mode", () => {
    const st = Partitioner.initial
    const input = { topic: "t", key: utf8("foobar"), numPartitions: 3 }
    expect(Partitioner.choose(Partitioner.defaultStrategy, st, { ...input, partition: 2 }, 0)[0]).toBe(2)
    expect(Partitioner.choose({ _tag: "Custom", partition: () => 1 }, st, input, 0)[0]).toBe(1)
    expect(Partitioner.choose(Partitioner.defaultStrategy, st, input, 0)[0]).toBe(
      Partitioner.partitionForKey(utf8("foobar"), 3)
    )
    const keyless = { topic: "t", key: undefined, numPartitions: 3 }
    const [a, s1] = Partitioner.choose(Partitioner.defaultStrategy, st, keyless, 0)
    const [b] = Partitioner.choose(Partitioner.defaultStrategy, s1, keyless, 0)
    expect([a, b]).toEqual([0, 1])
    const stickyStrategy: Partitioner.Strategy = { _tag: "Default", keyless: "sticky" }
    const [c, s2] = Partitioner.choose(stickyStrategy, st, keyless, 5)
    expect(Partitioner.choose(stickyStrategy, s2, keyless, 6)[0]).toBe(c)
  })
})
