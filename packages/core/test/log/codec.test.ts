import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Codec from "../../src/log/internal/codec.js"

/** The batch header's fixed-width fields, read and written on the bytes: the same as a big-endian `DataView`. */
describe("Codec fixed-width integers", () => {
  // An offset inside a larger array, so a helper that ignored `byteOffset` or `at` would fail.
  const at = 3
  const fresh = () => new Uint8Array(16).subarray(1, 15)
  const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

  it.prop("int32 and uint32", [fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 })], ([n]) => {
    const b = fresh()
    Codec.setInt32(b, at, n)
    expect(Codec.getInt32(b, at)).toBe(viewOf(b).getInt32(at))
    expect(Codec.getUint32(b, at)).toBe(n >>> 0)
    const v = fresh()
    viewOf(v).setUint32(at, n >>> 0)
    expect(b).toEqual(v)
  })

  it.prop("int16 and int8", [fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }), fc.integer({ min: -128, max: 127 })], ([n, m]) => {
    const b = fresh()
    Codec.setInt16(b, at, n)
    b[at + 2] = m
    expect(Codec.getInt16(b, at)).toBe(n)
    expect(Codec.getInt8(b, at + 2)).toBe(m)
    expect(viewOf(b).getInt16(at)).toBe(n)
  })

  it.prop("int64 held in a JS number, exact up to 2^53", [fc.maxSafeInteger()], ([n]) => {
    const b = fresh()
    Codec.setInt64(b, at, n)
    expect(Codec.getInt64(b, at)).toBe(n)
    expect(viewOf(b).getBigInt64(at)).toBe(BigInt(n))
  })

  it("writes -1 as all ones, and leaves the neighbouring bytes alone", () => {
    const b = fresh()
    Codec.setInt64(b, at, -1)
    expect([...b.subarray(at, at + 8)]).toEqual(Array(8).fill(255))
    expect(b[at - 1]).toBe(0)
    expect(b[at + 8]).toBe(0)
  })
})
