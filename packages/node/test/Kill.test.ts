/**
 * Must-show: a broker process killed with SIGKILL during produce with acks=all, RF=3, minISR 2
 * loses no acknowledged record. Three broker processes and a controller on loopback; the producer
 * keeps sending through the kill; then every partition is read from the start and every
 * acknowledged record must be there, at the offset it was acknowledged at.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Admin, Consumer, Producer } from "@fiberlog/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, LogLevel, Ref } from "effect"
import { LocalCluster, Server } from "../src/index.js"

const topic = "orders"
const partitions = 3
const text = new TextDecoder()

describe("Kill", () => {
  it.scopedLive("SIGKILL of a broker during acks=all produce loses no acknowledged record", () =>
    Effect.gen(function*() {
      const cluster = yield* LocalCluster.make({
        brokers: 3,
        sessionTimeoutMs: 1_500,
        heartbeatIntervalMs: 250,
        replicaLagTimeMs: 1_500,
        fetchMaxWaitMs: 100
      })
      const connection = yield* Server.connect({ clusterId: cluster.clusterId, bootstrap: cluster.bootstrap })
      const client = { node: connection.node, bootstrap: connection.bootstrap }
      const admin = yield* Admin.make(client)
      yield* LocalCluster.waitUntil(admin.describeCluster, (c) => c.brokers.filter((b) => !b.fenced).length === 3, {
        timeoutMs: 60_000,
        what: "3 brokers registered"
      })
      yield* admin.createTopic({ name: topic, partitions, replicationFactor: 3, config: { minInsyncReplicas: 2 } })
      yield* LocalCluster.waitUntil(
        admin.metadata,
        (m) => m.topics.find((t) => t.name === topic)?.partitions.every((p) => p.isr.length === 3) ?? false,
        { timeoutMs: 45_000, what: "full ISRs" }
      )

      const producer = yield* Producer.make({ ...client, acks: "all", lingerMs: 2, retries: 40, maxRetryBackoffMs: 500 })
      const acked = yield* Ref.make<ReadonlyArray<{ partition: number; offset: number; value: string }>>([])
      const failed = yield* Ref.make(0)
      const halfway = yield* Deferred.make<void>()
      const target = 600
      const produce = Effect.gen(function*() {
        for (let batch = 0; batch < target / 20; batch++) {
          const messages = Array.from({ length: 20 }, (_, i) => ({ value: `v-${batch}-${i}` }))
          const result = yield* Effect.either(producer.send({ topic, messages }))
          if (result._tag === "Left") yield* Ref.update(failed, (n) => n + 1)
          else {
            yield* Ref.update(acked, (all) => [
              ...all,
              ...result.right.map((r, i) => ({ partition: r.partition, offset: r.offset, value: messages[i]!.value }))
            ])
          }
          if (batch === 10) yield* Deferred.succeed(halfway, undefined)
        }
      })
      const producing = yield* Effect.fork(produce)

      // Kill the leader of partition 0 while the producer is mid-stream.
      yield* Deferred.await(halfway)
      const leader = (yield* admin.metadata).topics.find((t) => t.name === topic)!.partitions[0]!.leader
      yield* cluster.kill(leader)
      yield* Fiber.join(producing)
      const ackedRecords = yield* Ref.get(acked)
      expect(ackedRecords.length).toBeGreaterThan(200)

      // A new leader for every partition, from the survivors.
      const after = yield* LocalCluster.waitUntil(
        admin.metadata,
        (m) => m.topics.find((t) => t.name === topic)!.partitions.every((p) => p.leader >= 0 && p.leader !== leader),
        { timeoutMs: 45_000, what: "leaders on the surviving brokers" }
      )
      expect(after.topics.find((t) => t.name === topic)!.partitions.every((p) => p.leaderEpoch >= 0)).toBe(true)

      // Read everything back and check every acknowledged record is where it was acknowledged.
      const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 100 })
      yield* consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })))
      const seen = new Map<string, string>()
      const expected = new Map(ackedRecords.map((r) => [`${r.partition}:${r.offset}`, r.value]))
      yield* LocalCluster.waitUntil(
        Effect.map(consumer.poll(), (records) => {
          for (const r of records) seen.set(`${r.partition}:${r.offset}`, text.decode(r.value!))
          return [...expected.keys()].every((k) => seen.has(k))
        }),
        (done) => done,
        { timeoutMs: 45_000, intervalMs: 1, what: "every acknowledged record consumed" }
      )
      const lost = [...expected].filter(([k, v]) => seen.get(k) !== v)
      expect(lost).toEqual([])
      // Idempotence: no value appears twice in the log.
      const values = [...seen.values()]
      expect(new Set(values).size).toBe(values.length)
    }).pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 240_000 })
})
