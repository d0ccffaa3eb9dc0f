import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Random } from "effect"
import { ControllerProtocol, ReplicaProtocol } from "@fiberlog/core"
import { History, Nemesis, Property, TestCluster, Workload } from "../src/index.js"
import { NetworkConformance } from "../src/vitest.js"
import * as fixtures from "./fixtures.js"

const quick: Property.Options = { ...fixtures.safe(1), durationMs: 8_000, settleMs: 6_000 }
const someFaults = [
  { atMs: 1_000, durationMs: 3_000, fault: { _tag: "crash-leader", partition: 0, loseUnflushed: false } },
  { atMs: 2_000, durationMs: 2_000, fault: { _tag: "split", broker: 2 } },
  { atMs: 5_000, durationMs: 1_000, fault: { _tag: "pause", broker: 3 } }
] as const

describe("TestCluster", () => {
  it.effect("simulate: virtual time jumps from timer to timer, Random is seeded", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.sleep("1 hour"))
        yield* Effect.sleep("2 hours")
        yield* Fiber.join(fiber)
        return [yield* Clock.currentTimeMillis, yield* Random.next] as const
      })
      const [a, b] = [yield* TestCluster.simulate(program, { seed: 1 }), yield* TestCluster.simulate(program, { seed: 1 })]
      expect(a[0]).toBe(2 * 3_600_000)
      expect(a).toEqual(b)
      expect((yield* TestCluster.simulate(program, { seed: 2 }))[1]).not.toBe(a[1])
    }))

  it.effect("simulations run back to back still give the host event loop a turn", () =>
    Effect.gen(function*() {
      // A property runs short simulations one after another, each begun and ended in microtasks:
      // the host (a test runner's RPC, I/O) must still get turns, or it times out.
      let hostRan = false
      setImmediate(() => {
        hostRan = true
      })
      const short = Effect.forEach(Array.from({ length: 1_000 }, (_, i) => i), () => Effect.yieldNow(), { discard: true })
      for (let seed = 0; seed < 60; seed++) yield* TestCluster.simulate(short, { seed })
      expect(hostRan).toBe(true)
    }))

  it.effect("a cluster elects leaders, a workload produces and consumes, and liveness holds", () =>
    TestCluster.run({ ...fixtures.cluster, seed: 3 }, (cluster) =>
      Effect.gen(function*() {
        const recorder = yield* History.make()
        yield* cluster.advance(1_000)
        const running = yield* Effect.orDie(Workload.start(cluster, recorder, quick.workload))
        yield* cluster.advance(5_000)
        yield* running.stopProducers
        yield* cluster.advance(2_000)
        expect(yield* Workload.liveness(cluster, running.client, "jepsen")).toEqual([])
        yield* running.drain
        const ops = yield* recorder.ops
        const acked = ops.filter((op) => op.f === "send" && op.type === "ok")
        expect(acked.length).toBeGreaterThan(30)
        const polled = new Set(ops.filter((op) => op.f === "poll").flatMap((op) => op.records!.map((r) => r.value)))
        for (const op of acked) expect(polled.has(op.value!)).toBe(true)
        const logs = yield* cluster.finalLogs("jepsen")
        expect(logs).toHaveLength(6)
      })))

  it.effect("pause holds a broker's traffic until resume; crash and restart keep its log", () =>
    TestCluster.run({ ...fixtures.cluster, seed: 4 }, (cluster) =>
      Effect.gen(function*() {
        yield* cluster.advance(1_000)
        yield* Effect.orDie(cluster.createTopic("t", { partitions: 1, replicationFactor: 3 }))
        yield* cluster.pause(2)
        yield* cluster.advance(5_000) // longer than the session timeout: the controller fences it
        const fenced = yield* cluster.metadata
        expect(fenced?.brokers.find((b) => b.brokerId === 2)?.fenced).toBe(true)
        yield* cluster.resume(2)
        yield* cluster.advance(5_000)
        expect((yield* cluster.metadata)?.brokers.every((b) => !b.fenced)).toBe(true)
        yield* cluster.crash(1)
        expect(cluster.isRunning(1)).toBe(false)
        yield* cluster.restart(1)
        yield* cluster.advance(5_000)
        const t = (yield* cluster.metadata)?.topics.find((x) => x.name === "t")
        expect([...t!.partitions[0]!.isr].sort()).toEqual([1, 2, 3])
      })))

  it.effect("the slow fault delays every message to and from its broker, in order, until it ends", () =>
    TestCluster.run({ ...fixtures.cluster, seed: 6, linkDelayMs: [0, 0] }, (cluster) =>
      Effect.gen(function*() {
        yield* cluster.advance(1_000)
        const client = yield* cluster.clientNode("app")
        const controller = cluster.embedded.controllerRef(client)
        /** Virtual ms an ask to the controller takes. */
        const roundTrip = Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          yield* Effect.orDie(controller.ask(new ControllerProtocol.GetMetadata(), { timeoutMs: 60_000 }))
          return (yield* Clock.currentTimeMillis) - start
        })
        expect(yield* roundTrip).toBe(0)
        const nemesis = yield* Effect.fork(Nemesis.run(cluster, [
          { atMs: 0, durationMs: 10_000, fault: { _tag: "slow", broker: 2, delayMs: 1_000 } },
          { atMs: 2_000, durationMs: 4_000, fault: { _tag: "isolate", broker: 3 } }
        ], { topic: "t" }))
        yield* cluster.advance(100)
        expect(yield* roundTrip).toBe(0) // the controller is not slowed
        /** Virtual ms an ask from `from` to broker 2 takes (to a replica it does not have: the refusal comes back as a reply would). */
        const viaBroker2From = (from: typeof client) =>
          Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            const refused = yield* Effect.flip(TestCluster.replicaRef(from, 2, "none", 0).ask(new ReplicaProtocol.Describe(), { timeoutMs: 60_000 }))
            expect(refused._tag).toBe("ActorUnavailable")
            return (yield* Clock.currentTimeMillis) - start
          })
        const viaBroker2 = viaBroker2From(client)
        const during = yield* viaBroker2
        expect(during).toBeGreaterThanOrEqual(1_000) // 500-1000 ms each way
        expect(during).toBeLessThanOrEqual(2_000)
        // A client that joins meanwhile is slowed too.
        expect(yield* viaBroker2From(yield* cluster.clientNode("late"))).toBeGreaterThanOrEqual(1_000)
        // Ending the isolation (another fault) heals and re-applies the slow links.
        yield* cluster.advance(6_000)
        const after = yield* viaBroker2
        expect(after).toBeGreaterThanOrEqual(1_000)
        yield* Fiber.join(nemesis)
        expect(yield* viaBroker2).toBe(0)
      })))

  it.effect("an actor failure on any node of the cluster is recorded with its time and cause; a crash is not one", () =>
    TestCluster.run({ ...fixtures.cluster, seed: 5 }, (cluster) =>
      Effect.gen(function*() {
        yield* cluster.advance(1_000)
        yield* Effect.orDie(cluster.createTopic("t", { partitions: 1, replicationFactor: 3 }))
        yield* cluster.crash(1) // interrupts broker 1's actors: not a failure
        yield* cluster.advance(1_000)
        yield* cluster.restart(1)
        yield* cluster.advance(3_000)
        expect(yield* cluster.actorFailures).toEqual([])
        const app = yield* cluster.clientNode("app")
        const faulty = yield* Effect.orDie(app.spawn("faulty", NetworkConformance.counter({})))
        const at = yield* Clock.currentTimeMillis
        yield* faulty.tell(new NetworkConformance.Crash())
        yield* cluster.advance(1_000)
        yield* faulty.tell(new NetworkConformance.Crash()) // restarted by its supervisor, it fails again
        yield* cluster.advance(1_000)
        const failures = yield* cluster.actorFailures
        expect(failures.map((f) => [f._tag, f.address, f.atMs])).toEqual([
          ["actor-failed", "app/faulty", at],
          ["actor-failed", "app/faulty", at + 1_000]
        ])
        expect(failures[0]!.cause).toContain("boom")
        expect(yield* cluster.actorFailureCount).toBe(2)
      })))
})

describe("determinism", () => {
  it.effect("one seed twice gives byte-identical histories and logs; another seed a different history", () =>
    Effect.gen(function*() {
      const c = { seed: 11, schedule: someFaults }
      const first = yield* Property.runCase(quick, c)
      const second = yield* Property.runCase(quick, c)
      const other = yield* Property.runCase(quick, { ...c, seed: 12 })
      expect(first.history.length).toBeGreaterThan(50)
      expect(second.historyJson).toBe(first.historyJson)
      expect(JSON.stringify(second.logs)).toBe(JSON.stringify(first.logs))
      expect(other.historyJson).not.toBe(first.historyJson)
      expect(first.nemesis.map((e) => e.action)).toEqual(["start", "start", "end", "end", "start", "end"])
    }), 60_000)

  it.effect("serialising messages changes nothing but the cost: the same seed gives the same history", () =>
    Effect.gen(function*() {
      const c = { seed: 13, schedule: someFaults }
      const serialized = yield* Property.runCase({ ...quick, cluster: { ...quick.cluster, serialize: true } }, c)
      const plain = yield* Property.runCase({ ...quick, cluster: { ...quick.cluster, serialize: false } }, c)
      expect(serialized.history.length).toBeGreaterThan(50)
      expect(plain.historyJson).toBe(serialized.historyJson)
      expect(JSON.stringify(plain.logs)).toBe(JSON.stringify(serialized.logs))
    }), 60_000)

  it("serializeOneIn picks cases by seed (so replays and shrinks agree); cluster.serialize overrides", () => {
    const cases = Array.from({ length: 12 }, (_, seed) => ({ seed, schedule: [] }))
    expect(cases.filter((c) => Property.serializes({}, c)).map((c) => c.seed)).toEqual([0, 4, 8])
    expect(cases.every((c) => Property.serializes({ serializeOneIn: 1 }, c))).toBe(true)
    expect(cases.some((c) => Property.serializes({ cluster: { serialize: false }, serializeOneIn: 1 }, c))).toBe(false)
    expect(cases.every((c) => Property.serializes({ cluster: { serialize: true } }, c))).toBe(true)
  })
})
