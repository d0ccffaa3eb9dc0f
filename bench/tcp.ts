/**
 * Produce → consume over loopback TCP, 100-byte records, brokers as real processes (`fiberlog
 * broker`, FileLog on a temporary directory, fsync left to the OS as Kafka's default):
 *   tcp-rf1 — 1 broker, topic with 3 partitions, RF 1, acks=all (= the leader)
 *   tcp-rf3 — 3 brokers, topic with 3 partitions, RF 3, minISR 2, acks=all (idempotent)
 * Throughput: N records sent as fast as the producer takes them (chunks of 1 000, 64 in flight)
 * while one consumer reads them all; latency: p50/p99 from send to consume at a steady 10 000
 * records/s for 3 s. One JSON line per figure. Every system (fiberlog and each peer) first sends
 * and reads BENCH_WARMUP records (default 50 000) untimed, so figures compare warm code: with a
 * 1 000-record warm-up, fiberlog's first 200 000 records ran at about 60% of its warm speed (JIT).
 *
 * Peers, the same workload (100-byte values, chunks of 1 000 sent 64 at a time while one consumer
 * reads; 3 s at 10 000 records/s for latency), each server started here as a child process on a
 * free loopback port with its data in a temporary directory, and stopped at the end:
 *   redis-streams  — `redis-server`, appendonly yes + appendfsync everysec; ioredis, each chunk one
 *                    pipeline of 1 000 XADD; a consumer group read with XREADGROUP COUNT 5000 + XACK
 *   nats-jetstream — `nats-server -js`, a file-storage stream (R1); `nats`, acked publishes; an
 *                    ordered consumer
 * They run only where `redis-server` / `nats-server` are on the PATH (`apt-get install redis-server
 * nats-server`) and their Node clients (`ioredis`, `nats`, root devDependencies) load; otherwise the
 * script prints a line saying so and skips them.
 *
 *   npm run bench:tcp        (BENCH_RECORDS=200000 by default)
 *
 * BENCH_ONLY=tcp-rf1 | tcp-rf3 | redis-streams | nats-jetstream runs one scenario (ratios need both
 * tcp-rf1 and the peer); BENCH_ONLY=transport runs only the transport:
 * two nodes in this process over loopback TCP, asks carrying a BENCH_PAYLOAD-byte (default 100 000)
 * Uint8Array, BENCH_IN_FLIGHT (default 16) at a time. BENCH_VERBOSE=1 shows the brokers' output;
 * BENCH_SEND_IN_FLIGHT (default 64) sets the chunks in flight for every system; BENCH_MARKS=1 prints
 * the throughput run's window on the monotonic clock to stderr (to cut CPU profiles of the bench and
 * of the brokers to it). `clientCpuUsPerRecord` / `brokerCpuUsPerRecord`: CPU time per record of the
 * bench process (producer + consumer) and of the brokers (from /proc, Linux), during the throughput run;
 * `clientPageFaultsPerRecord`: minor page faults of the bench process per record (fresh memory touched
 * first: costly in a VM, and what copying into new large buffers costs). BENCH_FETCH_MAX_BYTES (default
 * 4 MiB) sets the consumer's bytes per partition per fetch.
 * BENCH_PROFILE=1 stops the brokers with SIGTERM (so a profiler loaded by NODE_OPTIONS=--import can
 * write its profile) before they are killed.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Actor, Address, Admin, Consumer, Node, NodeId, Producer } from "@fiberlog/core"
import { LocalCluster, Server, TcpNetwork } from "@fiberlog/node"
import { FileSystem } from "@effect/platform"
import { Data, Deferred, Duration, Effect, Layer, Logger, LogLevel, Schema, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { payload, percentile, producerSettings, sendChunk, sendChunkOf, topicPartitions, value, valueBytes, warmupRecords } from "./workload.js"

const N = Number(process.env.BENCH_RECORDS ?? 200_000)
/**
 * `send` calls (chunks of `sendChunk` records) in flight at once, for fiberlog and every peer alike
 * (BENCH_SEND_IN_FLIGHT; printed with each figure). 64 chunks are 6.4 MB of values in flight, below
 * the 32 MB a Kafka producer buffers by default (`buffer.memory`): over TCP the run is bound by
 * round trips, not CPU, at 16.
 */
const sendInFlight = Number(process.env.BENCH_SEND_IN_FLIGHT ?? 64)
const latencyRounds = 300
const latencyRoundRecords = 100
const latencyRoundMs = 10

/** Bytes per partition per consumer fetch (BENCH_FETCH_MAX_BYTES; printed with each figure). */
const fetchMaxBytes = Number(process.env.BENCH_FETCH_MAX_BYTES ?? 4 << 20)

/** CPU time (user + system, µs) a process has used so far, from /proc (Linux); undefined elsewhere. */
const procCpuUs = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100)
  } catch {
    return undefined
  }
}

/** Minor page faults of this process so far, from /proc (Linux); undefined elsewhere. */
const minorFaults = (): number | undefined => {
  try {
    const stat = Fs.readFileSync("/proc/self/stat", "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7])
  } catch {
    return undefined
  }
}

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
    const producer = yield* Producer.make({ ...client, acks: "all", ...producerSettings })
    const consumer = yield* Consumer.make({ ...client, autoOffsetReset: "earliest", maxWaitMs: 50, maxBytes: fetchMaxBytes })
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
    yield* Effect.forEach(
      Array.from({ length: warmupRecords / sendChunk }),
      () => sendChunkOf(producer, topic),
      { concurrency: sendInFlight, discard: true }
    )
    yield* consumeUntil(warmupRecords)

    const brokerPids = Array.from({ length: brokers }, (_, i) => cluster.pid(i + 1))
    const brokerCpuStart = brokerPids.map(procCpuUs)
    const cpuStart = process.cpuUsage()
    const faultsStart = minorFaults()
    const hrStart = process.hrtime.bigint()
    const start = performance.now()
    const reader = yield* Effect.fork(consumeUntil(N))
    yield* Effect.forEach(
      Array.from({ length: N / sendChunk }),
      () => sendChunkOf(producer, topic),
      { concurrency: sendInFlight, discard: true }
    )
    yield* reader.await
    const seconds = (performance.now() - start) / 1000
    const perSec = N / seconds
    const cpu = process.cpuUsage(cpuStart)
    const faultsEnd = minorFaults()
    // BENCH_MARKS=1: the throughput run's window on the monotonic clock (µs), to cut CPU profiles to it.
    if (process.env.BENCH_MARKS) console.error(JSON.stringify({ mark: name, fromUs: Number(hrStart / 1000n), toUs: Number(process.hrtime.bigint() / 1000n) }))
    // CPU per record of the client process (producer + consumer) and of the brokers together:
    // steadier than the rate on a shared machine, and they show which side limits it.
    const clientCpuUsPerRecord = Number(((cpu.user + cpu.system) / N).toFixed(2))
    const brokerCpuEnd = brokerPids.map(procCpuUs)
    const brokerCpuUs = brokerCpuEnd.every((x) => x !== undefined) && brokerCpuStart.every((x) => x !== undefined)
      ? brokerCpuEnd.reduce((sum, end, i) => sum + end - brokerCpuStart[i]!, 0)
      : undefined
    const brokerCpuUsPerRecord = brokerCpuUs === undefined ? null : Number((brokerCpuUs / N).toFixed(2))

    const latencies: Array<number> = []
    const reader2 = yield* Effect.fork(consumeUntil(latencyRounds * latencyRoundRecords, (v) => {
      latencies.push(performance.now() - new DataView(v.buffer, v.byteOffset, 8).getFloat64(0))
    }))
    const t0 = performance.now()
    for (let round = 0; round < latencyRounds; round++) {
      const wait = t0 + round * latencyRoundMs - performance.now()
      if (wait > 0) yield* Effect.sleep(`${wait} millis`)
      const messages = Array.from({ length: latencyRoundRecords }, () => {
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
      clientCpuUsPerRecord,
      brokerCpuUsPerRecord,
      // Fresh memory first touched (page faults): costly in a VM, and what large copies into new buffers cost.
      clientPageFaultsPerRecord: faultsStart === undefined || faultsEnd === undefined
        ? null
        : Number(((faultsEnd - faultsStart) / N).toFixed(3)),
      records: N,
      brokers,
      ...producerSettings,
      sendInFlight,
      fetchMaxBytes,
      payload: "shared",
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

// ---- Peers: Redis Streams and NATS JetStream on the same workload --------------------------------

type PeerName = "redis-streams" | "nats-jetstream"

/** A peer could not be started or failed during its run. */
class PeerError extends Data.TaggedError("PeerError")<{ readonly peer: PeerName; readonly detail: string }> {
  override get message() {
    return `${this.peer}: ${this.detail}`
  }
}

/** What the workload needs of a peer: an acknowledged send of a chunk, and a reader. */
interface PeerClient {
  /** Resolves once the server acknowledged every value. */
  readonly send: (values: ReadonlyArray<Uint8Array>) => Promise<void>
  /** Starts the one reader: calls `onValue` for every value, in order, until `close`. */
  readonly read: (onValue: (value: Uint8Array) => void) => void
  readonly close: () => Promise<void>
}

const peerBinaries: Record<PeerName, string> = { "redis-streams": "redis-server", "nats-jetstream": "nats-server" }
const peerClients: Record<PeerName, string> = { "redis-streams": "ioredis", "nats-jetstream": "nats" }

const onPath = (binary: string) => {
  try {
    ChildProcess.execFileSync("which", [binary], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const loads = (module: string) => import(module).then(() => true, () => false)

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * Runs `binary args` in `cwd` until the scope closes (SIGTERM, then SIGKILL after 5 s); waits
 * until a line of its output matches `ready`.
 */
const serverProcess = (peer: PeerName, binary: string, args: ReadonlyArray<string>, cwd: string, ready: RegExp) =>
  Effect.gen(function*() {
    const started = yield* Deferred.make<void, PeerError>()
    const output: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => ChildProcess.spawn(binary, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })),
      (child) =>
        child.exitCode !== null || child.signalCode !== null ? Effect.void : Effect.async<void>((resume) => {
          const force = setTimeout(() => child.kill("SIGKILL"), 5_000)
          child.once("exit", () => {
            clearTimeout(force)
            resume(Effect.void)
          })
          child.kill("SIGTERM")
        })
    )
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.length === 0) continue
        if (output.length < 200) output.push(line)
        if (process.env.BENCH_VERBOSE) console.error(`[${peer}] ${line}`)
        if (ready.test(line)) Deferred.unsafeDone(started, Effect.void)
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("error", (error) => Deferred.unsafeDone(started, new PeerError({ peer, detail: String(error) })))
    child.once("exit", (code, signal) =>
      Deferred.unsafeDone(
        started,
        new PeerError({ peer, detail: `${binary} exited (${code ?? signal}) before it was ready:\n${output.join("\n")}` })
      ))
    yield* Deferred.await(started).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(30),
        onTimeout: () => new PeerError({ peer, detail: `${binary} not ready after 30 s:\n${output.join("\n")}` })
      })
    )
  })

const promise = <A>(peer: PeerName, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (error) => new PeerError({ peer, detail: String(error) }) })

/** A client scoped: closed when the scope closes. */
const scopedClient = (peer: PeerName, open: () => Promise<PeerClient>) =>
  Effect.acquireRelease(promise(peer, open), (client) => Effect.promise(() => client.close().catch(() => undefined)))

const redisDurability = "appendonly yes, appendfsync everysec (AOF fsync once a second), 1 node"

/** `redis-server` with AOF on, and an ioredis client over a stream read by a consumer group. */
const redisStreams: Effect.Effect<PeerClient, PeerError, FileSystem.FileSystem | Scope.Scope> = Effect.gen(function*() {
  const peer = "redis-streams"
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-bench-redis-" }).pipe(Effect.orDie)
  const port = yield* freePort
  yield* serverProcess(peer, "redis-server", [
    "--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", "", "--appendonly", "yes",
    "--appendfsync", "everysec", "--protected-mode", "no", "--daemonize", "no"
  ], dir, /Ready to accept connections/)
  return yield* scopedClient(peer, async () => {
    const { Redis } = await import("ioredis")
    const options = { host: "127.0.0.1", port, maxRetriesPerRequest: 1 }
    const producer = new Redis(options)
    const consumer = new Redis(options)
    const stream = "bench"
    await producer.xgroup("CREATE", stream, "g", "$", "MKSTREAM")
    let closed = false
    let reading: Promise<void> = Promise.resolve()
    return {
      send: async (values) => {
        const pipeline = producer.pipeline()
        for (const v of values) pipeline.xadd(stream, "*", "v", Buffer.from(v.buffer, v.byteOffset, v.byteLength))
        const results = await pipeline.exec()
        const failed = results?.find(([error]) => error !== null)
        if (results === null || failed !== undefined) throw failed?.[0] ?? new Error("pipeline aborted")
      },
      read: (onValue) => {
        reading = (async () => {
          while (!closed) {
            const reply = await consumer.callBuffer(
              "XREADGROUP", "GROUP", "g", "c", "COUNT", 5000, "BLOCK", 100, "STREAMS", stream, ">"
            ) as Array<[Buffer, Array<[Buffer, Array<Buffer>]>]> | null
            if (reply === null) continue
            const entries = reply[0]![1]
            if (entries.length === 0) continue
            for (const [, fields] of entries) onValue(fields[1]!)
            await consumer.xack(stream, "g", ...entries.map(([id]) => id))
          }
        })()
      },
      close: async () => {
        closed = true
        await reading.catch(() => undefined)
        producer.disconnect()
        consumer.disconnect()
      }
    } satisfies PeerClient
  })
})

const natsDurability =
  "file-storage stream (R1), publishes acked once stored; fsync on the server's sync interval (default 2 min)"

/** `nats-server -js` with its store in a temporary directory; acked publishes, an ordered consumer. */
const natsJetStream: Effect.Effect<PeerClient, PeerError, FileSystem.FileSystem | Scope.Scope> = Effect.gen(function*() {
  const peer = "nats-jetstream"
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-bench-nats-" }).pipe(Effect.orDie)
  const port = yield* freePort
  yield* serverProcess(peer, "nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], dir, /Server is ready/)
  return yield* scopedClient(peer, async () => {
    const nats = await import("nats")
    const nc = await nats.connect({ servers: `127.0.0.1:${port}` })
    const jsm = await nc.jetstreamManager()
    const subject = "bench.records"
    await jsm.streams.add({ name: "bench", subjects: [subject], storage: nats.StorageType.File, num_replicas: 1 })
    const js = nc.jetstream()
    let messages: { stop: () => void } | undefined
    let reading: Promise<void> = Promise.resolve()
    return {
      send: async (values) => {
        await Promise.all(values.map((v) => js.publish(subject, v)))
      },
      read: (onValue) => {
        reading = (async () => {
          const consumer = await js.consumers.get("bench")
          const iterator = await consumer.consume({ max_messages: 5000 })
          messages = iterator
          for await (const m of iterator) onValue(m.data)
        })()
      },
      close: async () => {
        messages?.stop()
        await reading.catch(() => undefined)
        await nc.close()
      }
    } satisfies PeerClient
  })
})

/** The workload of `scenario` on a peer: throughput, then latency at a steady rate. */
const peerScenario = (peer: PeerName) =>
  Effect.gen(function*() {
    const client = yield* (peer === "redis-streams" ? redisStreams : natsJetStream)
    let seen = 0
    let waiting: { readonly count: number; readonly resolve: () => void } | undefined
    const latencies: Array<number> = []
    let timed = false
    client.read((v) => {
      seen++
      if (timed) latencies.push(performance.now() - new DataView(v.buffer, v.byteOffset, 8).getFloat64(0))
      if (waiting !== undefined && seen >= waiting.count) {
        const done = waiting
        waiting = undefined
        done.resolve()
      }
    })
    const consumed = (count: number) =>
      Effect.async<void>((resume) => {
        if (seen >= count) return resume(Effect.void)
        waiting = { count, resolve: () => resume(Effect.void) }
      })
    const send = (values: ReadonlyArray<Uint8Array>) => promise(peer, () => client.send(values))
    const chunk = () => Array.from({ length: sendChunk }, () => payload)

    // Warm-up: connections, JIT.
    yield* Effect.forEach(Array.from({ length: warmupRecords / sendChunk }), () => send(chunk()), {
      concurrency: sendInFlight,
      discard: true
    })
    yield* consumed(warmupRecords)

    const start = performance.now()
    yield* Effect.forEach(Array.from({ length: N / sendChunk }), () => send(chunk()), {
      concurrency: sendInFlight,
      discard: true
    })
    yield* consumed(warmupRecords + N)
    const perSec = N / ((performance.now() - start) / 1000)

    timed = true
    const t0 = performance.now()
    const sends: Array<Promise<void>> = []
    for (let round = 0; round < latencyRounds; round++) {
      const wait = t0 + round * latencyRoundMs - performance.now()
      if (wait > 0) yield* Effect.sleep(`${wait} millis`)
      const values = Array.from({ length: latencyRoundRecords }, () => {
        const v = value()
        new DataView(v.buffer).setFloat64(0, performance.now())
        return v
      })
      sends.push(client.send(values))
    }
    yield* promise(peer, () => Promise.all(sends))
    yield* consumed(warmupRecords + N + latencyRounds * latencyRoundRecords)
    latencies.sort((a, b) => a - b)
    return {
      name: peer,
      perSec: Math.round(perSec),
      mbPerSec: Number((perSec * valueBytes / 1e6).toFixed(1)),
      p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
      p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
      records: N,
      sendInFlight,
      payload: "shared",
      durability: peer === "redis-streams" ? redisDurability : natsDurability
    }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const only = process.env.BENCH_ONLY
  if (only === "transport") return console.log(JSON.stringify(yield* Effect.orDie(transport)))
  const wants = (name: string) => only === undefined || only === name
  const rf1 = wants("tcp-rf1") ? yield* scenario("tcp-rf1", 1) : undefined
  const rf3 = wants("tcp-rf3") ? yield* scenario("tcp-rf3", 3) : undefined
  const peers: Partial<Record<PeerName, Effect.Effect.Success<ReturnType<typeof peerScenario>>>> = {}
  const skipped: Array<{ readonly name: PeerName; readonly missing: ReadonlyArray<string> }> = []
  for (const name of ["redis-streams", "nats-jetstream"] as const) {
    if (!wants(name)) continue
    const missing = [
      ...(onPath(peerBinaries[name]) ? [] : [peerBinaries[name]]),
      ...((yield* Effect.promise(() => loads(peerClients[name]))) ? [] : [`npm ${peerClients[name]}`])
    ]
    if (missing.length > 0) skipped.push({ name, missing })
    else peers[name] = yield* peerScenario(name)
  }
  const ratio = (to: { readonly perSec: number } | undefined) =>
    rf1 === undefined || to === undefined ? null : Number((rf1.perSec / to.perSec).toFixed(2))
  if (rf1) console.log(JSON.stringify({ ...rf1, ratioToRedis: ratio(peers["redis-streams"]), ratioToNats: ratio(peers["nats-jetstream"]) }))
  if (rf3) console.log(JSON.stringify(rf3))
  for (const result of Object.values(peers)) console.log(JSON.stringify(result))
  if (skipped.length > 0) {
    console.log(JSON.stringify({
      name: "peers",
      skipped: skipped.map((s) => s.name),
      reason: `not installed: ${skipped.flatMap((s) => s.missing).join(", ")}`,
      howTo: "apt-get install redis-server nats-server; npm install (ioredis and nats are root devDependencies)"
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
