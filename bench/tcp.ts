/**
 * Produce → consume over loopback TCP, 100-byte records, brokers as real processes (`fiberlog
 * broker`, FileLog on a temporary directory, fsync left to the OS as Kafka's default):
 *   tcp-rf1 — 1 broker, topic with 3 partitions, RF 1, acks=all (= the leader)
 *   tcp-rf3 — 3 brokers, topic with 3 partitions, RF 3, minISR 2, acks=all (idempotent)
 * Throughput: N records sent as fast as the producer takes them (chunks of 1 000, 16 in flight)
 * while one consumer reads them all; latency: p50/p99 from send to consume at a steady 10 000
 * records/s for 3 s. One JSON line per figure.
 *
 * Redis Streams and NATS JetStream peers run only where `redis-server` / `nats-server` are on the
 * PATH (`apt-get install redis-server nats-server`) and their Node clients are installed; otherwise
 * the script prints a line saying so and skips them.
 *
 *   npm run bench:tcp        (BENCH_RECORDS=200000 by default)
 *
 * BENCH_ONLY=tcp-rf1 | tcp-rf3 runs one scenario; BENCH_ONLY=transport runs only the transport:
 * two nodes in this process over loopback TCP, asks carrying a BENCH_PAYLOAD-byte (default 100 000)
 * Uint8Array, BENCH_IN_FLIGHT (default 16) at a time. BENCH_VERBOSE=1 shows the brokers' output;
 * BENCH_PROFILE=1 stops the brokers with SIGTERM (so a profiler loaded by NODE_OPTIONS=--import can
 * write its profile) before they are killed.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Actor, Address, Admin, Consumer, Node, NodeId, Producer } from "@fiberlog/core"
import { LocalCluster, Server, TcpNetwork } from "@fiberlog/node"
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { execFileSync } from "node:child_process"

const N = Number(process.env.BENCH_RECORDS ?? 200_000)
const valueBytes = 100
const sendChunk = 1_000
const topicPartitions = 3

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

const value = () => new Uint8Array(valueBytes)

const scenario = (name: "tcp-rf1" | "tcp-rf3", brokers: number) =>
  Effect.gen(function*() {
    const cluster = yield* LocalCluster.make({
      brokers,
      fetchMaxWaitMs: 50,
      ...(process.env.BENCH_VERBOSE ? { onOutput: (node: string, line: string) => console.error(`[${node}] ${line}`) } : {})
    })
    const connection = yield* Server.connect({ clusterId: cluster.clusterId, bootstrap: cluster.bootstrap })
    const client = { node: connection.node, bootstrap: connection.bootstrap }
    const admin = yield* Admin.make(client)
    yield* LocalCluster.waitUntil(admin.describeCluster, (c) => c.brokers.filter((b) => !b.fenced).length === brokers, {
      timeoutMs: 30_000
    })
    const topic = `bench-${name}`
    yield* admin.createTopic({
      name: topic,
      partitions: topicPartitions,
      replicationFactor: brokers,
      config: { minInsyncReplicas: Math.min(2, brokers) }
    })
    yield* LocalCluster.waitUntil(
      admin.metadata,
      (m) => m.topics.find((t) => t.name === topic)?.partitions.every((p) => p.isr.length === brokers) ?? false,
      { timeoutMs: 15_000 }
    )
    const producer = yield* Producer.make({ ...client, acks: "all", batchSize: 256 * 1024, lingerMs: 1 })
    const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 50, maxBytes: 4 << 20 })
    yield* consumer.assign(Array.from({ length: topicPartitions }, (_, partition) => ({ topic, partition })))

    const consumeUntil = (count: number, onRecord?: (value: Uint8Array) => void) =>
      Effect.gen(function*() {
        let seen = 0
        while (seen < count) {
          const records = yield* consumer.poll()
          seen += records.length
          if (onRecord) for (const r of records) onRecord(r.value!)
        }
      })

    // Warm-up: connections, senders, JIT.
    yield* producer.send({ topic, messages: Array.from({ length: sendChunk }, () => ({ value: value() })) })
    yield* consumeUntil(sendChunk)

    const start = performance.now()
    const reader = yield* Effect.fork(consumeUntil(N))
    yield* Effect.forEach(
      Array.from({ length: N / sendChunk }),
      () => producer.send({ topic, messages: Array.from({ length: sendChunk }, () => ({ value: value() })) }),
      { concurrency: 16, discard: true }
    )
    yield* reader.await
    const seconds = (performance.now() - start) / 1000
    const perSec = N / seconds

    const latencies: Array<number> = []
    const rounds = 300
    const reader2 = yield* Effect.fork(consumeUntil(rounds * 100, (v) => {
      latencies.push(performance.now() - new DataView(v.buffer, v.byteOffset, 8).getFloat64(0))
    }))
    const t0 = performance.now()
    for (let round = 0; round < rounds; round++) {
      const wait = t0 + round * 10 - performance.now()
      if (wait > 0) yield* Effect.sleep(`${wait} millis`)
      const messages = Array.from({ length: 100 }, () => {
        const v = value()
        new DataView(v.buffer).setFloat64(0, performance.now())
        return { value: v }
      })
      yield* Effect.fork(producer.send({ topic, messages }))
    }
    yield* reader2.await
    latencies.sort((a, b) => a - b)
    if (process.env.BENCH_PROFILE) {
      // Let the brokers exit on their own (SIGTERM) so `--cpu-prof` in NODE_OPTIONS writes profiles.
      for (let id = 1; id <= brokers; id++) {
        const pid = cluster.pid(id)
        if (pid !== undefined) process.kill(pid, "SIGTERM")
      }
      yield* Effect.sleep("3 seconds")
    }
    return {
      name,
      perSec: Math.round(perSec),
      mbPerSec: Number((perSec * valueBytes / 1e6).toFixed(1)),
      p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
      p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
      records: N,
      brokers,
      durability: "acks=all, FileLog page cache (fsync left to the OS, as Kafka's default)"
    }
  }).pipe(Effect.scoped)

class Put extends Schema.TaggedRequest<Put>()("Put", {
  failure: Schema.Never,
  success: Schema.Number,
  payload: { data: Schema.Uint8ArrayFromSelf }
}) {}
const Sink = Schema.Union(Put)

/** The transport alone: asks with a binary payload between two nodes over loopback TCP. */
const transport = Effect.gen(function*() {
  const payloadBytes = Number(process.env.BENCH_PAYLOAD ?? 100_000)
  const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 16)
  const asks = Math.max(100, Math.round(400e6 / Math.max(payloadBytes, 10_000)))
  const directory = TcpNetwork.directory({ a: { host: "127.0.0.1", port: 0 }, b: { host: "127.0.0.1", port: 0 } })
  const layer = Layer.orDie(TcpNetwork.layer({ clusterId: "bench", directory, maxFrameBytes: 64 << 20 }))
  const a = yield* Node.make({ id: NodeId.make("a") }).pipe(Effect.provide(layer))
  const b = yield* Node.make({ id: NodeId.make("b") }).pipe(Effect.provide(layer))
  yield* Effect.orDie(b.spawn("sink", Actor.behavior({
    protocol: Sink,
    init: () => Effect.succeed(0),
    handlers: { Put: (n, msg) => Effect.succeed([msg.data.length, n + 1] as const) }
  })))
  const ref = a.ref(Address.make(NodeId.make("b"), "sink"), Sink)
  const data = new Uint8Array(payloadBytes)
  const put = ref.ask(new Put({ data }), { timeoutMs: 30_000 })
  yield* Effect.forEach(Array.from({ length: Math.ceil(asks / 10) }), () => put, { concurrency: inFlight, discard: true })
  const start = performance.now()
  yield* Effect.forEach(Array.from({ length: asks }), () => put, { concurrency: inFlight, discard: true })
  const seconds = (performance.now() - start) / 1000
  return {
    name: "tcp-transport",
    payloadBytes,
    inFlight,
    asksPerSec: Math.round(asks / seconds),
    mbPerSec: Number((asks * payloadBytes / seconds / 1e6).toFixed(1))
  }
}).pipe(Effect.scoped)

const installed = (binary: string) => {
  try {
    execFileSync("which", [binary], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const program = Effect.gen(function*() {
  const only = process.env.BENCH_ONLY
  if (only === "transport") return console.log(JSON.stringify(yield* Effect.orDie(transport)))
  const rf1 = only === "tcp-rf3" ? undefined : yield* scenario("tcp-rf1", 1)
  const rf3 = only === "tcp-rf1" ? undefined : yield* scenario("tcp-rf3", 3)
  const peers = ["redis-server", "nats-server"].filter(installed)
  if (rf1) console.log(JSON.stringify({ ...rf1, ratioToRedis: null, ratioToNats: null }))
  if (rf3) console.log(JSON.stringify(rf3))
  if (peers.length < 2) {
    console.log(JSON.stringify({
      name: "peers",
      skipped: ["redis-streams", "nats-jetstream"],
      reason: "redis-server / nats-server not installed (and no ioredis / nats npm clients)",
      howTo: "apt-get install redis-server nats-server; npm install ioredis nats"
    }))
  }
})

Effect.runPromise(program.pipe(Effect.provide(NodeContext.layer), Logger.withMinimumLogLevel(LogLevel.Error))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
