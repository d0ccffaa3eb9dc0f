/**
 * Consumer groups:
 *   stable-after-join  — 10 members join a group over a 30-partition topic: virtual time (TestClock)
 *                        and CPU time until every member holds its share in one generation
 *   stable-after-crash — one member then dies without leaving: the same, until the 9 left hold all 30
 *   group-throughput   — records/s read through a group of 3 on a 3-partition topic with RF 3
 *                        (real clock, 100-byte records), counted from the first record to the last
 * One JSON line per figure.
 *
 *   npm run bench:groups    (BENCH_RECORDS=100000 by default)
 */
import { Admin, ControllerProtocol, EmbeddedCluster, GroupConsumer, InProcess, Producer } from "@fiberlog/core"
import { Clock, Effect, Exit, Scope, TestClock, TestContext } from "effect"

const N = Number(process.env.BENCH_RECORDS ?? 100_000)
const members = 10
const partitions = 30

const advance = (ms: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += 100) {
      yield* TestClock.adjust(100)
      yield* Effect.yieldNow()
    }
  })

/** Advances virtual time until `done`; returns virtual and CPU ms. */
const until = (done: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    const v0 = yield* Clock.currentTimeMillis
    const c0 = performance.now()
    while (!(yield* done)) yield* advance(100)
    return { virtualMs: (yield* Clock.currentTimeMillis) - v0, cpuMs: Math.round(performance.now() - c0) }
  })

const stability = Effect.gen(function*() {
  const cluster = yield* EmbeddedCluster.make({ brokers: 3, offsetsTopicPartitions: 3, groupConfig: { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1_000 } })
  const node = yield* cluster.clientNode("bench-groups")
  yield* advance(1_000)
  yield* Effect.fork(cluster.controllerRef(node).ask(new ControllerProtocol.CreateTopic({ name: "t", partitions, replicationFactor: 1 })))
  yield* advance(1_000)
  const scopes = yield* Effect.forEach(Array.from({ length: members }), () => Scope.make())
  const consumers = yield* Effect.forEach(scopes, (scope, i) =>
    Scope.extend(GroupConsumer.make({
      node,
      bootstrap: cluster.bootstrap,
      groupId: "bench",
      sessionTimeoutMs: 3_000,
      rebalanceTimeoutMs: 5_000,
      heartbeatIntervalMs: 500,
      leaveOnClose: i !== 0
    }), scope))
  const stable = (alive: ReadonlyArray<GroupConsumer.GroupConsumer>) =>
    Effect.gen(function*() {
      const infos = yield* Effect.forEach(alive, (c) => c.membership)
      const owned = infos.flatMap((i) => i.assignment.map((tp) => tp.partition))
      return new Set(infos.map((i) => i.generationId)).size === 1 && owned.length === partitions &&
        new Set(owned).size === partitions
    })
  yield* Effect.forEach(consumers, (c) => c.subscribe(["t"]))
  const join = yield* until(stable(consumers))
  yield* Effect.sync(() => console.log(JSON.stringify({ figure: "stable-after-join", members, partitions, ...join })))
  yield* Scope.close(scopes[0]!, Exit.void) // no LeaveGroup: found by the session timeout (3 000 ms)
  const crash = yield* until(stable(consumers.slice(1)))
  yield* Effect.sync(() => console.log(JSON.stringify({ figure: "stable-after-crash", members: members - 1, partitions, sessionTimeoutMs: 3_000, ...crash })))
  // Keep virtual time moving while the scope's finalizers (commits, leaves) run.
  yield* Effect.forkDaemon(Effect.forever(advance(100)))
}).pipe(Effect.scoped, Effect.provide(InProcess.layer()), Effect.provide(TestContext.TestContext))

const throughput = Effect.gen(function*() {
  const cluster = yield* EmbeddedCluster.make({ brokers: 3, offsetsTopicPartitions: 3, fetchMaxWaitMs: 100, groupConfig: { initialRebalanceDelayMs: 0 } })
  const node = yield* cluster.clientNode("bench-throughput")
  const connection = { node, bootstrap: cluster.bootstrap }
  const admin = yield* Admin.make(connection)
  while ((yield* admin.describeCluster).brokers.filter((b) => !b.fenced).length < 3) yield* Effect.sleep("20 millis")
  yield* admin.createTopic({ name: "tp", partitions: 3, replicationFactor: 3, config: { minInsyncReplicas: 2 } })
  const producer = yield* Producer.make({ ...connection, acks: "all", batchSize: 256 * 1024, lingerMs: 1 })
  const value = new Uint8Array(100)
  for (let i = 0; i < N; i += 1_000) {
    yield* producer.send({ topic: "tp", messages: Array.from({ length: 1_000 }, () => ({ value })) })
  }
  let seen = 0
  let firstMs = 0
  const done = yield* Effect.makeLatch(false)
  for (let i = 0; i < 3; i++) {
    const c = yield* GroupConsumer.make({ ...connection, groupId: "bench-tp", autoOffsetReset: "earliest", maxWaitMs: 50, maxBytes: 4 << 20 })
    yield* c.subscribe(["tp"])
    yield* Effect.forkScoped(c.run({
      eachBatch: (batch) =>
        Effect.gen(function*() {
          if (seen === 0) firstMs = performance.now()
          seen += batch.messages.length
          if (seen >= N) yield* done.open
        })
    }))
  }
  yield* done.await
  const seconds = (performance.now() - firstMs) / 1000
  yield* Effect.sync(() => console.log(JSON.stringify({ figure: "group-throughput", members: 3, replicationFactor: 3, records: N, recordsPerSec: Math.round(N / seconds) })))
}).pipe(Effect.scoped, Effect.provide(InProcess.layer()))

// The virtual-time driver left running for the finalizers keeps the process alive: exit when done.
Effect.runPromise(Effect.zipRight(throughput, stability)).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
