import { describe, expect, it } from "@effect/vitest"
import { MsgPack } from "@effect/platform"
import { Effect, FastCheck as fc, Redacted, Stream } from "effect"
import { TcpNetwork } from "../src/index.js"
import { awaitErrors, collector, counterNode, getCount, loopback, portOf, raw, selfSignedCert } from "./tcp/helpers.js"

/** Frames as a real peer sends them: one `MsgPack.pack` batch. */
const pack = (...values: ReadonlyArray<unknown>) =>
  Stream.fromIterable([values]).pipe(
    Stream.flattenIterables,
    Stream.rechunk(values.length),
    Stream.pipeThroughChannel(MsgPack.pack()),
    Stream.runCollect,
    Effect.map((chunks) => new Uint8Array(Buffer.concat([...chunks]))),
    Effect.orDie
  )

const secret = Redacted.make("s3cret")

/** The node under attack, `b`, with a counter at 42, plus a well-behaved client `good`. */
const setup = (extra: Partial<TcpNetwork.Options> = {}) =>
  Effect.gen(function*() {
    const errors = yield* collector
    const directory = TcpNetwork.directory({ b: loopback })
    const base = { clusterId: "c1", directory, secret, maxFrameBytes: 64 * 1024, handshakeTimeoutMs: 2_000, ...extra }
    const b = yield* counterNode("b", { ...base, onConnectionError: errors.onConnectionError }, 42)
    const good = yield* counterNode("good", base)
    expect(yield* getCount(good, "b")).toBe(42)
    return { b, good, directory, base, errors, port: portOf(directory, "b") }
  })

describe("TcpNetwork under bad input", () => {
  it.live("random bytes: each connection is closed and the node keeps serving", () =>
    Effect.gen(function*() {
      const { errors, good, port } = yield* setup()
      const samples = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 512 }), { seed: 7, numRuns: 40 })
      for (const bytes of samples) yield* raw(port, [bytes])
      const seen = yield* awaitErrors(errors.seen, samples.length)
      for (const error of seen) expect(["MalformedFrame", "ConnectionClosed"]).toContain(error._tag)
      expect(seen.some((error) => error._tag === "MalformedFrame")).toBe(true)
      expect(yield* getCount(good, "b")).toBe(42)
    }).pipe(Effect.scoped))

  it.live("truncated, oversized and wrongly-typed frames get typed errors and a closed connection", () =>
    Effect.gen(function*() {
      const { errors, good, port } = yield* setup()
      const hello = yield* pack({
        _tag: "Hello", protocol: "fiberlog", version: TcpNetwork.protocolVersion, clusterId: "c1",
        from: "mallory", to: "b", nonce: new Uint8Array(32)
      })
      // Truncated: half a valid Hello, then the end of the stream.
      yield* raw(port, [hello.subarray(0, hello.length >> 1)])
      expect((yield* awaitErrors(errors.seen, 1))[0]!._tag).toBe("ConnectionClosed")
      // Oversized: a bin header announcing 1 MiB, then 512 KiB, never ending.
      const header = new Uint8Array([0xc6, 0x00, 0x10, 0x00, 0x00])
      yield* raw(port, [header, new Uint8Array(512 * 1024)], false)
      expect((yield* awaitErrors(errors.seen, 2))[1]).toMatchObject({ _tag: "FrameTooLarge", maxBytes: 64 * 1024 })
      // Wrongly typed: a number, a Hello with a bad field, an envelope before any handshake.
      const wrong = [
        yield* pack(42),
        yield* pack({ _tag: "Hello", protocol: "fiberlog", version: "one" }),
        yield* pack({ from: "mallory", to: "b", path: "counter", kind: "tell", id: 0, encoded: true, payload: {} })
      ]
      for (const frame of wrong) {
        const answer = yield* raw(port, [frame], false)
        expect(answer.length).toBeGreaterThan(0) // the Refused frame
      }
      const seen = yield* awaitErrors(errors.seen, 5)
      expect(seen.slice(2).map((error) => error._tag)).toEqual(["MalformedFrame", "MalformedFrame", "MalformedFrame"])
      expect(yield* getCount(good, "b")).toBe(42)
    }).pipe(Effect.scoped))

  it.live("wrong cluster id, wrong secret and a missing secret are refused", () =>
    Effect.gen(function*() {
      const { base, errors, good } = yield* setup()
      const cases = [
        { name: "other-cluster", options: { clusterId: "c2" }, reason: "cluster-id" },
        { name: "wrong-secret", options: { secret: Redacted.make("guess") }, reason: "auth" },
        { name: "no-secret", options: { secret: undefined }, reason: "auth" }
      ] as const
      for (const [index, { name, options, reason }] of cases.entries()) {
        const own = yield* collector
        const intruder = yield* counterNode(name, { ...base, ...options, onConnectionError: own.onConnectionError })
        const error = yield* Effect.flip(getCount(intruder, "b"))
        expect(error).toMatchObject({ _tag: "ActorUnavailable", reason: "unreachable" })
        const [refusal] = yield* awaitErrors(own.seen, 1)
        expect(refusal).toMatchObject({ _tag: "HandshakeRefused", reason })
        expect((yield* awaitErrors(errors.seen, index + 1))[index]).toMatchObject({ _tag: "HandshakeRefused", reason })
        expect(yield* getCount(good, "b")).toBe(42)
      }
    }).pipe(Effect.scoped))

  it.live("TLS: peers with the certificate talk; plaintext to the TLS listener is refused", () =>
    Effect.gen(function*() {
      const cert = yield* selfSignedCert
      const tls = { certPath: cert.certPath, keyPath: cert.keyPath, caPath: cert.certPath }
      const { base, errors, good } = yield* setup({ tls })
      expect(yield* getCount(good, "b")).toBe(42)
      const plain = yield* counterNode("plain", { ...base, tls: undefined })
      const error = yield* Effect.flip(getCount(plain, "b"))
      expect(error).toMatchObject({ _tag: "ActorUnavailable", reason: "unreachable" })
      expect((yield* awaitErrors(errors.seen, 1))[0]!._tag).toBe("TlsFailed")
      expect(yield* getCount(good, "b")).toBe(42)
    }).pipe(Effect.scoped))
})
