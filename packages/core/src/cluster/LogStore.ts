/**
 * Where a broker's partition logs live. A replica opens its log from the store on every (re)start,
 * so the log outlives the actor: in memory for the embedded cluster and the testkit (surviving a
 * simulated crash, minus what was not flushed when asked), on disk with `FileLog` in @fiberlog/node.
 *
 * The broker opens a partition's log with its topic's `TopicConfig`, so a store can apply the
 * topic's retention, cleanup policy and segment size (the file store does; the memory store keeps
 * every batch). The config counts when a log is first opened: later opens return the open log.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as PartitionLog from "../log/PartitionLog.js"
import * as MemoryLog from "../log/MemoryLog.js"
import type { TopicConfig } from "./Metadata.js"

/** Opens and drops the partition logs of one broker. */
export interface LogStore {
  /**
   * The partition's log, opened (or recovered) on first use with `config`, the topic's settings
   * (`retentionMs`, `retentionBytes`, `cleanupPolicy`, `segmentBytes`), where the store applies
   * them; without it, the store's own defaults.
   */
  readonly open: (topic: string, partition: number, config?: TopicConfig) => Effect.Effect<PartitionLog.PartitionLog>
  readonly drop: (topic: string, partition: number) => Effect.Effect<void>
}

/** An in-memory store whose logs can be "crashed" (keeping only what was flushed) for a restart. */
export interface MemoryLogStore extends LogStore {
  /** Simulates the broker process dying: every log keeps all it had, or only what was flushed. */
  readonly crash: (options: { readonly loseUnflushed: boolean }) => Effect.Effect<void>
}

/**
 * Makes an in-memory log store. `flushIntervalRecords` is passed to every `MemoryLog`. It ignores
 * the topic config of `open`: in-memory logs (the embedded cluster, the testkit) keep every batch,
 * so nothing is deleted or compacted behind the checkers' backs; retention and compaction are the
 * file store's (`FileLogStore` in @fiberlog/node).
 */
export const memory = (options: MemoryLog.Options = {}): MemoryLogStore => {
  const logs = new Map<string, MemoryLog.MemoryLog>()
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`
  return {
    open: (topic, partition) =>
      Effect.suspend(() => {
        const existing = logs.get(key(topic, partition))
        if (existing !== undefined) return Effect.succeed(existing)
        return Effect.tap(MemoryLog.make(options), (log) => Effect.sync(() => logs.set(key(topic, partition), log)))
      }),
    drop: (topic, partition) => Effect.sync(() => void logs.delete(key(topic, partition))),
    crash: ({ loseUnflushed }) =>
      Effect.forEach([...logs.entries()], ([k, log]) =>
        Effect.map(MemoryLog.crash(log, { loseUnflushed }), (recovered) => void logs.set(k, recovered)), {
        discard: true
      })
  }
}
