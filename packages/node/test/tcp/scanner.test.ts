/**
 * `FrameScanner` against the MessagePack it must agree with: values packed by msgpackr's `Packr`
 * as `@effect/platform`'s `MsgPack.pack` packs them (one `new Packr()` per stream, so msgpackr
 * records too), concatenated and fed in random splits. After every read the scanner's boundary must
 * be the end of the last whole value, and its item count what `Unpackr.unpackMultiple` makes of
 * the bytes up to it. (msgpackr comes with `@effect/platform`, whose `MsgPack` is built on it.)
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Packr, Unpackr } from "msgpackr"
import { FrameScanner } from "../../src/internal/tcp/scanner.js"

const key = fc.constantFrom("a", "from", "to", "payload", "batches", "topic", "k" + "y".repeat(40), "x0", "x1")

/** Plain data as envelopes carry it: nil, booleans, numbers, strings, binaries, arrays, maps, undefined. */
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(null, undefined, true, false),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 300 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(key, tie("value"), { maxKeys: 5 })
  )
}))

describe("FrameScanner", () => {
  it("finds where each packed value ends, read by read, and counts what the decoder makes of them", () =>
    fc.assert(
      fc.property(
        fc.array(fc.oneof(value, fc.tuple(value, value)), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 50 }),
        (values, splits) => {
          const packr = new Packr()
          const packed = values.map((v) => new Uint8Array(packr.pack(v))) // copied: pack may reuse its buffer
          const ends: Array<number> = []
          let total = 0
          for (const p of packed) ends.push(total += p.length)
          const all = new Uint8Array(total)
          packed.reduce((at, p) => (all.set(p, at), at + p.length), 0)
          const scanner = new FrameScanner()
          let at = 0
          let split = 0
          while (at < all.length) {
            const n = Math.min(all.length - at, splits[split++ % splits.length]!)
            scanner.feed(all.subarray(at, at + n))
            at += n
            expect(scanner.lost).toBe(false)
            expect(scanner.boundary).toBe(Math.max(0, ...ends.filter((e) => e <= at)))
            if (scanner.boundary > 0) {
              expect(scanner.items).toBe(new Unpackr().unpackMultiple(all.subarray(0, scanner.boundary)).flat().length)
            }
          }
        }
      ),
      { numRuns: 200, seed: 20261126 }
    ))

  it("gives up on a value it does not know (a Date), telling nothing more", () => {
    const scanner = new FrameScanner()
    scanner.feed(new Packr().pack([new Date(0)]))
    expect(scanner.lost).toBe(true)
  })
})
