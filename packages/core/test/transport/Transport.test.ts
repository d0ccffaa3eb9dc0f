/**
 * `Transport.sendNow`: the in-process network hands an envelope over when called (nothing left to
 * run), `send` only when run, and a `LinkFilter` drops blocked envelopes on both paths.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Envelope from "../../src/transport/Envelope.js"
import * as InProcess from "../../src/transport/InProcess.js"
import * as LinkFilter from "../../src/transport/LinkFilter.js"
import * as NodeId from "../../src/transport/NodeId.js"
import * as Transport from "../../src/transport/Transport.js"

const a = NodeId.make("a")
const b = NodeId.make("b")

const envelope = (payload: unknown): Envelope.Envelope =>
  Envelope.make({ from: a, to: b, path: "x", kind: "tell", id: 0, encoded: false, payload })

/** Joins `a` and `b` to `network`; what `b` received. */
const join = (network: Transport.NetworkService) =>
  Effect.gen(function*() {
    const received: Array<unknown> = []
    const handler = (deliver: Transport.Handler["deliver"]): Transport.Handler => ({ deliver, peerDown: () => Effect.void })
    const from = yield* network.connect(a, handler(() => Effect.void))
    yield* network.connect(b, handler((e) => Effect.sync(() => void received.push(e.payload))))
    return { from, received }
  })

describe("Transport.sendNow", () => {
  it.scoped("in process: sendNow hands over when called; send only when run", () =>
    Effect.gen(function*() {
      const { from, received } = yield* join(yield* InProcess.make())
      const later = from.send(envelope(1))
      expect(received).toEqual([])
      const rest = Transport.sendNow(from, envelope(2))
      // The handler's own effect is what is left to run.
      yield* rest
      expect(received).toEqual([2])
      yield* later
      expect(received).toEqual([2, 1])
    }))

  it.scoped("a blocked link drops on both paths; unblocked, both deliver", () =>
    Effect.gen(function*() {
      const filter = LinkFilter.make()
      const { from, received } = yield* join(LinkFilter.wrap(yield* InProcess.make(), filter))
      expect(from.sendNow).toBeDefined()
      yield* filter.block(a, b)
      expect(Transport.sendNow(from, envelope(1))).toBe(Effect.void)
      yield* from.send(envelope(2))
      expect(received).toEqual([])
      yield* filter.unblock(a, b)
      yield* Transport.sendNow(from, envelope(3))
      yield* from.send(envelope(4))
      expect(received).toEqual([3, 4])
    }))

  it.scoped("an unknown node fails on both paths", () =>
    Effect.gen(function*() {
      const { from } = yield* join(yield* InProcess.make())
      const lost = Envelope.make({ ...envelope(1), to: NodeId.make("nobody") })
      expect((yield* Effect.flip(Transport.sendNow(from, lost)))._tag).toBe("NodeUnreachable")
      expect((yield* Effect.flip(from.send(lost)))._tag).toBe("NodeUnreachable")
    }))
})

describe("InProcess serialize", () => {
  it.scoped("delivers a copy of plain data, refuses what TCP could not carry", () =>
    Effect.gen(function*() {
      const { from, received } = yield* join(yield* InProcess.make({ serialize: true }))
      const backing = new Uint8Array([9, 1, 2, 3, 9])
      const payload = { n: 1, s: "x", nested: [{ bytes: backing.subarray(1, 4) }, null, true], big: 2n, none: undefined }
      yield* Transport.sendNow(from, envelope(payload))
      const got = received[0] as typeof payload
      expect(got).toEqual(payload)
      expect(got).not.toBe(payload)
      expect(got.nested[0]).not.toBe(payload.nested[0])
      const bytes = (got.nested[0] as { bytes: Uint8Array }).bytes
      // its own buffer: changing the sender's bytes afterwards changes nothing delivered
      expect(bytes.buffer).not.toBe(backing.buffer)
      backing[2] = 0
      expect(Array.from(bytes)).toEqual([1, 2, 3])
      // not plain data but structured-cloneable: copied by structuredClone
      yield* Transport.sendNow(from, envelope({ when: new Map([[1, "a"]]) }))
      expect((received[1] as { when: Map<number, string> }).when.get(1)).toBe("a")
      // not cloneable at all: refused, nothing delivered
      const refused = yield* Effect.flip(Transport.sendNow(from, envelope({ callback: () => 1 })))
      expect(refused._tag).toBe("PayloadNotSerializable")
      expect(received.length).toBe(2)
    }))
})
