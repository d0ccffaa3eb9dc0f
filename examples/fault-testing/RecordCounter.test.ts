/**
 * Testing your own service with the testkit: run it on a simulated cluster, write to it with a
 * workload, break the cluster with a nemesis schedule, heal, and check what the service saw
 * against what the cluster acknowledged. A seed replays the whole run.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { History, Nemesis, TestCluster, Workload } from "@fiberlog/testkit"
import * as RecordCounter from "./RecordCounter.js"

const workload: Workload.Spec = {
  topic: "events",
  partitions: 1,
  replicationFactor: 3,
  config: { minInsyncReplicas: 2 },
  producers: [{ name: "writer", acks: -1, idempotent: true, intervalMs: 100 }],
  consumers: 0
}

const faults: Nemesis.Schedule = [
  { atMs: 2_000, durationMs: 4_000, fault: { _tag: "crash-leader", partition: 0, loseUnflushed: false } },
  { atMs: 7_000, durationMs: 3_000, fault: { _tag: "split", broker: 2 } }
]

describe("RecordCounter under faults", () => {
  it.effect("counts every acknowledged record once, after a leader crash and a partition", () =>
    TestCluster.run({ brokers: 3, seed: 42, sessionTimeoutMs: 3_000, replicaLagTimeMs: 2_000 }, (cluster) =>
      Effect.gen(function*() {
        const history = yield* History.make()
        yield* cluster.advance(1_000)
        const running = yield* Effect.orDie(Workload.start(cluster, history, workload))
        const node = yield* cluster.clientNode("my-service")
        const counter = yield* RecordCounter.start(node, cluster.embedded.controller, "events", 0)
        yield* Nemesis.run(cluster, faults, { topic: "events" })
        yield* cluster.advance(2_000)
        yield* running.stopProducers
        yield* Nemesis.healAll(cluster)
        yield* cluster.advance(5_000)
        const acked = (yield* history.ops).filter((op) => op.f === "send" && op.type === "ok")
        const [log] = yield* cluster.finalLogs("events")
        expect(acked.length).toBeGreaterThan(20)
        expect(yield* counter.count).toBe(new Set(log!.records.map((r) => r.value)).size)
        expect(yield* counter.count).toBeGreaterThanOrEqual(acked.length)
      })))
})
