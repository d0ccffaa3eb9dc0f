import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { EmbeddedCluster } from "../../src/index.js"
import { advance, consumeAll, createTopic, leaderOf, network, produce } from "./harness.js"

describe("EmbeddedCluster", () => {
  it.scoped("creates a topic with leaders on live brokers, produces with acks=all and consumes in order", () =>
    Effect.gen(function*() {
      const cluster = yield* EmbeddedCluster.make({ brokers: 3 })
      const client = yield* cluster.clientNode("client-1")
      yield* advance(500)
      const topic = yield* createTopic(cluster, client, "orders", 3, 3, { minInsyncReplicas: 2 })
      expect(topic.partitions).toHaveLength(3)
      for (const p of topic.partitions) {
        expect(p.replicas).toHaveLength(3)
        expect(new Set(p.replicas).size).toBe(3)
        expect(p.isr).toEqual(p.replicas)
      }
      const fiber = yield* Effect.fork(produce(cluster, client, "orders", 0, ["a", "b", "c"]))
      yield* advance(1_000)
      const result = yield* Fiber.join(fiber)
      expect(result.baseOffset).toBe(0)
      expect(result.lastOffset).toBe(2)
      const second = yield* Effect.fork(produce(cluster, client, "orders", 0, ["d"]))
      yield* advance(1_000)
      expect((yield* Fiber.join(second)).baseOffset).toBe(3)
      expect(yield* consumeAll(cluster, client, "orders", 0)).toEqual(["a", "b", "c", "d"])
      const leader = (yield* leaderOf(cluster, "orders", 0)).leader
      for (const id of cluster.brokerIds) {
        const d = yield* cluster.describeReplica(id, "orders", 0)
        expect(d.logEndOffset).toBe(4)
        expect(d.role).toBe(id === leader ? "leader" : "follower")
      }
    }).pipe(Effect.provide(network)))

  it.scoped("metadataChanges: the current metadata, then every commit in order, a leader change included", () =>
    Effect.gen(function*() {
      const cluster = yield* EmbeddedCluster.make({ brokers: 3, sessionTimeoutMs: 3_000 })
      const client = yield* cluster.clientNode("client-1")
      const seen: Array<{ version: number; leader: number | undefined; epoch: number | undefined }> = []
      yield* Effect.forkScoped(Stream.runForEach(cluster.metadataChanges, (m) =>
        Effect.sync(() => {
          const p = m.topics.find((t) => t.name === "watched")?.partitions[0]
          seen.push({ version: m.version, leader: p?.leader, epoch: p?.leaderEpoch })
        })))
      yield* advance(500)
      yield* createTopic(cluster, client, "watched", 1, 3)
      const first = yield* leaderOf(cluster, "watched", 0)
      yield* cluster.crash(first.leader)
      yield* advance(6_000) // past the session timeout: fenced, a new leader from the ISR
      const now = yield* cluster.metadata
      const after = now.topics.find((t) => t.name === "watched")!.partitions[0]!
      expect(after.leader).not.toBe(first.leader)
      // in order, nothing repeated, ending where the controller is
      const versions = seen.map((s) => s.version)
      expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b))
      expect(versions[versions.length - 1]).toBe(now.version)
      // both leaders were seen, each with its epoch
      expect(seen).toContainEqual(expect.objectContaining({ leader: first.leader, epoch: first.leaderEpoch }))
      expect(seen).toContainEqual(expect.objectContaining({ leader: after.leader, epoch: after.leaderEpoch }))
    }).pipe(Effect.provide(network)))
})
