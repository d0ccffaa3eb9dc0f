/**
 * What the produce → consume benches (`produce-consume.ts` in process, `tcp.ts` over loopback)
 * share: the record size, the send chunks, the warm-up, the producer settings and the shared
 * payload, and the percentile they report latencies by.
 */
import { spawn } from "node:child_process"
import type { Producer } from "@fiberlog/core"
import { Effect } from "effect"

export const valueBytes = 100
/** Records per `send` call. */
export const sendChunk = 1_000
/** Records each scenario (and each peer) sends and reads once, untimed, before its measured run (JIT, buffers, connections). */
export const warmupRecords = Math.max(sendChunk, Math.round(Number(process.env.BENCH_WARMUP ?? 50_000) / sendChunk) * sendChunk)
export const topicPartitions = 3

/** A fresh value (the latency runs write each record's send time into its own). */
export const value = () => new Uint8Array(valueBytes)

/**
 * The producer settings the benches choose (printed with each figure): larger batches than Kafka's
 * 16 KiB default and a 1 ms linger, as Kafka's own perf tools are usually run.
 */
export const producerSettings = { batchSize: 256 * 1024, lingerMs: 1 } as const

/**
 * The throughput runs (fiberlog and every peer) send one shared value for every record, as Kafka's
 * `ProducerPerformance` does (a payload made once): each client copies it into its own batch or
 * request, so the figures measure the systems, not the bench allocating 100-byte arrays.
 */
export const payload = value()

/**
 * One chunk's send, its answer dropped: `Effect.forEach` keeps every task's `Exit` until the whole
 * run ends, even with `discard`, so returning the per-record metadata would keep every send's
 * answer alive (and growing the heap) for the whole measured run.
 */
export const sendChunkOf = (producer: Producer.Producer, topic: string) =>
  Effect.suspend(() => {
    // A message object per record, as a user (and Kafka's `ProducerPerformance`) makes them; in a
    // plain loop, as `Array.from` with a mapping function costs several times as much per element.
    const messages = new Array<{ readonly value: Uint8Array }>(sendChunk)
    for (let i = 0; i < sendChunk; i++) messages[i] = { value: payload }
    return Effect.asVoid(producer.send({ topic, messages }))
  })

/** The `p` quantile (0..1) of ascending `sorted`. */
export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** The glibc tunable that lets `malloc` back its large blocks with transparent huge pages. */
const hugePagesTunable = "glibc.malloc.hugetlb=1"

/** Whether this process runs with {@link hugePagesTunable} (printed with the figures). */
export const mallocHugePages = (process.env.GLIBC_TUNABLES ?? "").includes(hugePagesTunable)

/**
 * Runs `main`, on Linux in a child process started with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
 * unless this one already has it (BENCH_HUGEPAGES=0 runs it as it is). The in-process logs keep
 * every batch in memory that `malloc` hands out, and on this VM the first touch of a fresh 4 KiB
 * page costs about 10 µs: at 1M records/s that is a quarter of a core. With the tunable, glibc
 * advises huge pages for its large blocks (2 MiB per fault instead of 4 KiB), as a JVM would be
 * run with `-XX:+UseTransparentHugePages`. It changes how memory is mapped, not what runs.
 */
export const runWithMallocHugePages = (main: () => void): void => {
  if (process.platform !== "linux" || mallocHugePages || process.env.BENCH_HUGEPAGES === "0") return main()
  const tunables = [process.env.GLIBC_TUNABLES, hugePagesTunable].filter((t) => t !== undefined && t !== "").join(":")
  // The child inherits tsx's loader and the source condition through `process.execArgv`.
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, GLIBC_TUNABLES: tunables }
  })
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
}
