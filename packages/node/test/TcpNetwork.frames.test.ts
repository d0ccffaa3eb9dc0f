import { describe, expect, it } from "@effect/vitest"
import { type Envelope, NodeId } from "@fiberlog/core"
import { Effect, Queue } from "effect"
import { TcpNetwork } from "../src/index.js"
import { releaseReads } from "../src/internal/tcp/link.js"
import { own } from "../src/internal/tcp/wire.js"
import { loopback } from "./tcp/helpers.js"

const a = NodeId.make("a")
const b = NodeId.make("b")

/** `length` bytes that differ by position and by `seed`, so a misplaced byte shows. */
const pattern = (length: number, seed: number) => {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff
  return bytes
}

describe("TcpNetwork frames", () => {
  it.live("large and small envelopes, back to back, arrive whole, in order, as plain Uint8Arrays", () =>
    Effect.gen(function*() {
      const directory = TcpNetwork.directory({ b: loopback })
      const network = yield* TcpNetwork.make({ clusterId: "c1", directory, maxBatchBytes: 512 * 1024 })
      const received = yield* Queue.unbounded<Envelope.Envelope>()
      yield* network.connect(b, { deliver: (envelope) => Queue.offer(received, envelope), peerDown: () => Effect.void })
      const sender = yield* network.connect(a, { deliver: () => Effect.void, peerDown: () => Effect.void })
      // Frames of many socket reads (3 MiB), of a few, and tiny ones between them.
      const sizes = [3 * 1024 * 1024, 5, 200 * 1024, 1, 3 * 1024 * 1024 + 7, 64 * 1024, 0, 1024 * 1024]
      for (const [seed, size] of sizes.entries()) {
        const payload = { seed, bytes: pattern(size, seed) }
        yield* sender.send({ from: a, to: b, path: "sink", kind: "tell", id: 0, encoded: true, payload })
      }
      for (const [seed, size] of sizes.entries()) {
        const envelope = yield* Queue.take(received)
        const payload = envelope.payload as { seed: number; bytes: Uint8Array }
        expect(payload.seed).toBe(seed)
        expect(payload.bytes.constructor).toBe(Uint8Array)
        expect(payload.bytes.length).toBe(size)
        expect(Buffer.compare(payload.bytes, pattern(size, seed))).toBe(0)
        // Owned: pins at most twice its size of the read buffers.
        expect(payload.bytes.buffer.byteLength).toBeLessThanOrEqual(Math.max(2 * size, 1))
      }
    }).pipe(Effect.scoped))

  it("reads go to the decoder at a frame's start, or once they at least double its incomplete frame", () => {
    expect(releaseReads(0, 1)).toBe(true)
    expect(releaseReads(0, 64 * 1024)).toBe(true)
    expect(releaseReads(64 * 1024, 64 * 1024)).toBe(true)
    expect(releaseReads(64 * 1024, 128 * 1024)).toBe(true)
    expect(releaseReads(128 * 1024, 64 * 1024)).toBe(false)
    expect(releaseReads(4 * 1024 * 1024, 1)).toBe(false)
  })

  it("own: a view of a binary filling most of its buffer, a copy of a small one in a large buffer", () => {
    const large = Buffer.alloc(1000).subarray(10, 900)
    const view = own(large)
    expect(view.constructor).toBe(Uint8Array)
    expect(view.buffer).toBe(large.buffer)
    expect([view.byteOffset, view.byteLength]).toEqual([large.byteOffset, 890])
    const small = new Uint8Array(1000).subarray(10, 20)
    const copy = own(small)
    expect(copy.constructor).toBe(Uint8Array)
    expect(copy.buffer.byteLength).toBe(10)
  })
})
