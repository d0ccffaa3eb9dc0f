import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as OffsetKey from "../../src/group/OffsetKey.js"

describe("OffsetKey", () => {
  it.prop("keys and values round-trip through bytes", [fc.string(), fc.string(), fc.nat(), fc.nat(), fc.string()], ([g, t, p, o, m]) => {
    const key = new OffsetKey.OffsetKey({ groupId: g, topic: t, partition: p })
    const value = new OffsetKey.OffsetValue({ offset: o, metadata: m, commitTimestampMs: 1_700_000_000_000 })
    expect(OffsetKey.decodeKey(OffsetKey.encodeKey(key))).toEqual(Either.right(key))
    expect(OffsetKey.decodeValue(OffsetKey.encodeValue(value))).toEqual(Either.right(value))
    const withEpoch = new OffsetKey.OffsetValue({ offset: o, metadata: m, commitTimestampMs: 1, leaderEpoch: p })
    expect(OffsetKey.decodeValue(OffsetKey.encodeValue(withEpoch))).toEqual(Either.right(withEpoch))
    // Compaction compares key bytes: equal keys must encode identically.
    expect(OffsetKey.encodeKey(key)).toEqual(OffsetKey.encodeKey(new OffsetKey.OffsetKey({ groupId: g, topic: t, partition: p })))
  })

  it("encodes a tombstone as null and rejects garbage", () => {
    expect(OffsetKey.encodeValue(null)).toBeNull()
    expect(OffsetKey.decodeValue(null)).toEqual(Either.right(null))
    expect(Either.isLeft(OffsetKey.decodeKey(new TextEncoder().encode("{}")))).toBe(true)
    expect(Either.isLeft(OffsetKey.decodeValue(new Uint8Array([0xff, 0xfe])))).toBe(true)
  })

  it("group metadata records round-trip and never read as offset keys", () => {
    const key = OffsetKey.encodeGroupKey("g")
    expect(OffsetKey.decodeGroupKey(key)).toEqual(Either.right("g"))
    expect(Either.isLeft(OffsetKey.decodeKey(key))).toBe(true)
    expect(Either.isLeft(OffsetKey.decodeGroupKey(OffsetKey.encodeKey(new OffsetKey.OffsetKey({ groupId: "g", topic: "t", partition: 0 }))))).toBe(true)
    const value = { generationId: 7, nextMemberSeq: 12 }
    expect(OffsetKey.decodeGroupValue(OffsetKey.encodeGroupValue(value))).toEqual(Either.right(value))
  })

  it("hashes like Java's String.hashCode", () => {
    expect(OffsetKey.javaStringHashCode("")).toBe(0)
    expect(OffsetKey.javaStringHashCode("a")).toBe(97)
    expect(OffsetKey.javaStringHashCode("hello")).toBe(99162322)
    expect(OffsetKey.javaStringHashCode("Hello World")).toBe(-862545276)
    expect(OffsetKey.javaStringHashCode("polygenelubricants")).toBe(-2147483648)
    // UTF-16 code units: an astral character counts as two.
    expect(OffsetKey.javaStringHashCode("😀")).toBe(0xd83d * 31 + 0xde00)
  })

  it("picks the coordinator partition with Kafka's abs(hashCode) % n", () => {
    expect(OffsetKey.coordinatorPartition("hello", 50)).toBe(99162322 % 50)
    expect(OffsetKey.coordinatorPartition("Hello World", 50)).toBe(862545276 % 50)
    expect(OffsetKey.coordinatorPartition("polygenelubricants", 50)).toBe(0)
  })
})
