import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as Admin from "../../src/client/Admin.js"
import * as Retry from "../../src/client/internal/retry.js"
import * as Sender from "../../src/client/internal/sender.js"
import * as MetadataCache from "../../src/client/MetadataCache.js"
import * as ControllerProtocol from "../../src/cluster/ControllerProtocol.js"
import * as Metadata from "../../src/cluster/Metadata.js"
import * as FakeCluster from "./FakeCluster.js"
import { network, withClock } from "./support.js"

const metadata = new ControllerProtocol.ClusterMetadata({
  version: 1,
  controllerNodeId: "b1",
  brokers: [{ brokerId: 1, nodeId: "b1", fenced: false }, { brokerId: 2, nodeId: "b2", fenced: true }],
  topics: [{
    name: "t",
    config: Schema.decodeSync(Metadata.TopicConfig)({}),
    partitions: [
      { topic: "t", partition: 0, replicas: [1], isr: [1], leader: 1, leaderEpoch: 3, partitionEpoch: 0 },
      { topic: "t", partition: 1, replicas: [2], isr: [], leader: -1, leaderEpoch: 0, partitionEpoch: 0 }
    ]
  }]
})

describe("MetadataCache and client decisions (pure)", () => {
  it("leaderOf: leader node, no leader, unknown partition", () => {
    expect(Either.getOrThrow(MetadataCache.leaderOf(metadata, "t", 0))).toEqual({ brokerId: 1, nodeId: "b1", leaderEpoch: 3 })
    expect(Either.flip(MetadataCache.leaderOf(metadata, "t", 1)).pipe(Either.getOrThrow)._tag).toBe("NotLeader")
    expect(Either.flip(MetadataCache.leaderOf(metadata, "t", 2)).pipe(Either.getOrThrow)._tag).toBe("UnknownTopicOrPartition")
  })

  it("candidates: bootstrap first, then unfenced brokers; staleness by max age", () => {
    expect(MetadataCache.candidates(["b9", "b1"], metadata)).toEqual(["b9", "b1"])
    expect(MetadataCache.candidates(["b9"], metadata)).toEqual(["b9", "b1"])
    expect(MetadataCache.isStale(0, 999, 1_000)).toBe(false)
    expect(MetadataCache.isStale(0, 1_000, 1_000)).toBe(true)
  })

  it("backoff doubles up to the cap", () => {
    const options = { retries: 5, retryBackoffMs: 100, maxRetryBackoffMs: 500 }
    expect([1, 2, 3, 4, 10].map((n) => Retry.backoffMs(options, n))).toEqual([100, 200, 400, 500, 500])
  })

  it("fits: a batch takes whole sends up to batchSize; an empty batch takes any send", () => {
    expect(Sender.fits(60, 1, 40, 100)).toBe(true)
    expect(Sender.fits(60, 1, 41, 100)).toBe(false)
    expect(Sender.fits(0, 0, 200, 100)).toBe(true)
  })

  it("decide: retriable vs final; OutOfOrderSequence retried only behind a pending batch with idempotence", () => {
    const base = { attempt: 1, retries: 3, idempotent: true, earlierPending: false }
    expect(Sender.decide({ _tag: "NotLeader" }, base)).toBe("retry")
    expect(Sender.decide({ _tag: "AskTimeout" }, base)).toBe("retry")
    expect(Sender.decide({ _tag: "NotLeader" }, { ...base, attempt: 4 })).toBe("exhausted")
    expect(Sender.decide({ _tag: "RecordTooLarge" }, base)).toBe("fail")
    expect(Sender.decide({ _tag: "OutOfOrderSequence" }, base)).toBe("fail")
    expect(Sender.decide({ _tag: "OutOfOrderSequence" }, { ...base, earlierPending: true })).toBe("retry")
    expect(Sender.decide({ _tag: "OutOfOrderSequence" }, { ...base, earlierPending: true, idempotent: false })).toBe("fail")
  })
})

describe("MetadataCache and Admin (fake brokers)", () => {
  it.scoped("rotates past a dead bootstrap broker; caches until refreshed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeCluster.make({ brokers: 2, topics: [{ name: "t", partitions: 2 }] })
      const cache = yield* MetadataCache.make({ node: fake.client, bootstrap: ["dead", ...fake.bootstrap] })
      const first = yield* withClock(cache.current)
      expect(first.brokers.map((b) => b.nodeId)).toEqual(["b1", "b2"])
      expect(fake.metadataRequests.count).toBe(1)
      yield* cache.current
      expect(fake.metadataRequests.count).toBe(1)
      yield* Effect.all([cache.refresh, cache.refresh, cache.refresh], { concurrency: "unbounded" })
      expect(fake.metadataRequests.count).toBeLessThanOrEqual(3)
      expect((yield* cache.leader("t", 1)).nodeId).toBe("b2")
    }).pipe(Effect.provide(network)))

  it.scoped("never goes back to older metadata: a broker behind the controller is not believed, and the next refresh asks another", () =>
    Effect.gen(function*() {
      const fake = yield* FakeCluster.make({ brokers: 2, topics: [{ name: "t", partitions: 2 }] })
      const cache = yield* MetadataCache.make({ node: fake.client, bootstrap: ["b2", "b1"] })
      const old = fake.metadata()
      fake.setLeader("t", 0, 2) // version 2: partition 0 moves from broker 1 to broker 2, epoch 1
      expect((yield* withClock(cache.current)).version).toBe(2)
      // Broker 2 falls behind (cut off from the controller, say) and still serves version 1.
      fake.serveMetadata(2, old)
      const refreshed = yield* cache.refresh
      expect(refreshed.version).toBe(2)
      expect(yield* cache.leader("t", 0)).toMatchObject({ nodeId: "b2", leaderEpoch: 1 })
      // The next refresh goes to broker 1, which is up to date.
      fake.setLeader("t", 0, 1) // version 3
      expect((yield* cache.refresh).version).toBe(3)
      expect(yield* cache.leader("t", 0)).toMatchObject({ nodeId: "b1", leaderEpoch: 2 })
      expect(fake.metadataRequests.count).toBe(3)
    }).pipe(Effect.provide(network)))

  it.scoped("no broker at all: BrokerNotAvailable after the retries, on the TestClock", () =>
    Effect.gen(function*() {
      const fake = yield* FakeCluster.make({ brokers: 1, topics: [] })
      const cache = yield* MetadataCache.make({ node: fake.client, bootstrap: ["gone"], retries: 2 })
      const error = yield* Effect.flip(withClock(cache.current, 100))
      expect(error._tag).toBe("BrokerNotAvailable")
      expect(error.attempts).toBe(3)
    }).pipe(Effect.provide(network)))

  it.scoped("admin: describeCluster, listOffsets; createTopic surfaces the controller's error after retries", () =>
    Effect.gen(function*() {
      const fake = yield* FakeCluster.make({ brokers: 2, topics: [{ name: "t", partitions: 2 }] })
      const admin = yield* Admin.make({ node: fake.client, bootstrap: fake.bootstrap, retries: 1 })
      expect((yield* admin.describeCluster).brokers).toHaveLength(2)
      expect(yield* admin.listOffsets("t")).toEqual([
        { partition: 0, earliest: 0, latest: 0 },
        { partition: 1, earliest: 0, latest: 0 }
      ])
      const error = yield* Effect.flip(withClock(admin.createTopic({ name: "u", partitions: 1, replicationFactor: 1 }), 100))
      expect(error._tag).toBe("ControllerNotAvailable")
    }).pipe(Effect.provide(network)))
})
