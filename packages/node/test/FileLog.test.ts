import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { RecordBatch } from "@fiberlog/core"
import { Effect, Either, TestClock } from "effect"
import * as FileLog from "../src/FileLog.js"
import { batch, keyed, readAll, values, wide, wideValue } from "./log/batches.js"
import { logFiles, tempDir, withLog } from "./log/fileLogHarness.js"

describe("FileLog", () => {
  it.scoped("names segments by 20-digit base offset and rolls by size and age", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* withLog(dir, { segmentBytes: 200, segmentMs: 1000 }, (log) =>
        Effect.gen(function*() {
          const size = batch(5).length
          expect(size).toBeGreaterThan(100)
          yield* log.append(batch(5))
          yield* log.append(batch(5)) // does not fit: rolls
          yield* TestClock.adjust(1000)
          expect((yield* log.segments).length).toBe(2)
          yield* log.append(batch(1)) // the active segment is old: rolls
          expect((yield* log.segments).map((s) => s.baseOffset)).toEqual([0, 5, 10])
        }))
      expect(yield* logFiles(dir)).toEqual([
        "00000000000000000000.log",
        "00000000000000000005.log",
        "00000000000000000010.log"
      ])
      const fs = yield* FileSystem.FileSystem
      expect(yield* fs.exists(`${dir}/00000000000000000000.index`)).toBe(true)
      expect(yield* fs.exists(`${dir}/00000000000000000005.timeindex`)).toBe(true)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("reopens with its offsets, log start and epochs, and rebuilds missing indexes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fs = yield* FileSystem.FileSystem
      const options = { segmentBytes: 250, indexIntervalBytes: 1 }
      const before = yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          for (let e = 0; e < 6; e++) yield* log.append(batch(4, `e${e}`, 100 * e), { leaderEpoch: e })
          yield* log.deleteBefore(6)
          return { all: values(yield* readAll(log, 6)), epochs: yield* log.epochs, segments: yield* log.segments }
        }))
      expect(before.segments.length).toBeGreaterThan(2)
      yield* fs.remove(`${dir}/${(yield* logFiles(dir))[1]!.replace(".log", ".index")}`)
      yield* fs.remove(`${dir}/${(yield* logFiles(dir))[1]!.replace(".log", ".timeindex")}`)
      yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([6, 24])
          expect(yield* log.epochs).toEqual(before.epochs)
          expect(values(yield* readAll(log, 6))).toEqual(before.all)
          expect((yield* log.read(13, 1)).batches.map(RecordBatch.baseOffset)).toEqual([12])
          expect(yield* log.segments).toEqual(before.segments)
          expect((yield* log.append(batch(1))).baseOffset).toBe(24)
        }))
      expect(yield* fs.exists(`${dir}/${(yield* logFiles(dir))[1]!.replace(".log", ".index")}`)).toBe(true)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a wide batch failing its CRC (checked beside the write) is cut from the file; no segment or epoch stays", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fs = yield* FileSystem.FileSystem
      const small = batch(2, "a").length
      const options = { segmentBytes: small + wide(2).length + 10 } // a small and a wide batch fill a segment
      const fileSize = Effect.flatMap(logFiles(dir), (names) =>
        Effect.map(fs.stat(`${dir}/${names[names.length - 1]}`), (info) => Number(info.size)))
      const corrupt = (options?: Partial<RecordBatch.EncodeInput>) => {
        const b = wide(2, "bad", 10_000, 1000, options)
        b[b.length - 1]! ^= 1
        return b
      }
      yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          yield* log.append(batch(2, "a"), { leaderEpoch: 0 })
          const size = yield* fileSize
          const segments = yield* log.segments
          // Leader and follower, fitting the active segment: written beside the check, then cut.
          expect(yield* Effect.flip(log.append(corrupt(), { leaderEpoch: 0 }))).toMatchObject({
            _tag: "CorruptRecord",
            reason: "CRC-32C mismatch"
          })
          expect((yield* Effect.flip(log.appendAsFollower(corrupt({ baseOffset: 2 }))))._tag).toBe("CorruptRecord")
          expect(yield* fileSize).toBe(size)
          expect(yield* log.segments).toEqual(segments)
          // One that would roll the segment, or also start an epoch: checked first, nothing rolls.
          yield* log.append(wide(2, "b"), { leaderEpoch: 0 })
          const full = yield* log.segments
          expect(full.length).toBe(1)
          expect((yield* Effect.flip(log.append(corrupt(), { leaderEpoch: 0 })))._tag).toBe("CorruptRecord")
          expect((yield* Effect.flip(log.append(corrupt(), { leaderEpoch: 5 })))._tag).toBe("CorruptRecord")
          expect(yield* log.segments).toEqual(full)
          expect(yield* logFiles(dir)).toEqual(["00000000000000000000.log"])
          expect(yield* log.epochs).toEqual([{ epoch: 0, startOffset: 0 }])
          expect((yield* log.append(batch(2, "c"), { leaderEpoch: 0 })).baseOffset).toBe(4)
          expect((yield* log.segments).length).toBe(2)
        }))
      yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          expect(values(yield* readAll(log, 0))).toEqual([
            [0, "a-0"],
            [1, "a-1"],
            [2, wideValue("b", 0, 10_000)],
            [3, wideValue("b", 1, 10_000)],
            [4, "c-0"],
            [5, "c-1"]
          ])
          expect(yield* log.epochs).toEqual([{ epoch: 0, startOffset: 0 }])
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("retention deletes whole old segments by largest timestamp (TestClock) and by size", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* withLog(dir, { segmentBytes: 200, retentionMs: 5_000 }, (log) =>
        Effect.gen(function*() {
          for (let i = 0; i < 4; i++) yield* log.append(batch(5, "old", 0)) // 4 segments, ts 0..4
          yield* TestClock.setTime(4_000)
          expect(yield* log.enforceRetention).toBe(0) // 4000 - 4 is within 5000
          yield* log.append(batch(5, "new", 4_000))
          yield* TestClock.setTime(6_000)
          expect(yield* log.enforceRetention).toBe(4)
          expect(yield* log.logStartOffset).toBe(20)
          expect((yield* Effect.flip(log.read(0, 100)))._tag).toBe("OffsetOutOfRange")
          yield* TestClock.setTime(60_000)
          expect(yield* log.enforceRetention).toBe(0) // never the active segment
        }))
      const sized = yield* tempDir
      yield* withLog(sized, { segmentBytes: 200, retentionBytes: 500 }, (log) =>
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) yield* log.append(batch(5))
          const size = batch(5).length
          expect(yield* log.enforceRetention).toBe(5 - Math.ceil(500 / size))
          const left = yield* log.segments
          expect(left.reduce((n, s) => n + s.sizeInBytes, 0)).toBeGreaterThanOrEqual(500)
          expect(yield* log.logStartOffset).toBe(left[0]!.baseOffset)
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a background fiber runs retention every retentionCheckIntervalMs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* withLog(dir, { segmentBytes: 200, retentionMs: 1_000, retentionCheckIntervalMs: 500 }, (log) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) yield* log.append(batch(5, "x", 0))
          yield* TestClock.adjust(2_000)
          // The cleanup fiber woke; let its file I/O complete (event-loop turns, not timed sleeps).
          for (let i = 0; i < 100_000 && (yield* log.logStartOffset) !== 10; i++) {
            yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
          }
          expect(yield* log.logStartOffset).toBe(10)
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("compaction keeps the last value per key, offsets and order, and spares the active segment", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const options = { segmentBytes: 120, cleanupPolicy: "compact" as const, deleteRetentionMs: 10_000 }
      const after = yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          yield* log.append(keyed([["a", "1"], ["b", "1"]], 0))
          yield* log.append(keyed([["a", "2"], ["c", "1"]], 0))
          yield* log.append(keyed([["b", null], ["c", "2"]], 0))
          yield* log.append(keyed([["a", "3"]], 0)) // active segment: untouched
          yield* log.append(keyed([["a", "4"]], 0))
          expect((yield* log.segments).length).toBeGreaterThan(2)
          const stats = yield* log.compact
          expect(stats.bytesAfter).toBeLessThan(stats.bytesBefore)
          const all = values(yield* readAll(log, 0))
          expect(all).toEqual([[4, null], [5, "2"], [6, "3"], [7, "4"]]) // a@0,2 b@1 c@3 superseded
          yield* TestClock.setTime(10_000)
          yield* log.cleanup
          return values(yield* readAll(log, 0))
        }))
      expect(after).toEqual([[5, "2"], [6, "3"], [7, "4"]]) // b's tombstone expired
      yield* withLog(dir, options, (log) =>
        Effect.gen(function*() {
          expect(values(yield* readAll(log, 0))).toEqual(after)
          expect((yield* log.append(keyed([["z", "1"]], 0))).baseOffset).toBe(8)
          for (const b of yield* readAll(log, 0)) expect(Either.isRight(RecordBatch.validate(b))).toBe(true)
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("flushIntervalMs syncs from a background fiber; close is idempotent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* withLog(dir, { flushIntervalMs: 100, flushIntervalRecords: 2 }, (log) =>
        Effect.gen(function*() {
          yield* log.append(batch(3))
          yield* TestClock.adjust(250)
          yield* log.close
          yield* log.close
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it("decides retention as a pure function", () => {
    const segs = [{ size: 100, maxTimestamp: 10 }, { size: 100, maxTimestamp: 20 }, { size: 100, maxTimestamp: 30 }]
    expect(FileLog.segmentsToDelete(segs, 100, 75, undefined)).toBe(2)
    expect(FileLog.segmentsToDelete(segs, 100, undefined, 150)).toBe(1)
    expect(FileLog.segmentsToDelete(segs, 100, 1, 0)).toBe(2)
  })
})
