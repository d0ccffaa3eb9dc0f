import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Codec from "../../src/log/internal/codec.js"

/** The batch header's fixed-width fields, read and written on the bytes: the same as a big-endian `DataView`. */
describe("Codec integers", () => {
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

  /** Kafka's zig-zag varint of `n`, in BigInt: the reference the number-based codec must match. */
  const reference = (n: number): Array<number> => {
    let z = n >= 0 ? BigInt(n) * 2n : -BigInt(n) * 2n - 1n
    const out: Array<number> = []
    while (z >= 128n) {
      out.push(Number(z % 128n) | 0x80)
      z /= 128n
    }
    out.push(Number(z))
    return out
  }
  // Every width bound of the int32 path (the zig-zag of 2^6, 2^13, 2^20, 2^27 and 2^30 needs one
  // more byte), either side of it, negatives, and int64 timestamps (exact while the zig-zag fits a
  // double's 53 bits: |n| < 2^52).
  const bounds = [0, 1, 63, 64, 8191, 8192, 2 ** 20 - 1, 2 ** 20, 2 ** 27 - 1, 2 ** 27, 2 ** 30 - 1, 2 ** 30, 2 ** 31, -1, -64, -65, -(2 ** 30)]
  it.prop("varints: the bytes of Kafka's zig-zag varint, their size, and read back", [
    fc.oneof(fc.constantFrom(...bounds), fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.integer({ min: -(2 ** 52) + 1, max: 2 ** 52 - 1 }), fc.integer({ min: 0, max: 2 ** 45 }))
  ], ([n]) => {
    const b = new Uint8Array(12)
    const end = Codec.writeVarint(b, 1, n)
    expect([...b.subarray(1, end)]).toEqual(reference(n))
    expect(Codec.varintSize(n)).toBe(end - 1)
    const cursor = { pos: 1 }
    expect(Codec.readVarint(b, cursor)).toBe(n)
    expect(cursor.pos).toBe(end)
  })
})
