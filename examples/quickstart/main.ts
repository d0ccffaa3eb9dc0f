/**
 * fiberlog quickstart — `npm start`.
 *
 * An embedded 3-broker cluster in this process: create a topic (3 partitions, RF 3, minISR 2),
 * produce keyed and keyless records with acks=all, consume them, crash the leader of a partition,
 * watch a new leader come from the ISR, check that no acknowledged record was lost, then bring the
 * old broker back and watch it rejoin the ISR.
 */
import { Admin, Consumer, EmbeddedCluster, InProcess, Producer } from "@fiberlog/core"
import { Console, Effect } from "effect"

const topic = "orders"
const text = new TextDecoder()

/** Polls `effect` every 50 ms until `done` holds, and returns that value. */
const waitFor = <A, E>(effect: Effect.Effect<A, E>, done: (a: A) => boolean) =>
  Effect.gen(function*() {
    while (true) {
      const value = yield* effect
      if (done(value)) return value
      yield* Effect.sleep("50 millis")
    }
  })

const program = Effect.gen(function*() {
  yield* Console.log("fiberlog quickstart: an embedded cluster of 3 brokers, in this process\n")
  const cluster = yield* EmbeddedCluster.make({
    brokers: 3,
    sessionTimeoutMs: 2_000,
    heartbeatIntervalMs: 400,
    replicaLagTimeMs: 2_000,
    fetchMaxWaitMs: 100
  })
  const node = yield* cluster.clientNode("quickstart")
  const connection = { node, bootstrap: cluster.bootstrap }
  const admin = yield* Admin.make(connection)

  // Brokers register with the controller as they start: wait for all three.
  yield* waitFor(admin.describeCluster, (c) => c.brokers.filter((b) => !b.fenced).length === 3)
  const created = yield* admin.createTopic({ name: topic, partitions: 3, replicationFactor: 3, config: { minInsyncReplicas: 2 } })
  yield* Console.log(`created topic "${topic}": 3 partitions, replication factor 3, minISR 2`)
  for (const p of created.partitions) {
    yield* Console.log(`  partition ${p.partition}: replicas [${p.replicas}] leader broker-${p.leader} ISR [${p.isr}]`)
  }

  const producer = yield* Producer.make({ ...connection, acks: "all", lingerMs: 5 })
  const acked: Array<string> = []
  const send = (messages: ReadonlyArray<{ key?: string; value: string }>) =>
    Effect.gen(function*() {
      const results = yield* producer.send({ topic, messages })
      results.forEach((r, i) => acked.push(`${r.partition}:${r.offset}:${messages[i]!.value}`))
      return results
    })

  yield* Console.log("\nproducing with acks=all (keyed records go to murmur2(key) % 3, keyless ones round-robin):")
  const keyed = ["alice", "bob", "carol", "alice", "bob", "alice"].map((key, i) => ({ key, value: `order-${i} for ${key}` }))
  for (const [i, r] of (yield* send(keyed)).entries()) {
    yield* Console.log(`  key ${keyed[i]!.key!.padEnd(5)} -> partition ${r.partition} offset ${r.offset}`)
  }
  const keyless = Array.from({ length: 6 }, (_, i) => ({ value: `event-${i}` }))
  const placed = yield* send(keyless)
  yield* Console.log(`  6 keyless records -> partitions ${placed.map((r) => r.partition).join(", ")}`)

  const consumer = yield* Consumer.make({ ...connection, autoOffsetReset: "earliest", maxWaitMs: 200 })
  const partitions = [0, 1, 2].map((partition) => ({ topic, partition }))
  yield* consumer.assign(partitions)
  const consumeAll = (expected: number) =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      for (const tp of partitions) yield* consumer.seek(tp, "earliest")
      while (seen.length < expected) {
        for (const r of yield* consumer.poll()) seen.push(`${r.partition}:${r.offset}:${text.decode(r.value!)}`)
      }
      return seen
    }).pipe(Effect.timeout("10 seconds"))
  const firstRead = yield* consumeAll(acked.length)
  yield* Console.log(`\nconsumed ${firstRead.length} records; in order within each partition:`)
  for (const tp of partitions) {
    const values = firstRead.filter((r) => r.startsWith(`${tp.partition}:`)).map((r) => r.split(":").slice(2).join(":"))
    yield* Console.log(`  partition ${tp.partition}: ${values.join(" | ")}`)
  }

  // Crash the leader of partition 0.
  const before = (yield* cluster.metadata).topics.find((t) => t.name === topic)!.partitions[0]!
  yield* Console.log(`\ncrashing broker-${before.leader}, leader of partition 0 (epoch ${before.leaderEpoch}, ISR [${before.isr}])`)
  yield* cluster.crash(before.leader)
  const partition0 = Effect.map(cluster.metadata, (m) => m.topics.find((t) => t.name === topic)!.partitions[0]!)
  const after = yield* waitFor(partition0, (p) => p.leader !== before.leader && p.leader >= 0)
  yield* Console.log(
    `new leader of partition 0: broker-${after.leader} (epoch ${after.leaderEpoch}), taken from the ISR [${before.isr}]; ISR now [${after.isr}]`
  )

  yield* send(Array.from({ length: 6 }, (_, i) => ({ key: `after-${i}`, value: `after-crash-${i}` })))
  const all = yield* consumeAll(acked.length)
  const lost = acked.filter((r) => !all.includes(r))
  yield* Console.log(`\nacknowledged ${acked.length} records in all; consumed ${all.length}; lost: ${lost.length}`)
  if (lost.length > 0) return yield* Effect.dieMessage(`lost acknowledged records: ${lost.join(", ")}`)

  yield* Console.log(`\nrestarting broker-${before.leader}`)
  yield* cluster.restart(before.leader)
  const rejoined = yield* waitFor(partition0, (p) => p.isr.includes(before.leader))
  const caughtUp = yield* cluster.describeReplica(before.leader, topic, 0)
  yield* Console.log(
    `broker-${before.leader} caught up (log end ${caughtUp.logEndOffset}) and rejoined the ISR of partition 0: [${rejoined.isr}]`
  )
  yield* Console.log("\ndone.")
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(InProcess.layer()), Effect.timeout("30 seconds"))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
