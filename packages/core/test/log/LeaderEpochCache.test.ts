import { describe, expect, it } from "@effect/vitest"
import * as Cache from "../../src/log/LeaderEpochCache.js"

const cache = Cache.assign(Cache.assign(Cache.assign(Cache.empty, 1, 0), 3, 10), 5, 20)

describe("LeaderEpochCache", () => {
  it("answers OffsetsForLeaderEpoch as KIP-101/KIP-279", () => {
    expect(Cache.endOffsetFor(cache, 5, 30)).toEqual({ leaderEpoch: 5, endOffset: 30 }) // latest: the log end
    expect(Cache.endOffsetFor(cache, 3, 30)).toEqual({ leaderEpoch: 3, endOffset: 20 })
    expect(Cache.endOffsetFor(cache, 4, 30)).toEqual({ leaderEpoch: 3, endOffset: 20 }) // unknown epoch: floor's
    expect(Cache.endOffsetFor(cache, 0, 30)).toEqual({ leaderEpoch: 0, endOffset: 0 }) // older than all
    expect(Cache.endOffsetFor(cache, 6, 30)).toEqual({ leaderEpoch: -1, endOffset: -1 }) // newer than all
    expect(Cache.endOffsetFor(Cache.empty, 1, 30)).toEqual({ leaderEpoch: -1, endOffset: -1 })
    expect(Cache.endOffsetFor(cache, -1, 30)).toEqual({ leaderEpoch: -1, endOffset: -1 })
  })

  it("assign keeps both orders strictly increasing", () => {
    expect(Cache.assign(cache, 5, 25)).toBe(cache) // same epoch, later start: ignored
    expect(Cache.assign(cache, 4, 15)).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }, { epoch: 4, startOffset: 15 }])
    expect(Cache.assign(cache, 6, 10)).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 6, startOffset: 10 }])
  })

  it("truncates from the end and the start", () => {
    expect(Cache.truncateFromEnd(cache, 20)).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }])
    expect(Cache.truncateFromStart(cache, 15)).toEqual([{ epoch: 3, startOffset: 15 }, { epoch: 5, startOffset: 20 }])
    expect(Cache.truncateFromStart(cache, 0)).toBe(cache)
  })

  it("round-trips its checkpoint text", () => {
    expect(Cache.parse(Cache.serialize(cache))).toEqual(cache)
  })
})
