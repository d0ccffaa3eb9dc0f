import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as Isr from "../../src/cluster/Isr.js"

const tp = { topic: "t", partition: 0 }
const followers = (...fs: Array<Isr.FollowerState>) => new Map(fs.map((f) => [f.brokerId, f]))
const follower = (brokerId: number, logEndOffset: number, lastCaughtUpTimeMs: number): Isr.FollowerState => ({
  brokerId,
  logEndOffset,
  lastCaughtUpTimeMs,
  lastFetchLeaderLogEndOffset: logEndOffset,
  lastFetchTimeMs: lastCaughtUpTimeMs
})

describe("Isr.highWatermark", () => {
  it("is the min log end over the ISR, ignoring followers outside it", () => {
    expect(Isr.highWatermark({
      leaderId: 1,
      leaderLogEndOffset: 10,
      followerLogEndOffsets: new Map([[2, 7], [3, 2]]),
      isr: [1, 2],
      previousHighWatermark: 0
    })).toBe(7)
  })

  it("a follower that has not fetched yet holds it back but never moves it backwards", () => {
    expect(Isr.highWatermark({
      leaderId: 1,
      leaderLogEndOffset: 10,
      followerLogEndOffsets: new Map(),
      isr: [1, 2],
      previousHighWatermark: 4
    })).toBe(4)
  })

  it.prop("never moves backwards and never passes the leader's log end", [
    fc.array(fc.record({ leo: fc.nat(100), followers: fc.array(fc.nat(100), { minLength: 2, maxLength: 2 }), isr: fc.subarray([2, 3]) }), {
      maxLength: 30
    })
  ], ([steps]) => {
    let hw = 0
    let leaderLeo = 0
    for (const s of steps) {
      leaderLeo = Math.max(leaderLeo, s.leo)
      const next = Isr.highWatermark({
        leaderId: 1,
        leaderLogEndOffset: leaderLeo,
        followerLogEndOffsets: new Map([[2, Math.min(leaderLeo, s.followers[0]!)], [3, Math.min(leaderLeo, s.followers[1]!)]]),
        isr: [1, ...s.isr],
        previousHighWatermark: hw
      })
      expect(next).toBeGreaterThanOrEqual(hw)
      expect(next).toBeLessThanOrEqual(leaderLeo)
      hw = next
    }
  })
})

describe("Isr: follower tracking, shrink and expand", () => {
  it("a follower at the leader's end is caught up now; one at the previous fetch's end, then", () => {
    const f0 = Isr.initialFollower(2, true, 0)
    const f1 = Isr.onFollowerFetch(f0, { fetchOffset: 5, fetchTimeMs: 100, leaderLogEndOffset: 5 })
    expect(f1.lastCaughtUpTimeMs).toBe(100)
    const f2 = Isr.onFollowerFetch(f1, { fetchOffset: 5, fetchTimeMs: 200, leaderLogEndOffset: 9 })
    expect(f2.lastCaughtUpTimeMs).toBe(100) // behind the leader now, but had everything at 100
    const f3 = Isr.onFollowerFetch(f2, { fetchOffset: 9, fetchTimeMs: 300, leaderLogEndOffset: 12 })
    expect(f3.lastCaughtUpTimeMs).toBe(200) // reached what the leader had at its previous fetch
    expect(f3.logEndOffset).toBe(9)
  })

  it("shrinks followers lagging longer than replicaLagTimeMs, not the leader or those at the end", () => {
    const fs = followers(follower(2, 5, 0), follower(3, 10, 0), follower(4, 8, 9_000))
    expect(Isr.isrShrinkCandidates({
      nowMs: 10_001,
      leaderId: 1,
      leaderLogEndOffset: 10,
      isr: [1, 2, 3, 4, 5],
      followers: fs,
      replicaLagTimeMs: 10_000
    })).toEqual([2, 5])
  })

  it("expands followers at or past the HW and the leader epoch's start offset", () => {
    const fs = followers(follower(2, 7, 0), follower(3, 9, 0), follower(4, 4, 0), follower(5, 9, 0))
    expect(Isr.isrExpandCandidates({
      leaderId: 1,
      isr: [1],
      followers: fs,
      highWatermark: 5,
      leaderEpochStartOffset: 8,
      isEligible: (id) => id !== 5
    })).toEqual([3])
  })
})

describe("Isr: acks", () => {
  it("acks=all needs minInsyncReplicas before append; acks 0/1 do not", () => {
    expect(Either.getLeft(Isr.checkEnoughReplicas(tp, "all", 1, 2))._tag).toBe("Some")
    expect(Isr.checkEnoughReplicas(tp, "all", 2, 2)).toEqual(Either.void)
    expect(Isr.checkEnoughReplicas(tp, 1, 1, 2)).toEqual(Either.void)
    expect(Isr.checkEnoughReplicas(tp, 0, 0, 2)).toEqual(Either.void)
  })

  it("acks=all waits for the HW, then succeeds or fails after append if the ISR shrank", () => {
    const base = { tp, requiredOffset: 10, minInsyncReplicas: 2 }
    expect(Isr.acksAllState({ ...base, highWatermark: 9, isrSize: 3 })._tag).toBe("Waiting")
    expect(Isr.acksAllState({ ...base, highWatermark: 10, isrSize: 2 })._tag).toBe("Acked")
    expect(Isr.acksAllSatisfied({ ...base, highWatermark: 12, isrSize: 3 })).toBe(true)
    const failed = Isr.acksAllState({ ...base, highWatermark: 10, isrSize: 1 })
    expect(failed._tag === "Failed" && failed.error._tag).toBe("NotEnoughReplicasAfterAppend")
  })
})
