/**
 * `FileLog.layerFileSystem`, what a broker's FileLogs run on: appends written synchronously. The
 * FileLog conformance suite and property test also run on it.
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as FileLog from "../src/FileLog.js"
import * as SyncAppend from "../src/internal/filelog/syncAppend.js"
import { batch, readAll, values, wide } from "./log/batches.js"
import { activeSegmentSize, tempDir, withLog } from "./log/fileLogHarness.js"

describe("FileLog.layerFileSystem", () => {
  it.scoped("appends synchronously: a write completes inside runSync", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-" })
      const file = yield* fs.open(`${dir}/a.log`, { flag: "a+" })
      Effect.runSync(file.writeAll(new Uint8Array([1, 2, 3])))
      Effect.runSync(file.write(new Uint8Array([4])))
      expect(Array.from(yield* fs.readFile(`${dir}/a.log`))).toEqual([1, 2, 3, 4])
      // a file not opened for appending keeps the wrapped (thread-pool) writes
      const other = yield* fs.open(`${dir}/b.log`, { flag: "w" })
      expect(() => Effect.runSync(other.writeAll(new Uint8Array([1])))).toThrow()
    }).pipe(Effect.provide(FileLog.layerFileSystem)))

  it.effect("a failed synchronous write is a typed SystemError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.scoped(
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-" })
          return yield* fs.open(`${dir}/a.log`, { flag: "a" })
        })
      ).pipe(Effect.flatMap((closed) => Effect.flip(closed.writeAll(new Uint8Array([1])))))
      expect(error).toMatchObject({ _tag: "SystemError", module: "FileSystem", method: "writeAll", reason: "BadResource" })
    }).pipe(Effect.provide(FileLog.layerFileSystem)))

  it.scoped("SyncAppend.writeNow writes its chunks in order at the end, and a failure is a typed SystemError", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-" })
      const file = yield* fs.open(`${dir}/a.log`, { flag: "a+" })
      expect(SyncAppend.writesSynchronously(file)).toBe(true)
      expect(SyncAppend.writeNow(file, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])])).toBeUndefined()
      expect(SyncAppend.writeNow(file, [new Uint8Array([4])])).toBeUndefined()
      expect(Array.from(yield* fs.readFile(`${dir}/a.log`))).toEqual([1, 2, 3, 4])
      const closed = yield* Effect.scoped(fs.open(`${dir}/b.log`, { flag: "a" }))
      expect(SyncAppend.writeNow(closed, [new Uint8Array([1])])).toMatchObject({
        _tag: "SystemError",
        method: "writev",
        reason: "BadResource"
      })
    }).pipe(Effect.provide(FileLog.layerFileSystem)))

  for (const [name, layer] of [["layerFileSystem", FileLog.layerFileSystem], ["Node's FileSystem", NodeFileSystem.layer]] as const) {
    // Checked before the write on synchronous appends (it never reaches the file), beside it on the
    // thread pool (written, then cut back out): the log is as it was either way.
    it.scoped(`on ${name}: a large batch failing its CRC leaves the log as it was`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* withLog(dir, {}, (log) =>
          Effect.gen(function*() {
            yield* log.append(wide(2, "a"))
            const size = yield* activeSegmentSize(dir)
            for (let i = 0; i < 3; i++) {
              // as the leader's batch (any base offset), and as the follower's (at the log end)
              const bad = wide(2, "bad", 10_000, 1000, { baseOffset: 2 })
              expect(bad.length).toBeGreaterThanOrEqual(16 * 1024) // large enough to be checked beside an async write
              bad[bad.length - 1 - i * 1000]! ^= 1
              expect((yield* Effect.flip(log.append(bad)))._tag).toBe("CorruptRecord")
              expect((yield* Effect.flip(log.appendAsFollower(bad)))._tag).toBe("CorruptRecord")
            }
            expect(yield* activeSegmentSize(dir)).toBe(size)
            expect((yield* log.append(wide(2, "b"))).baseOffset).toBe(2)
            expect((yield* log.append(batch(1, "c"))).baseOffset).toBe(4)
            expect(values(yield* readAll(log, 0)).map(([o, v]) => [o, v?.replace(/\.+$/, "")])).toEqual([
              [0, "a-0"],
              [1, "a-1"],
              [2, "b-0"],
              [3, "b-1"],
              [4, "c-0"]
            ])
          }))
      }).pipe(Effect.provide(layer)))
  }

  // An append that is one synchronous write skips the lock when it is free; one arriving while
  // another operation is part-way (here a truncation, waiting on the thread pool) must wait for it.
  it.scoped("an append during a truncation part-way through waits for it, and lands after it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* withLog(dir, { indexIntervalBytes: 1 }, (log) =>
        Effect.gen(function*() {
          for (let i = 0; i < 10; i++) yield* log.append(batch(1, `a${i}`))
          const truncation = yield* Effect.fork(log.truncateTo(5))
          // Microtask turns only: the truncation starts and suspends on its first file operation,
          // which cannot complete before the event loop turns.
          for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
          const appending = yield* Effect.fork(log.append(batch(1, "b")))
          for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
          expect(truncation.unsafePoll()).toBeNull() // still part-way: the test saw what it means to
          expect(appending.unsafePoll()).toBeNull() // waiting for the lock
          yield* Fiber.join(truncation)
          expect((yield* Fiber.join(appending)).baseOffset).toBe(5)
          expect(values(yield* readAll(log, 0)).map(([o, v]) => `${o}:${v}`)).toEqual(
            ["0:a0-0", "1:a1-0", "2:a2-0", "3:a3-0", "4:a4-0", "5:b-0"]
          )
        }))
    }).pipe(Effect.provide(FileLog.layerFileSystem)))
})
