/**
 * The pieces a broker's FileLog appends go through: `FileLog.layerFileSystem` (appends written
 * synchronously) and the CRC-32C offload (large batches checked on a worker thread beside the
 * write). The FileLog conformance suite and property test also run on `layerFileSystem`.
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { crc32c } from "@node-rs/crc32"
import { Effect, FastCheck as fc } from "effect"
import * as FileLog from "../src/FileLog.js"
import * as CrcOffload from "../src/internal/filelog/crcOffload.js"
import { batch, readAll, values, wide } from "./log/batches.js"
import { logFiles, tempDir, withLog } from "./log/fileLogHarness.js"

const bytesOf = (size: number, seed: number): Uint8Array => {
  const b = new Uint8Array(size)
  let x = seed | 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

describe("CRC-32C offload", () => {
  it("answers every job with its CRC, whatever the order of begin and finish", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            size: fc.constantFrom(100, CrcOffload.OFFLOAD_MIN_BYTES - 1, CrcOffload.OFFLOAD_MIN_BYTES, 100_000, CrcOffload.OFFLOAD_MAX_BYTES + 1),
            seed: fc.integer(),
            // finish this job before the next begin, or leave it pending across later begins
            finishNow: fc.boolean()
          }),
          { minLength: 1, maxLength: 12 }
        ),
        (specs) => {
          const open: Array<{ job: CrcOffload.Job; expected: number }> = []
          for (const { finishNow, seed, size } of specs) {
            const bytes = bytesOf(size, seed)
            const job = CrcOffload.begin(bytes)
            const expected = crc32c(bytes)
            if (finishNow) expect(CrcOffload.finish(job)).toBe(expected)
            else open.push({ job, expected })
          }
          for (const { expected, job } of open.reverse()) expect(CrcOffload.finish(job)).toBe(expected)
        }
      ),
      { numRuns: 60, seed: 20261126 }
    ))

  it("the worker's answers are the CRCs (each job waits until the worker has taken it)", () => {
    for (let i = 0; i < 20; i++) {
      const bytes = bytesOf(50_000 + i * 1000, i)
      const job = CrcOffload.begin(bytes)
      const giveUp = performance.now() + 10_000
      while (!CrcOffload.isTaken(job)) {
        if (performance.now() > giveUp) throw new Error("the CRC worker never took a job")
      }
      expect(CrcOffload.finish(job)).toBe(crc32c(bytes))
    }
  })

  it("a job's answer does not change when its bytes are offered again or the buffer is reused", () => {
    const a = bytesOf(100_000, 1)
    const b = bytesOf(100_000, 2)
    const ja = CrcOffload.begin(a)
    const jb = CrcOffload.begin(b) // finishes ja first, then reuses the shared buffer
    expect(CrcOffload.finish(jb)).toBe(crc32c(b))
    expect(CrcOffload.finish(ja)).toBe(crc32c(a))
    expect(CrcOffload.finish(ja)).toBe(crc32c(a))
  })
})

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

  for (const [name, layer] of [["layerFileSystem", FileLog.layerFileSystem], ["Node's FileSystem", NodeFileSystem.layer]] as const) {
    it.scoped(`on ${name}: a large batch failing its CRC (checked beside the write) is cut back out`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* withLog(dir, {}, (log) =>
          Effect.gen(function*() {
            yield* log.append(wide(2, "a"))
            const fs = yield* FileSystem.FileSystem
            const names = yield* logFiles(dir)
            const size = Number((yield* fs.stat(`${dir}/${names[0]}`)).size)
            for (let i = 0; i < 3; i++) {
              // as the leader's batch (any base offset), and as the follower's (at the log end)
              const bad = wide(2, "bad", 10_000, 1000, { baseOffset: 2 })
              expect(bad.length).toBeGreaterThanOrEqual(CrcOffload.OFFLOAD_MIN_BYTES)
              bad[bad.length - 1 - i * 1000]! ^= 1
              expect((yield* Effect.flip(log.append(bad)))._tag).toBe("CorruptRecord")
              expect((yield* Effect.flip(log.appendAsFollower(bad)))._tag).toBe("CorruptRecord")
            }
            expect(Number((yield* fs.stat(`${dir}/${names[0]}`)).size)).toBe(size)
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
})
