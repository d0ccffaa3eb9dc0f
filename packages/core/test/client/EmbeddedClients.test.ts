import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Admin from "../../src/client/Admin.js"
import * as Consumer from "../../src/client/Consumer.js"
import * as Partitioner from "../../src/client/Partitioner.js"
import * as Producer from "../../src/client/Producer.js"
import * as EmbeddedCluster from "../../src/server/EmbeddedCluster.js"
import * as InProcess from "../../src/transport/InProcess.js"
import { network, text, withClock } from "./support.js"

const settle = (ms: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += 100) {
      yield* TestClock.adjust(100)
      yield* Effect.yieldNow()
    }
  })

describe("clients on the EmbeddedCluster", () => {
  it.scoped("admin creates a topic; idempotent acks=all producer; consumer reads everything back in order", () =>
    Effect.gen(function*() {
      const cluster = yield* EmbeddedCluster.make({ brokers: 3 })
      const node = yield* cluster.clientNode("client-1")
      yield* settle(500)
      const bootstrap = cluster.bootstrap
      const admin = yield* Admin.make({ node, bootstrap })
      const topic = yield* withClock(
        admin.createTopic({ name: "orders", partitions: 3, replicationFactor: 3, config: { minInsyncReplicas: 2 } }),
        100
      )
      expect(topic.partitions).toHaveLength(3)
      yield* settle(500)
      const producer = yield* withClock(Producer.make({ node, bootstrap, lingerMs: 5 }), 100)
      expect(producer.identity).toBeDefined()
      const keyed = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `keyed-${i}` }))
      const keyless = Array.from({ length: 30 }, (_, i) => ({ value: `free-${i}` }))
      const sent = yield* withClock(producer.send({ topic: "orders", messages: [...keyed, ...keyless] }), 20)
      const utf8 = new TextEncoder()
      for (let i = 0; i < keyed.length; i++) {
        expect(sent[i]!.partition).toBe(Partitioner.partitionForKey(utf8.encode(keyed[i]!.key), 3))
      }
      const consumer = yield* Consumer.make({ node, bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([0, 1, 2].map((partition) => ({ topic: "orders", partition })))
      const got = new Map<number, Array<string>>()
      for (let polls = 0; polls < 50 && [...got.values()].flat().length < 60; polls++) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 200 }), 50)) {
          got.set(r.partition, [...(got.get(r.partition) ?? []), `${r.offset}:${text(r.value)}`])
        }
      }
      for (const partition of [0, 1, 2]) {
        const expected = sent
          .map((m, i) => ({ m, i }))
          .filter(({ m }) => m.partition === partition)
          .map(({ i, m }) => `${m.offset}:${i < 30 ? keyed[i]!.value : keyless[i - 30]!.value}`)
        expect(got.get(partition) ?? []).toEqual(expected)
      }
      const offsets = yield* withClock(admin.listOffsets("orders"), 50)
      expect(offsets.reduce((n, o) => n + o.latest - o.earliest, 0)).toBe(60)
    }).pipe(Effect.provide(network)))

  it.scoped("in process without serialisation (batches handed over as arrays): concurrent lingering sends, acks=all, read back in order", () =>
    Effect.gen(function*() {
      const cluster = yield* EmbeddedCluster.make({ brokers: 3, fetchMaxWaitMs: 100 })
      const node = yield* cluster.clientNode("client-1")
      yield* settle(500)
      const bootstrap = cluster.bootstrap
      const admin = yield* Admin.make({ node, bootstrap })
      yield* withClock(admin.createTopic({ name: "t", partitions: 3, replicationFactor: 3, config: { minInsyncReplicas: 2 } }), 100)
      yield* settle(500)
      // Small batches and few permits, so sends queue, fill batches, split and go out while others wait.
      const producer = yield* withClock(Producer.make({ node, bootstrap, lingerMs: 5, batchSize: 2_000, maxInFlight: 2 }), 100)
      const sends = Array.from({ length: 20 }, (_, s) => Array.from({ length: 25 }, (_, i) => ({ value: `s${s}-${i}` })))
      const sent = yield* withClock(Effect.forEach(sends, (messages) => producer.send({ topic: "t", messages }), { concurrency: 8 }), 5)
      const consumer = yield* Consumer.make({ node, bootstrap, autoOffsetReset: "earliest" })
      yield* consumer.assign([0, 1, 2].map((partition) => ({ topic: "t", partition })))
      const got = new Map<number, Array<string>>()
      for (let polls = 0; polls < 100 && [...got.values()].flat().length < 500; polls++) {
        for (const r of yield* withClock(consumer.poll({ maxWaitMs: 200 }), 50)) {
          got.set(r.partition, [...(got.get(r.partition) ?? []), `${r.offset}:${text(r.value)}`])
        }
      }
      for (const partition of [0, 1, 2]) {
        const expected = sent
          .flatMap((metas, s) => metas.map((m, i) => ({ m, value: sends[s]![i]!.value })))
          .filter(({ m }) => m.partition === partition)
          .sort((a, b) => a.m.offset - b.m.offset)
          .map(({ m, value }) => `${m.offset}:${value}`)
        expect(expected.map((e) => Number(e.split(":")[0]))).toEqual(expected.map((_, i) => i)) // contiguous, no duplicates
        expect(got.get(partition) ?? []).toEqual(expected)
      }
      for (const partition of [0, 1, 2]) {
        const logs = yield* Effect.forEach(cluster.brokerIds, (id) => cluster.readLog(id, "t", partition))
        expect(new Set(logs.map((batches) => batches.length)).size).toBe(1)
      }
    }).pipe(Effect.provide(InProcess.layer())))
})
