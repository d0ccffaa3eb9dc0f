/**
 * The `fiberlog` command line, run in-process against a controller and a broker on loopback:
 * topics create / list / describe, produce from arguments, consume from the beginning, options
 * from the environment, and a typed failure for a bad address.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Logger, LogLevel } from "effect"
import * as Cli from "../src/cli/Cli.js"
import * as Format from "../src/cli/format.js"
import { Server } from "../src/index.js"

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

describe("Cli", () => {
  it("formats records, assignments and lag", () => {
    const r = { topic: "t", partition: 1, offset: 7, key: null, value: new TextEncoder().encode("hi"), headers: [], timestamp: 0 }
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
})
