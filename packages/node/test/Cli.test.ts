/**
 * The `fiberlog` command line, run in-process against a controller and a broker on loopback:
 * topics create / list / describe, produce from arguments, consume from the beginning, options
 * from the environment, and a typed failure for a bad address. Servers started by the command
 * line itself: with TLS from flags and from the environment (a plaintext client is refused), and
 * a broker advertising another address than the one it binds.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { FileSystem } from "@effect/platform"
import { NodeId } from "@fiberlog/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Either, Exit, Fiber, Logger, LogLevel } from "effect"
import * as Net from "node:net"
import * as Cli from "../src/cli/Cli.js"
import * as Format from "../src/cli/format.js"
import { LocalCluster, Server } from "../src/index.js"
import { selfSignedCert } from "./tcp/helpers.js"

const clusterId = "cli-test"
const loopback = { host: "127.0.0.1", port: 0 }

/** Runs `fiberlog <args>`, returning what it printed with `Console.log`. */
const fiberlog = (args: ReadonlyArray<string>, env: ReadonlyArray<readonly [string, string]> = []) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const base = yield* Effect.console
    const capture = {
      ...base,
      log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(parts.join(" "))),
      error: () => Effect.void
    }
    yield* Cli.run(["node", "fiberlog", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["FIBERLOG_CLUSTER_ID", clusterId], ...env])))
    )
    return lines
  })

/** Runs `fiberlog <args>`, expecting a `CliError`; its message. */
const failure = (args: ReadonlyArray<string>) =>
  Effect.map(Effect.flip(fiberlog(args)), (error) => {
    expect(error._tag).toBe("CliError")
    return error._tag === "CliError" ? error.message : ""
  })

/**
 * Starts `fiberlog <args>` (a server) in a fiber of the scope; returns the address in its ready
 * line and the line. A server that fails before it is ready fails this.
 */
const serve = (args: ReadonlyArray<string>, env: ReadonlyArray<readonly [string, string]> = []) =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<string>()
    const base = yield* Effect.console
    const capture = {
      ...base,
      log: (...parts: ReadonlyArray<unknown>) =>
        Effect.sync(() => {
          const line = parts.join(" ")
          if (line.includes(" listening on ")) Deferred.unsafeDone(ready, Exit.succeed(line))
        }),
      error: () => Effect.void
    }
    const fiber = yield* Cli.run(["node", "fiberlog", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["FIBERLOG_CLUSTER_ID", clusterId], ...env]))),
      Effect.forkScoped
    )
    const line = yield* Effect.raceFirst(Deferred.await(ready), Effect.zipRight(Fiber.join(fiber), Effect.never))
    const address = /listening on (\S+?)(,|$)/.exec(line)![1]!
    return { line, address }
  })

/** A port free on 127.0.0.1 right now. */
const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("Cli", () => {
  it("formats records, assignments and lag", () => {
    const r = { topic: "t", partition: 1, offset: 7, key: null, value: new TextEncoder().encode("hi"), headers: [], timestamp: 0, leaderEpoch: 0 }
    expect(Format.record(r, false)).toBe("hi")
    expect(Format.record(r, true)).toBe("1:7\thi")
    expect(Format.assignment(new TextEncoder().encode(`{"v":0,"partitions":[["t",0],["t",2]]}`))).toEqual(["t-0", "t-2"])
    expect(Format.assignment(new Uint8Array())).toEqual([])
    expect(Format.lag(-1, 10)).toBe("-")
    expect(Format.lag(4, 10)).toBe("6")
  })

  it.scopedLive("topics, produce and consume against a running cluster", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-cli-" })
      const controller = yield* Server.controller({ clusterId, listen: loopback, dataDir: `${dataDir}/c`, offsetsTopicPartitions: 0 })
      const broker = yield* Server.broker({
        clusterId,
        brokerId: 1,
        listen: loopback,
        controller: controller.address,
        dataDir: `${dataDir}/b1`,
        heartbeatIntervalMs: 100
      })
      const bootstrap = ["--bootstrap", `1=${Server.formatAddress(broker.address)}`]

      const created = yield* fiberlog(["topics", "create", ...bootstrap, "--partitions", "2", "--replication-factor", "1", "events"])
      expect(created[0]).toBe("created topic events")
      expect(created).toHaveLength(3)

      // The bootstrap list from the environment, naming only the controller.
      const env = [["FIBERLOG_BOOTSTRAP", `controller=${Server.formatAddress(controller.address)}`]] as const
      expect(yield* fiberlog(["topics", "list"], env)).toEqual(["events"])
      const produced = yield* fiberlog(["produce", ...bootstrap, "--print-offsets", "events", "a", "b", "c", "d"])
      expect(produced).toHaveLength(4)

      const consumed = yield* fiberlog(["consume", ...bootstrap, "--from-beginning", "--max-messages", "4", "events"])
      expect([...consumed].sort()).toEqual(["a", "b", "c", "d"])

      const described = yield* fiberlog(["topics", "describe", ...bootstrap, "events"])
      expect(described[0]).toContain("topic events: 2 partitions")
      expect(described.slice(1).map((l) => l.replace(/.*offsets /, ""))).toEqual(["0..2", "0..2"])

      const bad = yield* Effect.either(fiberlog(["topics", "list", "--bootstrap", "127.0.0.1:1"]))
      expect(Either.isLeft(bad) && bad.left._tag).toBe("CliError")
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 30_000 })

  it.scopedLive("TLS from flags and from the environment: servers and clients talk; plaintext is refused", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-cli-tls-" })
      const cert = yield* selfSignedCert
      const tlsFlags = ["--tls-cert", cert.certPath, "--tls-key", cert.keyPath, "--tls-ca", cert.certPath]

      // The controller takes its TLS settings from the environment, the broker from flags (mutual TLS).
      const controller = yield* serve(["controller", "--listen", "127.0.0.1:0", "--offsets-topic-partitions", "0"], [
        ["FIBERLOG_TLS_CERT", cert.certPath],
        ["FIBERLOG_TLS_KEY", cert.keyPath],
        ["FIBERLOG_TLS_CA", cert.certPath]
      ])
      const broker = yield* serve([
        "broker", "--id", "1", "--listen", "127.0.0.1:0", "--controller", controller.address, "--data-dir", `${dataDir}/b1`,
        "--heartbeat-interval-ms", "100", "--tls-require-client-cert", ...tlsFlags
      ])
      expect(broker.line).toBe(`fiberlog broker-1 listening on ${broker.address}`)
      const bootstrap = ["--bootstrap", `1=${broker.address}`]

      // A client with the certificate: topics, produce, consume.
      const listTopics = () => fiberlog(["topics", "list", ...bootstrap, ...tlsFlags])
      yield* LocalCluster.waitUntil(Effect.either(fiberlog(["topics", "create", ...bootstrap, ...tlsFlags, "secure"])), Either.isRight, {
        timeoutMs: 15_000,
        what: "the broker registered over TLS"
      })
      expect(yield* listTopics()).toEqual(["secure"])
      yield* fiberlog(["produce", ...bootstrap, ...tlsFlags, "secure", "x", "y"])
      const consumed = yield* fiberlog(["consume", ...bootstrap, ...tlsFlags, "--from-beginning", "--max-messages", "2", "secure"])
      expect([...consumed].sort()).toEqual(["x", "y"])

      // The same client settings from the environment.
      const env = [
        ["FIBERLOG_BOOTSTRAP", `controller=${controller.address}`],
        ["FIBERLOG_TLS_CERT", cert.certPath],
        ["FIBERLOG_TLS_KEY", cert.keyPath],
        ["FIBERLOG_TLS_CA", cert.certPath]
      ] as const
      expect(yield* fiberlog(["topics", "list"], env)).toEqual(["secure"])

      // Without TLS nothing answers: the servers really speak TLS.
      const [host, port] = [broker.address.slice(0, broker.address.lastIndexOf(":")), Number(broker.address.slice(broker.address.lastIndexOf(":") + 1))]
      const plain = yield* Effect.flip(Server.connect({ clusterId, bootstrap: [["broker-1", { host, port }]], connectTimeoutMs: 1_500 }))
      expect(plain._tag).toBe("NoServerReachableError")

      // Flags that do not make sense are typed errors with a message.
      expect(yield* failure(["topics", "list", ...bootstrap, "--tls-cert", cert.certPath])).toContain(
        "--tls-cert and --tls-key go together"
      )
      expect(yield* failure(["topics", "list", ...bootstrap, "--tls-cert", `${dataDir}/none.pem`, "--tls-key", cert.keyPath]))
        .toContain(`cannot read the TLS certificate ${dataDir}/none.pem`)
      expect(yield* failure(["topics", "list", ...bootstrap, "--tls-ca", cert.certPath])).toContain(
        "--tls-ca needs --tls-cert and --tls-key"
      )
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 40_000 })

  it.scopedLive("--advertise: others are told the advertised address, not the one bound", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const controller = yield* serve(["controller", "--listen", "127.0.0.1:0", "--offsets-topic-partitions", "0"])
      const broker = yield* serve(
        ["broker", "--id", "1", "--listen", `0.0.0.0:${port}`, "--controller", controller.address, "--heartbeat-interval-ms", "100"],
        [["FIBERLOG_ADVERTISE", `127.0.0.1:${port}`]]
      )
      expect(broker.line).toBe(`fiberlog broker-1 listening on 0.0.0.0:${port}, advertised as 127.0.0.1:${port}`)

      // A client that knows only the controller learns the broker's advertised address, and uses it.
      const [host, controllerPort] = controller.address.split(":")
      const connection = yield* Server.connect({
        clusterId,
        bootstrap: [["controller", { host: host!, port: Number(controllerPort) }]],
        directoryRefreshMs: 100
      })
      yield* LocalCluster.waitUntil(
        Effect.sync(() => connection.directory.lookup(NodeId.make("broker-1"))),
        (address) => address?.host === "127.0.0.1" && address.port === port,
        { timeoutMs: 10_000, what: "broker-1 at its advertised address in the client's directory" }
      )
      const bootstrap = ["--bootstrap", `controller=${controller.address}`]
      yield* LocalCluster.waitUntil(Effect.either(fiberlog(["topics", "create", ...bootstrap, "t"])), Either.isRight, {
        timeoutMs: 10_000,
        what: "the broker registered"
      })
      yield* fiberlog(["produce", ...bootstrap, "t", "hello"])
      expect(yield* fiberlog(["consume", ...bootstrap, "--from-beginning", "--max-messages", "1", "t"])).toEqual(["hello"])

      // Port 0 cannot be advertised.
      expect(yield* failure(["broker", "--id", "2", "--listen", "127.0.0.1:0", "--advertise", "127.0.0.1:0"])).toContain(
        "--advertise 127.0.0.1:0"
      )
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 30_000 })
})
