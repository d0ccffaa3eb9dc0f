/**
 * One server per data directory: a second broker on a directory in use fails with the typed
 * `DataDirLocked` (naming the directory and the holder's pid), through the API and the command
 * line, while the first keeps serving; a lock left by a dead process (or by an earlier process
 * with this pid) is taken over; the lock goes when the server stops.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { FileSystem } from "@effect/platform"
import { Admin, Consumer, Producer } from "@fiberlog/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, ExecutionStrategy, Exit, Logger, LogLevel, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as Cli from "../src/cli/Cli.js"
import { LocalCluster, Server } from "../src/index.js"

const loopback = { host: "127.0.0.1", port: 0 }
const clusterId = "lock-test"

/** The pid of a process that has exited (and been reaped). */
const deadPid = () => {
  const pid = spawnSync(process.execPath, ["-e", ""]).pid!
  expect(() => process.kill(pid, 0)).toThrow()
  return pid
}

const brokerOn = (dataDir: string, brokerId: number, controller: { host: string; port: number }) =>
  Server.broker({ clusterId, brokerId, listen: loopback, controller, dataDir, heartbeatIntervalMs: 100, directoryRefreshMs: 100 })

describe("DataDirLock", () => {
  it.scopedLive("a second broker on a data directory in use fails with DataDirLocked; the first keeps running", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-lock-" })
      const dataDir = `${root}/b`
      const lockPath = `${dataDir}/${Server.lockFileName}`
      const controller = yield* Server.controller({ clusterId, listen: loopback, offsetsTopicPartitions: 0 })
      const first = yield* brokerOn(dataDir, 1, controller.address)
      expect(yield* fs.readFileString(lockPath)).toBe(`${process.pid}\n`)

      // Through the API: a typed error naming the directory and the holder.
      const second = yield* Effect.flip(brokerOn(dataDir, 2, controller.address))
      expect(second._tag).toBe("DataDirLocked")
      expect(second).toMatchObject({ dataDir, pid: process.pid })
      expect(second.message).toContain(dataDir)
      expect(second.message).toContain(String(process.pid))

      // Through the command line: the same message, and the process would exit 1.
      const cli = yield* Effect.flip(Cli.run([
        "node", "fiberlog", "broker", "--id", "3", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
        "--controller", Server.formatAddress(controller.address)
      ]).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["FIBERLOG_CLUSTER_ID", clusterId]])))))
      expect(cli).toMatchObject({ _tag: "CliError" })
      expect((cli as { message: string }).message).toContain(`data directory ${dataDir} is in use by process ${process.pid}`)

      // Held by another live process (this one's parent): refused, the lock left as it was.
      const otherDir = `${root}/other`
      yield* fs.makeDirectory(otherDir)
      yield* fs.writeFileString(`${otherDir}/${Server.lockFileName}`, `${process.ppid}\n`)
      const other = yield* Effect.flip(brokerOn(otherDir, 4, controller.address))
      expect(other).toMatchObject({ _tag: "DataDirLocked", dataDir: otherDir, pid: process.ppid })
      expect(yield* fs.readFileString(`${otherDir}/${Server.lockFileName}`)).toBe(`${process.ppid}\n`)

      // The first broker still holds its lock and serves.
      expect(yield* fs.readFileString(lockPath)).toBe(`${process.pid}\n`)
      const connection = yield* Server.connect({ clusterId, bootstrap: [["broker-1", first.address]] })
      const client = { node: connection.node, bootstrap: connection.bootstrap }
      const admin = yield* Admin.make(client)
      yield* LocalCluster.waitUntil(admin.describeCluster, (c) => c.brokers.some((b) => b.brokerId === 1 && !b.fenced), {
        timeoutMs: 10_000,
        what: "broker 1 registered"
      })
      yield* admin.createTopic({ name: "t", partitions: 1, replicationFactor: 1 })
      const producer = yield* Producer.make({ ...client, acks: "all" })
      yield* LocalCluster.waitUntil(Effect.either(producer.send({ topic: "t", messages: [{ value: "still here" }] })), (r) => r._tag === "Right", {
        timeoutMs: 10_000,
        what: "a produce to broker 1"
      })
      const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 50 })
      yield* consumer.assign([{ topic: "t", partition: 0 }])
      const records = yield* LocalCluster.waitUntil(consumer.poll(), (rs) => rs.length > 0, { timeoutMs: 10_000, intervalMs: 1 })
      expect(new TextDecoder().decode(records[0]!.value!)).toBe("still here")
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 30_000 })

  it.scopedLive("a stale lock is taken over, and the lock is released when the server stops", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-lock-" })
      const lock = (dir: string) => `${root}/${dir}/${Server.lockFileName}`
      const stale = {
        // Killed with SIGKILL: its pid is gone.
        c: `${deadPid()}\n`,
        // A container restarted as the same pid: this process's pid, but this process does not hold it.
        b1: `${process.pid}\n`,
        // Not a pid at all.
        b2: "garbage"
      }
      for (const [dir, text] of Object.entries(stale)) {
        yield* fs.makeDirectory(`${root}/${dir}`)
        yield* fs.writeFileString(lock(dir), text)
      }

      const scope = yield* Scope.make(ExecutionStrategy.sequential)
      const controller = yield* Scope.extend(
        Server.controller({ clusterId, listen: loopback, dataDir: `${root}/c`, offsetsTopicPartitions: 0 }),
        scope
      )
      yield* Scope.extend(brokerOn(`${root}/b1`, 1, controller.address), scope)
      yield* Scope.extend(brokerOn(`${root}/b2`, 2, controller.address), scope)
      for (const dir of Object.keys(stale)) expect(yield* fs.readFileString(lock(dir))).toBe(`${process.pid}\n`)
      // No temporary file is left beside the lock.
      expect((yield* fs.readDirectory(`${root}/b1`)).filter((name) => name.startsWith(Server.lockFileName))).toEqual([
        Server.lockFileName
      ])

      yield* Scope.close(scope, Exit.void)
      for (const dir of Object.keys(stale)) expect(yield* fs.exists(lock(dir))).toBe(false)

      // Free again: the same directory opens at once.
      yield* brokerOn(`${root}/b1`, 1, controller.address)
      expect(yield* fs.readFileString(lock("b1"))).toBe(`${process.pid}\n`)
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 30_000 })
})
