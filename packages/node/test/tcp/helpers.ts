/** Helpers for the TCP network tests: raw sockets, error collectors, a TLS certificate. */
import { Address, Node, NodeId, type Transport } from "@fiberlog/core"
import { NetworkConformance } from "@fiberlog/testkit/vitest"
import { Effect, Layer, Ref, Schedule, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TcpNetwork } from "../../src/index.js"

export const loopback = { host: "127.0.0.1", port: 0 } as const

/** Connection errors seen by one network, as `[tag, detail]`. */
export const collector = Effect.gen(function*() {
  const seen = yield* Ref.make<ReadonlyArray<TcpNetwork.ConnectionError>>([])
  const onConnectionError = (error: TcpNetwork.ConnectionError) => Ref.update(seen, (all) => [...all, error])
  return { seen, onConnectionError } as const
})

/** Waits (bounded) until `seen` holds at least `count` errors; returns them. */
export const awaitErrors = (seen: Ref.Ref<ReadonlyArray<TcpNetwork.ConnectionError>>, count: number) =>
  Ref.get(seen).pipe(
    Effect.filterOrFail((all) => all.length >= count),
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(1_000)))),
    Effect.orDie
  )

/** A node on its own TCP network, hosting a counter at `counter` (starting at `start`). */
export const counterNode = (
  id: string,
  options: TcpNetwork.Options,
  start = 0
): Effect.Effect<Node.Node, never, Scope.Scope> =>
  Effect.gen(function*() {
    const node = yield* Node.make({ id: NodeId.make(id) }).pipe(
      Effect.provide(Layer.orDie(TcpNetwork.layer(options))),
      Effect.orDie
    )
    yield* Effect.orDie(node.spawn("counter", NetworkConformance.counter({ start })))
    return node
  })

/** Asks the counter on `target` from `from`. */
export const getCount = (from: Node.Node, target: string, timeoutMs = 5_000): Effect.Effect<number, unknown> =>
  from.ref(Address.make(NodeId.make(target), "counter"), NetworkConformance.Counter)
    .ask(new NetworkConformance.Get(), { timeoutMs })

/**
 * Opens a raw socket to `port`, writes `chunks`, half-closes when `end`, and waits until the other
 * side closes it. Succeeds with the bytes received.
 */
export const raw = (port: number, chunks: ReadonlyArray<Uint8Array>, end = true): Effect.Effect<Uint8Array> =>
  Effect.async<Uint8Array>((resume) => {
    const received: Array<Buffer> = []
    const socket = Net.createConnection({ host: "127.0.0.1", port })
    socket.on("error", () => {})
    socket.on("data", (data) => received.push(data))
    socket.once("close", () => resume(Effect.succeed(new Uint8Array(Buffer.concat(received)))))
    socket.once("connect", () => {
      for (const chunk of chunks) socket.write(chunk)
      if (end) socket.end()
    })
    return Effect.sync(() => socket.destroy())
  })

/** A self-signed certificate for 127.0.0.1 in a temporary directory, removed with the scope. */
export const selfSignedCert = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "fiberlog-tls-"))
    const certPath = join(dir, "cert.pem")
    const keyPath = join(dir, "key.pem")
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=fiberlog-test",
      "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "ignore" })
    return { dir, certPath, keyPath }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The port a directory holds for `node` (after it bound port 0). */
export const portOf = (directory: TcpNetwork.Directory, node: string): number =>
  directory.lookup(NodeId.make(node))!.port

export type { Transport }
