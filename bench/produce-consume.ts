/**
 * Produce → consume throughput and latency, in-process, 100-byte records:
 *   rf1-acks1   — 3 brokers, topic with 3 partitions, RF 1, acks=1
 *   rf3-acksall — 3 brokers, topic with 3 partitions, RF 3, minISR 2, acks=all (idempotent)
 * Throughput: N records sent as fast as the producer takes them while a consumer reads them all,
 * BENCH_ROUNDS times (default 3) on the same cluster; the median run is printed (`runs` lists every
 * run's rate, `cpuRuns` its CPU µs per record);
 * latency: p50/p99 from send to consume at a steady 10,000 records/s. Each scenario first sends and
 * reads BENCH_WARMUP records (default 50 000) untimed, after one untimed throughput run on a
 * throwaway cluster (so the first scenario does not pay for the process growing). In the same run, the rate
 * of passing the same records through a raw Effect `Queue` (the ceiling). One JSON line per figure.
 * `cpuUsPerRecord` is the process CPU time (all threads) of the throughput run per record, and
 * `perCpuSec` its inverse: the rate one core would reach, steadier than `perSec` on a shared machine.
 *
 *   npm run bench:pc        (BENCH_RECORDS=300000 by default; BENCH_ONLY=rf1-acks1 | rf3-acksall runs one)
 *
 * BENCH_PREWARM=0 skips the throwaway run; BENCH_MARKS=1 prints each throughput run's window on the
 * monotonic clock to stderr (to cut a `--cpu-prof` profile to it).
 *
 * On Linux the bench runs itself in a child with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (see
 * `runWithMallocHugePages` in workload.ts; `mallocHugePages` in the output says which way it ran);
 * BENCH_HUGEPAGES=0 measures without.
 */
import { Admin, Consumer, EmbeddedCluster, InProcess, Producer } from "@fiberlog/core"
import { Chunk, Effect, Queue } from "effect"
import {
  mallocHugePages,
  percentile,
  producerSettings,
  runWithMallocHugePages,
  sendChunk,
  sendChunkOf,
  topicPartitions,
  value,
  valueBytes,
  warmupRecords
} from "./workload.js"

const N = Number(process.env.BENCH_RECORDS ?? 300_000)
/** Measured throughput runs per scenario (BENCH_ROUNDS); the median is printed, and every run's rate in `runs`. */
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3))

const queueBaseline = Effect.gen(function*() {
  const queue = yield* Queue.bounded<Uint8Array>(64 * 1024)
  // The ceiling: the Queue's own cost, so the records are made once, outside the timing (making a
  // 100-byte array per record, off-heap, would measure the allocator instead of the Queue).
  const records = Array.from({ length: sendChunk }, value)
  const start = performance.now()
  const consumer = yield* Effect.fork(Effect.gen(function*() {
    let seen = 0
    while (seen < N) seen += Chunk.size(yield* Queue.takeAll(queue)) || (yield* Queue.take(queue), 1)
  }))
  for (let i = 0; i < N; i += sendChunk) yield* Queue.offerAll(queue, records)
  yield* consumer.await
  return N / ((performance.now() - start) / 1000)
})

const scenario = (name: string, replicationFactor: number, acks: 1 | "all", queuePerSec: number, report = true) =>
  Effect.gen(function*() {
    const cluster = yield* EmbeddedCluster.make({ brokers: 3, fetchMaxWaitMs: 100 })
    const node = yield* cluster.clientNode(`bench-${name}`)
    const connection = { node, bootstrap: cluster.bootstrap }
    const admin = yield* Admin.make(connection)
    while ((yield* admin.describeCluster).brokers.filter((b) => !b.fenced).length < 3) yield* Effect.sleep("20 millis")
    const topic = `bench-${name}`
    yield* admin.createTopic({
      name: topic,
      partitions: topicPartitions,
      replicationFactor,
      config: { minInsyncReplicas: Math.min(2, replicationFactor) }
    })
    const producer = yield* Producer.make({ ...connection, acks, ...producerSettings })
    const consumer = yield* Consumer.make({ ...connection, autoOffsetReset: "earliest", maxWaitMs: 50, maxBytes: 4 << 20 })
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

    const sendAll = (count: number) =>
      Effect.forEach(
        Array.from({ length: count / sendChunk }),
        () => sendChunkOf(producer, topic),
        { concurrency: 16, discard: true }
      )

    // Warm-up, untimed.
    const warm = yield* Effect.fork(consumeUntil(warmupRecords))
    yield* sendAll(warmupRecords)
    yield* warm.await

    // Throughput: ROUNDS measured runs one after another on the same cluster; the median is printed.
    const runs: Array<{ perSec: number; cpuUsPerRecord: number }> = []
    for (let round = 0; round < (report ? rounds : 1); round++) {
      const cpuStart = process.cpuUsage()
      const hrStart = process.hrtime.bigint()
      const start = performance.now()
      const reader = yield* Effect.fork(consumeUntil(N))
      yield* sendAll(N)
      yield* reader.await
      const seconds = (performance.now() - start) / 1000
      const cpu = process.cpuUsage(cpuStart)
      // BENCH_MARKS=1: each throughput run's window on the monotonic clock (µs), to cut a CPU profile to
      // it, and in ms since the process started (`--trace-gc` lines carry that time).
      if (process.env.BENCH_MARKS) {
        console.error(JSON.stringify({
          mark: name,
          fromUs: Number(hrStart / 1000n),
          toUs: Number(process.hrtime.bigint() / 1000n),
          fromMs: Math.round(start),
          toMs: Math.round(performance.now())
        }))
      }
      // Process CPU time (every thread: GC helpers too) per record: steadier than the rate on a shared machine.
      runs.push({ perSec: N / seconds, cpuUsPerRecord: (cpu.user + cpu.system) / N })
    }
    const sorted = [...runs].sort((a, b) => a.perSec - b.perSec)
    const { cpuUsPerRecord, perSec } = sorted[Math.floor(sorted.length / 2)]!

    if (!report) return
    // Latency at a steady 10,000 records/s: 100 records every 10 ms for 3 s.
    const latencies: Array<number> = []
    const latencyRounds = 300
    const reader2 = yield* Effect.fork(consumeUntil(latencyRounds * 100, (v) => {
      latencies.push(performance.now() - new DataView(v.buffer, v.byteOffset, 8).getFloat64(0))
    }))
    const latencyStart = performance.now()
    for (let round = 0; round < latencyRounds; round++) {
      const due = latencyStart + round * 10
      const wait = due - performance.now()
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
    console.log(JSON.stringify({
      name,
      perSec: Math.round(perSec),
      mbPerSec: Number((perSec * valueBytes / 1e6).toFixed(1)),
      cpuUsPerRecord: Number(cpuUsPerRecord.toFixed(2)),
      perCpuSec: Math.round(1e6 / cpuUsPerRecord),
      p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
      p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
      ratioToQueue: Number((perSec / queuePerSec).toFixed(3)),
      runs: runs.map((r) => Math.round(r.perSec)),
      cpuRuns: runs.map((r) => Number(r.cpuUsPerRecord.toFixed(2))),
      ...producerSettings,
      payload: "shared",
      mallocHugePages
    }))
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  yield* queueBaseline // warm-up
  const queuePerSec = yield* queueBaseline
  console.log(JSON.stringify({ name: "queue", perSec: Math.round(queuePerSec) }))
  // An untimed, unreported throughput run on a throwaway cluster first (BENCH_PREWARM=0 skips it):
  // whichever scenario ran first used to pay for the process's memory growing to its working size
  // (its logs keep every batch; fresh pages cost many times a warm copy on this kind of VM) and
  // measured 1.4-2x the CPU per record of the second, whichever the two were.
  if (process.env.BENCH_PREWARM !== "0") yield* scenario("prewarm", 3, "all", queuePerSec, false)
  const only = process.env.BENCH_ONLY
  if (only === undefined || only === "rf1-acks1") yield* scenario("rf1-acks1", 1, 1, queuePerSec)
  if (only === undefined || only === "rf3-acksall") yield* scenario("rf3-acksall", 3, "all", queuePerSec)
})

runWithMallocHugePages(() =>
  Effect.runPromise(program.pipe(Effect.provide(InProcess.layer()))).then(() => process.exit(0), (e) => {
    console.error(e)
    process.exit(1)
  })
)
