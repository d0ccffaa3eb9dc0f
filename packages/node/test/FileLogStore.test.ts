/**
 * FileLogStore applies each topic's config to its partition logs: retention and segment size, the
 * cleanup policy, and a background cleanup every `retentionCheckIntervalMs` (driven by TestClock).
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Metadata } from "@fiberlog/core"
import { Effect, Either, TestClock } from "effect"
import * as FileLog from "../src/FileLog.js"
import * as FileLogStore from "../src/FileLogStore.js"
import { batch, keyed, readAll, values } from "./log/batches.js"
import { logFiles, tempDir } from "./log/fileLogHarness.js"

const topicConfig = (input: Metadata.TopicConfigInput) => Either.getOrThrow(Metadata.makeTopicConfig(input, 1))

/** Lets a woken cleanup fiber finish its file I/O (event-loop turns, not timed sleeps). */
const until = (done: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100_000 && !(yield* done); i++) {
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
    }
  })

describe("FileLogStore: topic configs", () => {
  it("maps a topic config onto FileLog options, over the store-wide settings", () => {
    const dir = "/d/t-0"
    expect(FileLogStore.logOptions({ dataDir: "/d" }, dir, topicConfig({}))).toEqual({
      retentionMs: 604_800_000, // retentionBytes -1: no limit, left out
      cleanupPolicy: "delete",
      segmentBytes: 1_073_741_824,
      retentionCheckIntervalMs: FileLogStore.DEFAULT_RETENTION_CHECK_INTERVAL_MS,
      dir
    })
    const store = {
      dataDir: "/d",
      retentionCheckIntervalMs: 1_000,
      log: { flushIntervalMs: 50, retentionBytes: 10, segmentBytes: 500, segmentMs: 60_000 }
    }
    expect(FileLogStore.logOptions(store, dir, topicConfig({ retentionMs: -1, cleanupPolicy: "compact", segmentBytes: 100 })))
      .toEqual({ flushIntervalMs: 50, segmentMs: 60_000, cleanupPolicy: "compact", segmentBytes: 100, retentionCheckIntervalMs: 1_000, dir })
    // Without a config, the store-wide settings are the log's.
    expect(FileLogStore.logOptions(store, dir)).toEqual({ ...store.log, retentionCheckIntervalMs: 1_000, dir })
  })

  it.scoped("retention by size: a small-segment topic's old segments go on the background cleanup", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDir
      const store = yield* FileLogStore.make({ dataDir })
      const size = batch(5, "x", 0).length
      const config = topicConfig({ segmentBytes: size + 10, retentionBytes: size * 2, retentionMs: -1 })
      const log = (yield* store.open("t", 0, config)) as FileLog.FileLog
      for (let i = 0; i < 6; i++) yield* log.append(batch(5, `x${i}`, 0))
      expect((yield* log.segments).length).toBe(6) // one batch per segment
      yield* TestClock.adjust(FileLogStore.DEFAULT_RETENTION_CHECK_INTERVAL_MS - 1)
      expect(yield* log.logStartOffset).toBe(0) // not yet: the check runs every 5 minutes
      yield* TestClock.adjust(1)
      yield* until(Effect.map(log.logStartOffset, (start) => start > 0))
      // Kafka's rule: drop the oldest segments while what stays is at least retentionBytes.
      expect(yield* log.logStartOffset).toBe(20)
      expect((yield* log.segments).map((s) => s.baseOffset)).toEqual([20, 25])
      expect(yield* logFiles(`${dataDir}/${FileLogStore.partitionDir("t", 0)}`)).toEqual([
        "00000000000000000020.log",
        "00000000000000000025.log"
      ])
      expect(values(yield* readAll(log, 20)).map(([, v]) => v)).toEqual([
        ...Array.from({ length: 5 }, (_, i) => `x4-${i}`),
        ...Array.from({ length: 5 }, (_, i) => `x5-${i}`)
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a compact topic's log is compacted by the background cleanup", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDir
      const store = yield* FileLogStore.make({ dataDir, retentionCheckIntervalMs: 1_000 })
      const log = (yield* store.open("c", 0, topicConfig({ cleanupPolicy: "compact", segmentBytes: 120 }))) as FileLog.FileLog
      yield* log.append(keyed([["a", "1"], ["b", "1"]], 0))
      yield* log.append(keyed([["a", "2"], ["c", "1"]], 0))
      yield* log.append(keyed([["b", "2"], ["c", "2"]], 0))
      yield* log.append(keyed([["a", "3"]], 0)) // active segment: untouched
      expect((yield* log.segments).length).toBeGreaterThan(2)
      yield* TestClock.adjust(1_000)
      // a@0, b@1, c@3 are superseded; a@2 stays, as only a@6 in the active segment replaces it.
      const compacted = [[2, "2"], [4, "2"], [5, "2"], [6, "3"]]
      yield* until(Effect.map(Effect.orDie(readAll(log, 0)), (all) => values(all).length === compacted.length))
      expect(values(yield* readAll(log, 0))).toEqual(compacted)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
