import { describe, expect, it } from "@effect/vitest"
import { Node, NodeId, Transport } from "@fiberlog/core"
import { NetworkConformance } from "@fiberlog/testkit/vitest"
import { Deferred, Effect, Exit, Layer, Scope, TestClock } from "effect"
import { TcpNetwork } from "../src/index.js"
import { awaitErrors, collector, getCount, loopback } from "./tcp/helpers.js"

const a = NodeId.make("a")
const b = NodeId.make("b")

describe("TcpNetwork limits", () => {
  it.live("a peer that stops reading: the sender's queue stays bounded and sends fail with a typed error", () =>
    Effect.gen(function*() {
      const directory = TcpNetwork.directory({ b: loopback })
      const errors = yield* collector
      const maxQueuedBytes = 1024 * 1024
      const network = yield* TcpNetwork.make({
        clusterId: "c1",
        directory,
        maxQueuedBytes,
        maxBatchBytes: 256 * 1024,
        maxInboundBytes: 256 * 1024,
        sendTimeoutMs: 300,
        onConnectionError: errors.onConnectionError
      })
      // `b` takes the first envelope and never returns: it stops reading.
      const gate = yield* Deferred.make<void>()
      yield* network.connect(b, { deliver: () => Deferred.await(gate), peerDown: () => Effect.void })
      const sender = yield* network.connect(a, { deliver: () => Effect.void, peerDown: () => Effect.void })
      const payload = { bytes: new Uint8Array(64 * 1024) }
      const maxSends = 2_000 // 125 MiB if nothing pushed back
      let accepted = 0
      let failure: unknown = undefined
      while (accepted < maxSends && failure === undefined) {
        const exit = yield* Effect.exit(
          sender.send({ from: a, to: b, path: "sink", kind: "tell", id: 0, encoded: true, payload })
        )
        if (Exit.isSuccess(exit)) accepted++
        else failure = exit.cause
      }
      // Queue (1 MiB) + the kernel's socket buffers + what `b` read before pausing: far below 125 MiB.
      expect(accepted).toBeLessThan(maxSends)
      expect(accepted * 64 * 1024).toBeLessThan(64 * 1024 * 1024)
      expect(JSON.stringify(failure)).toContain("NodeUnreachable")
      const [error] = yield* awaitErrors(errors.seen, 1)
      expect(error).toMatchObject({ _tag: "SendTimeout", maxQueuedBytes })
      expect((error as TcpNetwork.SendTimeout).queuedBytes).toBeLessThanOrEqual(maxQueuedBytes)
    }).pipe(Effect.scoped))

  it.scoped("an envelope larger than maxFrameBytes, or not plain data, fails with PayloadNotSerializable", () =>
    Effect.gen(function*() {
      const network = yield* TcpNetwork.make({ clusterId: "c1", directory: TcpNetwork.directory(), maxFrameBytes: 1024 })
      const sender = yield* network.connect(a, { deliver: () => Effect.void, peerDown: () => Effect.void })
      const send = (payload: unknown) =>
        Effect.flip(sender.send({ from: a, to: b, path: "x", kind: "tell", id: 0, encoded: true, payload }))
      expect((yield* send({ bytes: new Uint8Array(2048) }))._tag).toBe("PayloadNotSerializable")
      expect((yield* send({ when: new Map() }))._tag).toBe("PayloadNotSerializable")
      expect((yield* send({ callback: () => 1 }))._tag).toBe("PayloadNotSerializable")
      // Plain data to a node with no address: unreachable.
      expect((yield* send({ n: 1 }))._tag).toBe("NodeUnreachable")
    }))

  it.scoped("after a failed dial, sends fail fast until the backoff passes; then the peer is dialled again", () =>
    Effect.gen(function*() {
      const directory = TcpNetwork.directory({ b: loopback })
      const layer = TcpNetwork.layer({ clusterId: "c1", directory })
      const client = yield* Node.make({ id: a }).pipe(Effect.provide(Layer.orDie(layer)))
      const startB = Effect.gen(function*() {
        const scope = yield* Scope.make()
        const node = yield* Node.make({ id: b }).pipe(Effect.provide(Layer.orDie(layer)), Scope.extend(scope))
        yield* Effect.orDie(node.spawn("counter", NetworkConformance.counter({ start: 5 })))
        return scope
      })
      const first = yield* startB
      expect(yield* getCount(client, "b")).toBe(5)
      yield* Scope.close(first, Exit.void)
      // Whether the ask went out on the dying connection or on a new dial, it fails at once.
      for (let i = 0; i < 2; i++) {
        const lost = yield* Effect.flip(getCount(client, "b"))
        expect(lost).toMatchObject({ _tag: "ActorUnavailable", reason: "unreachable" })
      }
      yield* startB // back on the same port
      // Within the backoff window the transport knows the peer is down.
      const early = yield* Effect.flip(getCount(client, "b"))
      expect(early).toMatchObject({ _tag: "ActorUnavailable", reason: "unreachable" })
      yield* TestClock.adjust("1 second")
      expect(yield* getCount(client, "b")).toBe(5)
    }))

  it.scoped("two nodes of one network cannot share an id", () =>
    Effect.gen(function*() {
      const network = yield* TcpNetwork.make({ clusterId: "c1", directory: TcpNetwork.directory() })
      const handler = { deliver: () => Effect.void, peerDown: () => Effect.void }
      yield* network.connect(a, handler)
      expect((yield* Effect.flip(network.connect(a, handler)))).toBeInstanceOf(Transport.NodeIdInUse)
    }))
})
