/**
 * What the produce → consume benches (`produce-consume.ts` in process, `tcp.ts` over loopback)
 * share: the record size, the send chunks, the warm-up, the producer settings and the shared
 * payload, and the percentile they report latencies by.
 */
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
  Effect.asVoid(producer.send({ topic, messages: Array.from({ length: sendChunk }, () => ({ value: payload })) }))

/** The `p` quantile (0..1) of ascending `sorted`. */
export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
