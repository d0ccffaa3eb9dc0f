/**
 * The server in one process over real loopback TCP: a controller and brokers on `FileLog`s,
 * clients from bootstrap addresses, discovery through the directory, a broker restarted on its
 * data directory keeping its records, and the file log store's layout.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { FileSystem } from "@effect/platform"
import { Admin, Consumer, Producer, Record, RecordBatch } from "@fiberlog/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, ExecutionStrategy, Exit, Logger, LogLevel, Scope } from "effect"
import { FileLogStore, LocalCluster, Server } from "../src/index.js"

const loopback = { host: "127.0.0.1", port: 0 }
const clusterId = "server-test"
const text = new TextDecoder()

describe("Server addresses", () => {
  it("parses host:port and id=host:port lists", () => {
    expect(Server.parseAddress("127.0.0.1:9101")).toEqual(Either.right({ host: "127.0.0.1", port: 9101 }))
    expect(Server.parseAddress("[::1]:9")).toEqual(Either.right({ host: "::1", port: 9 }))
    expect(Either.isLeft(Server.parseAddress("127.0.0.1"))).toBe(true)
    expect(Either.isLeft(Server.parseAddress("h:70000"))).toBe(true)
    expect(Either.isLeft(Server.parseAddress("h:12x"))).toBe(true)
    expect(Server.parsePeers("2=127.0.0.1:9102, controller=h:9100,,")).toEqual(Either.right([
      ["broker-2", { host: "127.0.0.1", port: 9102 }],
      ["controller", { host: "h", port: 9100 }]
    ]))
    expect(Server.parsePeers("")).toEqual(Either.right([]))
    expect(Either.isLeft(Server.parsePeers("127.0.0.1:9102"))).toBe(true)
    expect(Either.isLeft(Server.parsePeers("a b=h:1"))).toBe(true)
    expect(Server.formatAddress({ host: "::1", port: 1 })).toBe("[::1]:1")
  })
})

describe("FileLogStore", () => {
  it.scopedLive("keeps each partition in <dataDir>/<topic>-<partition>, reopens it, and drops it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-store-" })
      const batch = RecordBatch.encode({ records: [Record.make({ value: new TextEncoder().encode("x"), timestamp: 1 })] })
      const scope = yield* Scope.make(ExecutionStrategy.sequential)
      const store = yield* Scope.extend(FileLogStore.make({ dataDir }), scope)
      const log = yield* store.open("t", 1)
      expect(yield* store.open("t", 1)).toBe(log)
      yield* log.append(batch)
      expect(yield* store.opened).toEqual([["t", 1]])
      expect(yield* fs.exists(`${dataDir}/t-1`)).toBe(true)
      yield* Scope.close(scope, Exit.void)

      const again = yield* FileLogStore.make({ dataDir })
      const reopened = yield* again.open("t", 1)
      expect(yield* reopened.logEndOffset).toBe(1)
      yield* again.drop("t", 1)
      expect(yield* fs.exists(`${dataDir}/t-1`)).toBe(false)
      expect(FileLogStore.partitionDir("a.b", 3)).toBe("a.b-3")
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("Server", () => {
  it.scopedLive("controller and brokers over TCP: discovery, produce, consume, restart on the data directory", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dataDir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-server-" })
      const controller = yield* Server.controller({ clusterId, listen: loopback, dataDir: `${dataDir}/c`, offsetsTopicPartitions: 0 })
      const brokerOptions = (brokerId: number) => ({
        clusterId,
        brokerId,
        listen: loopback,
        controller: controller.address,
        dataDir: `${dataDir}/b${brokerId}`,
        heartbeatIntervalMs: 100,
        fetchMaxWaitMs: 50,
        directoryRefreshMs: 100
      })
      yield* Server.broker(brokerOptions(1))
      const scope2 = yield* Scope.make(ExecutionStrategy.sequential)
      yield* Scope.extend(Server.broker(brokerOptions(2)), scope2)

      // A client knows only the controller: it learns the brokers from the directory.
      const connection = yield* Server.connect({ clusterId, bootstrap: [["controller", controller.address]] })
      expect([...connection.bootstrap].sort()).toEqual(["broker-1", "broker-2"])
      const client = { node: connection.node, bootstrap: connection.bootstrap }
      const admin = yield* Admin.make(client)
      yield* LocalCluster.waitUntil(admin.describeCluster, (c) => c.brokers.filter((b) => !b.fenced).length === 2, {
        timeoutMs: 10_000
      })
      yield* admin.createTopic({ name: "t", partitions: 2, replicationFactor: 2 })
      const producer = yield* Producer.make({ ...client, acks: "all" })
      const messages = Array.from({ length: 50 }, (_, i) => ({ value: `v${i}` }))
      const acked = yield* producer.send({ topic: "t", messages })
      expect(acked).toHaveLength(50)

      // Broker 2 stops and starts again on its data directory (on a new port, found through the directory).
      yield* Scope.close(scope2, Exit.void)
      yield* Server.broker(brokerOptions(2))
      yield* LocalCluster.waitUntil(
        admin.metadata,
        (m) => m.topics.find((t) => t.name === "t")!.partitions.every((p) => p.isr.length === 2),
        { timeoutMs: 15_000, what: "broker 2 back in the ISRs" }
      )

      const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 50 })
      yield* consumer.assign([{ topic: "t", partition: 0 }, { topic: "t", partition: 1 }])
      const seen = new Set<string>()
      yield* LocalCluster.waitUntil(
        Effect.map(consumer.poll(), (records) => (records.forEach((r) => seen.add(text.decode(r.value!))), seen.size)),
        (n) => n >= 50,
        { timeoutMs: 10_000, intervalMs: 1 }
      )
      expect([...seen].sort()).toEqual(messages.map((m) => m.value).sort())
      // The restarted broker reopened its logs: its files hold the partitions' records (and the
      // lock it holds on the directory, released when broker 2 stopped and taken again).
      const entries = yield* fs.readDirectory(`${dataDir}/b2`)
      expect(entries.sort()).toEqual([Server.lockFileName, "t-0", "t-1"])
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 40_000 })
})
