import { describe, expect, it } from "@effect/vitest"
import { NodeId } from "@fiberlog/core"
import { Either } from "effect"
import * as Handshake from "../../src/internal/tcp/handshake.js"
import { detach, measure, protocolVersion } from "../../src/internal/tcp/wire.js"

const d = NodeId.make("d")
const l = NodeId.make("l")
const secret = new TextEncoder().encode("s3cret")
const config = (self: NodeId.NodeId, extra: Partial<Handshake.Config> = {}): Handshake.Config => ({
  clusterId: "c1", self, secret, version: protocolVersion, ...extra
})
const nonce = (n: number) => new Uint8Array(32).fill(n)

/** Runs a whole handshake between two configs; returns each side's last step. */
const run = (dialer: Handshake.Config, listener: Handshake.Config) => {
  const first = Handshake.dial(dialer, l, nonce(1))
  const welcome = Handshake.step(listener, Handshake.listen(nonce(2)), first.send)
  if (welcome._tag !== "Continue") return { listener: welcome }
  const proof = Handshake.step(dialer, first.state, welcome.send)
  if (proof._tag !== "Continue") return { dialer: proof }
  const accepted = Handshake.step(listener, welcome.next, proof.send)
  if (accepted._tag !== "Open") return { listener: accepted }
  return { listener: accepted, dialer: Handshake.step(dialer, proof.next, accepted.send!) }
}

describe("Handshake", () => {
  it("opens both sides with the same secret, naming each other", () => {
    const result = run(config(d), config(l))
    expect(result.listener).toMatchObject({ _tag: "Open", peer: d })
    expect(result.dialer).toMatchObject({ _tag: "Open", peer: l })
  })

  it("opens without secrets", () => {
    const result = run(config(d, { secret: undefined }), config(l, { secret: undefined }))
    expect(result.dialer).toMatchObject({ _tag: "Open", peer: l })
  })

  it("refuses another cluster, another version, the wrong node, a wrong or missing secret", () => {
    const refused = (step: Handshake.Step | undefined) => step?._tag === "Fail" ? step.error : undefined
    expect(refused(run(config(d, { clusterId: "c2" }), config(l)).listener)).toMatchObject({ reason: "cluster-id", side: "local" })
    expect(refused(run(config(d, { version: 99 }), config(l)).listener)).toMatchObject({ reason: "version" })
    expect(refused(run(config(d), config(NodeId.make("other"))).listener)).toMatchObject({ reason: "node-id" })
    expect(refused(run(config(d, { secret: new Uint8Array([1]) }), config(l)).dialer)).toMatchObject({ reason: "auth" })
    expect(refused(run(config(d, { secret: undefined }), config(l)).listener)).toMatchObject({
      reason: "auth", detail: "a secret is required"
    })
    expect(refused(run(config(d), config(l, { secret: undefined })).dialer)).toMatchObject({ reason: "auth" })
  })

  it("a recorded proof does not open a connection with a fresh challenge", () => {
    const first = Handshake.dial(config(d), l, nonce(1))
    const welcome = Handshake.step(config(l), Handshake.listen(nonce(2)), first.send)
    if (welcome._tag !== "Continue") throw new Error("expected Welcome")
    const proof = Handshake.step(config(d), first.state, welcome.send)
    if (proof._tag !== "Continue") throw new Error("expected Proof")
    // Replayed against a listener that issued another nonce.
    const again = Handshake.step(config(l), Handshake.listen(nonce(3)), first.send)
    if (again._tag !== "Continue") throw new Error("expected Welcome")
    expect(Handshake.step(config(l), again.next, proof.send)).toMatchObject({ _tag: "Fail", error: { reason: "auth" } })
  })

  it("a frame out of order is refused as a protocol error", () => {
    expect(Handshake.step(config(l), Handshake.listen(nonce(2)), { _tag: "Accepted" })).toMatchObject({
      _tag: "Fail", error: { reason: "protocol" }, send: { _tag: "Refused" }
    })
  })
})

describe("wire", () => {
  it("measure bounds plain data and refuses the rest", () => {
    const bytes = new Uint8Array(1000)
    expect(Either.getOrThrow(measure({ a: "xy", b: [1, null, bytes] }))).toBeGreaterThan(1000)
    expect(Either.isLeft(measure({ f: () => 1 }))).toBe(true)
    expect(Either.isLeft(measure(new Map()))).toBe(true)
    expect(Either.isLeft(measure(new Uint16Array(2)))).toBe(true)
    const deep: Array<unknown> = []
    let cursor = deep
    for (let i = 0; i < 100; i++) cursor.push((cursor = []))
    expect(Either.isLeft(measure(deep))).toBe(true)
  })

  it("detach copies binaries into exact-size plain Uint8Arrays", () => {
    const buffer = Buffer.from([9, 1, 2, 3, 9])
    const value = { nested: [{ bytes: buffer.subarray(1, 4) }] }
    const out = Either.getOrThrow(detach(value)) as typeof value
    const bytes = out.nested[0]!.bytes
    expect(bytes.constructor).toBe(Uint8Array)
    expect([...bytes]).toEqual([1, 2, 3])
    expect(bytes.buffer.byteLength).toBe(3)
  })
})
