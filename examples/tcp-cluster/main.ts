/**
 * fiberlog over TCP — `npx tsx --conditions=fiberlog-source examples/tcp-cluster/main.ts`.
 *
 * Starts a controller and 3 broker processes on loopback (each a real `fiberlog` process with its
 * own data directory), creates a topic (3 partitions, RF 3, minISR 2), produces with acks=all,
 * kills the leader of partition 0 with SIGKILL while producing, shows the failover, restarts the
 * broker on its data directory, shows it catch up into the ISR, and consumes every acknowledged
 * record. Bounded in time; kills its processes and removes its directories at the end.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Admin, Consumer, Producer } from "@fiberlog/core"
import { LocalCluster, Server } from "@fiberlog/node"
import { Clock, Console, Effect, Logger, LogLevel } from "effect"

const topic = "orders"
const partitions = 3
const text = new TextDecoder()

/** What a run shows, for the test. */
export interface Outcome {
  readonly acked: number
  readonly consumed: number
  readonly lost: number
  readonly killed: number
  readonly newLeader: number
  readonly rejoinedIsr: ReadonlyArray<number>
}

/** The whole demo; `say` prints a step. */
export const run = (say: (line: string) => Effect.Effect<void> = Console.log): Effect.Effect<Outcome, unknown> =>
  Effect.gen(function*() {
    const t0 = yield* Clock.currentTimeMillis
    const step = (line: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => say(`[${((now - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`))
    yield* step("starting a controller and 3 broker processes on 127.0.0.1 ...")
    const cluster = yield* LocalCluster.make({
      brokers: 3,
      sessionTimeoutMs: 1_500,
      heartbeatIntervalMs: 250,
      replicaLagTimeMs: 1_500,
      fetchMaxWaitMs: 100
    })
    for (const [id, a] of cluster.brokers) yield* step(`  broker-${id} pid ${cluster.pid(id)} on ${a.host}:${a.port}`)
    const connection = yield* Server.connect({ clusterId: cluster.clusterId, bootstrap: cluster.bootstrap })
    const client = { node: connection.node, bootstrap: connection.bootstrap }
    const admin = yield* Admin.make(client)
    const partitionStates = Effect.map(admin.metadata, (m) => m.topics.find((t) => t.name === topic)?.partitions ?? [])
    yield* LocalCluster.waitUntil(admin.describeCluster, (c) => c.brokers.filter((b) => !b.fenced).length === 3, {
      timeoutMs: 60_000,
      what: "3 brokers registered"
    })
    yield* admin.createTopic({ name: topic, partitions, replicationFactor: 3, config: { minInsyncReplicas: 2 } })
    const created = yield* LocalCluster.waitUntil(partitionStates, (ps) => ps.length === partitions && ps.every((p) => p.isr.length === 3), {
      timeoutMs: 45_000,
      what: "full ISRs"
    })
    yield* step(`created "${topic}": ${partitions} partitions, RF 3, minISR 2`)
    for (const p of created) yield* step(`  partition ${p.partition}: leader ${p.leader} ISR [${p.isr}]`)

    const producer = yield* Producer.make({ ...client, acks: "all", lingerMs: 2, retries: 40, maxRetryBackoffMs: 500 })
    const acked = new Map<string, string>()
    const produce = (from: number, batches: number) =>
      Effect.forEach(Array.from({ length: batches }, (_, b) => from + b), (b) => {
        const messages = Array.from({ length: 20 }, (_, i) => ({ value: `order-${b}-${i}` }))
        return producer.send({ topic, messages }).pipe(
          Effect.tap((results) => Effect.sync(() => results.forEach((r, i) => acked.set(`${r.partition}:${r.offset}`, messages[i]!.value)))),
          Effect.ignore
        )
      }, { discard: true })

    yield* produce(0, 10)
    yield* step(`produced ${acked.size} records with acks=all`)

    const leader = created.find((p) => p.partition === 0)!.leader
    yield* step(`SIGKILL broker-${leader} (leader of partition 0) while producing ...`)
    const producing = yield* Effect.fork(produce(10, 20))
    yield* cluster.kill(leader)
    const failedOver = yield* LocalCluster.waitUntil(partitionStates, (ps) => ps.every((p) => p.leader >= 0 && p.leader !== leader), {
      timeoutMs: 45_000,
      what: "failover"
    })
    for (const p of failedOver) yield* step(`  partition ${p.partition}: leader ${p.leader} epoch ${p.leaderEpoch} ISR [${p.isr}]`)
    yield* producing.await
    yield* step(`acknowledged ${acked.size} records in all`)

    yield* step(`restarting broker-${leader} on its data directory ...`)
    yield* cluster.start(leader)
    const rejoined = yield* LocalCluster.waitUntil(partitionStates, (ps) => ps.every((p) => p.isr.includes(leader)), {
      timeoutMs: 60_000,
      what: `broker-${leader} back in every ISR`
    })
    for (const p of rejoined) yield* step(`  partition ${p.partition}: leader ${p.leader} ISR [${p.isr}]`)

    const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 100 })
    yield* consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })))
    const seen = new Map<string, string>()
    yield* LocalCluster.waitUntil(
      Effect.map(consumer.poll(), (records) => {
        for (const r of records) seen.set(`${r.partition}:${r.offset}`, text.decode(r.value!))
        return [...acked.keys()].every((k) => seen.has(k))
      }),
      (done) => done,
      { timeoutMs: 45_000, intervalMs: 1, what: "every acknowledged record" }
    )
    const lost = [...acked].filter(([k, v]) => seen.get(k) !== v).length
    yield* step(`consumed ${seen.size} records; acknowledged ${acked.size}; lost ${lost}`)
    return {
      acked: acked.size,
      consumed: seen.size,
      lost,
      killed: leader,
      newLeader: failedOver.find((p) => p.partition === 0)!.leader,
      rejoinedIsr: rejoined.find((p) => p.partition === 0)!.isr
    } satisfies Outcome
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error), Effect.timeout("90 seconds"))

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  Effect.runPromise(run()).then(
    (outcome) => {
      console.log(outcome.lost === 0 ? "\ndone: no acknowledged record lost." : "\nFAILED: acknowledged records lost")
      process.exit(outcome.lost === 0 ? 0 : 1)
    },
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
