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
