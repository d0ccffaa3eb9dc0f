/**
 * FileLog under injected file-system faults: a write that fails half-way, and an undo (the cut
 * of a failed write, or of a batch that failed its CRC beside the write) that fails. The faults
 * come from a `FileSystem` wrapping Node's whose segment files misbehave on demand, in both ways a
 * FileLog writes: through the thread pool (Node's `FileSystem`), and synchronously
 * (`FileLog.layerFileSystem`, what a broker runs, whose failed write is cut back in the same step).
 */
import { FileSystem } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as SyncAppend from "../src/internal/filelog/syncAppend.js"
import { batch, readAll, values, wide } from "./log/batches.js"
import { activeSegmentSize, tempDir, withLog } from "./log/fileLogHarness.js"

/** What the segment files do wrong next. */
interface Faults {
  /** The next `writeAll` writes half its bytes, then fails. */
  halfWrite: boolean
  /** Every `truncate` fails. */
  truncateFails: boolean
}

const injected = (method: string) =>
  new SystemError({ reason: "Unknown", module: "FileSystem", method, description: "injected fault" })

/** Node's `FileSystem` (writes through the thread pool), its segment files misbehaving on demand. */
const threadPool = (faults: Faults) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
      ...fs,
      open: (path, options) =>
        Effect.map(fs.open(path, options), (file): FileSystem.File =>
          path.endsWith(".log")
            ? {
              [FileSystem.FileTypeId]: FileSystem.FileTypeId,
              fd: file.fd,
              stat: file.stat,
              sync: file.sync,
              seek: (offset, from) => file.seek(offset, from),
              read: (buffer) => file.read(buffer),
              readAlloc: (size) => file.readAlloc(size),
              write: (buffer) => file.write(buffer),
              writeAll: (buffer) => {
                if (!faults.halfWrite) return file.writeAll(buffer)
                faults.halfWrite = false
                return Effect.zipRight(file.writeAll(buffer.subarray(0, buffer.length >> 1)), Effect.fail(injected("writeAll")))
              },
              truncate: (length) => (faults.truncateFails ? Effect.fail(injected("truncate")) : file.truncate(length))
            }
            : file)
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

/** Node's `FileSystem` with synchronous appends (`FileLog.layerFileSystem`), whose calls misbehave on demand. */
const synchronous = (faults: Faults) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs) =>
      SyncAppend.withSyncAppends(fs, {
        writev: (fd, chunks) => {
          if (!faults.halfWrite) return SyncAppend.nodeSyncIo.writev(fd, chunks)
          faults.halfWrite = false
          const all = Buffer.concat(chunks)
          SyncAppend.nodeSyncIo.writev(fd, [all.subarray(0, all.length >> 1)])
          throw Object.assign(new Error("injected fault"), { code: "ENOSPC" })
        },
        truncate: (fd, length) => {
          if (faults.truncateFails) throw Object.assign(new Error("injected fault"), { code: "EIO" })
          SyncAppend.nodeSyncIo.truncate(fd, length)
        }
      }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

const ways = [["through the thread pool", threadPool], ["synchronous", synchronous]] as const

/** Wide enough for its CRC to be checked beside the write (see `wide`), and failing it. */
const corrupt = () => {
  const b = wide(2, "bad")
  b[b.length - 1]! ^= 1
  return b
}

/**
 * Appends `bad` with the faults `arm` (after one good batch, appended without faults), which fails
 * and leaves bytes the log cannot cut back out: the log stops; reopened, it has the good batch and
 * goes on after it.
 */
const cutFails = (faulty: (faults: Faults) => Layer.Layer<FileSystem.FileSystem>, arm: Faults, bad: Uint8Array) =>
  Effect.gen(function*() {
    const current: Faults = { halfWrite: false, truncateFails: false }
    const dir = yield* tempDir
    yield* withLog(dir, {}, (log) =>
      Effect.gen(function*() {
        yield* log.append(batch(2, "a"))
        Object.assign(current, arm)
        expect(yield* Effect.flip(log.append(bad))).toMatchObject({ _tag: "StorageError", operation: "append" })
        // The file holds bytes the log does not account for: nothing more goes in.
        expect((yield* Effect.flip(log.append(batch(1, "b"))))._tag).toBe("LogClosed")
        expect((yield* Effect.flip(log.read(0, 100)))._tag).toBe("LogClosed")
      })).pipe(Effect.provide(faulty(current)))
    yield* withLog(dir, {}, (log) =>
      Effect.gen(function*() {
        expect(values(yield* readAll(log, 0))).toEqual([[0, "a-0"], [1, "a-1"]])
        expect((yield* log.append(batch(1, "b"))).baseOffset).toBe(2)
      }))
  }).pipe(Effect.provide(NodeFileSystem.layer))

describe("FileLog faults", () => {
  for (const [way, faulty] of ways) {
    it.scoped(`${way}: a write failing half-way fails the append with StorageError and is cut from the file`, () =>
      Effect.gen(function*() {
        const faults: Faults = { halfWrite: false, truncateFails: false }
        const dir = yield* tempDir
        yield* withLog(dir, {}, (log) =>
          Effect.gen(function*() {
            yield* log.append(batch(2, "a"))
            const size = yield* activeSegmentSize(dir)
            faults.halfWrite = true
            expect(yield* Effect.flip(log.append(wide(2, "lost")))).toMatchObject({ _tag: "StorageError", operation: "append" })
            expect(yield* activeSegmentSize(dir)).toBe(size)
            expect(yield* log.logEndOffset).toBe(2)
            faults.halfWrite = true
            const follower = yield* Effect.flip(log.appendAsFollower(batch(1, "lost", 1000, { baseOffset: 2 })))
            expect(follower).toMatchObject({ _tag: "StorageError", operation: "append" })
            expect(yield* activeSegmentSize(dir)).toBe(size)
            expect((yield* log.append(batch(1, "b"))).baseOffset).toBe(2)
            expect((yield* log.appendAsFollower(batch(1, "c", 1000, { baseOffset: 3 }))).baseOffset).toBe(3)
            expect(values(yield* readAll(log, 0))).toEqual([[0, "a-0"], [1, "a-1"], [2, "b-0"], [3, "c-0"]])
          })).pipe(Effect.provide(faulty(faults)))
      }).pipe(Effect.provide(NodeFileSystem.layer)))

    it.scoped(`${way}: if the cut of a failed write fails too, the log stops; reopening drops the torn tail`, () =>
      cutFails(faulty, { halfWrite: true, truncateFails: true }, wide(2, "torn")))
  }

  it.scoped("if the cut of a corrupt batch fails, the log stops; reopening drops the corrupt tail", () =>
    cutFails(threadPool, { halfWrite: false, truncateFails: true }, corrupt()))
})
