import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { RecordBatch } from "@fiberlog/core"
import { Effect } from "effect"
import { batch, readAll, values } from "./log/batches.js"
import { logFiles, tempDir, withLog } from "./log/fileLogHarness.js"

/** Five 3-record batches: three in the first segment, two in the last; the final one opens epoch 2. */
const setup = Effect.gen(function*() {
  const dir = yield* tempDir
  const size = batch(3, "b0").length
  const options = { segmentBytes: size * 3 + 10 }
  const expected = yield* withLog(dir, options, (log) =>
    Effect.gen(function*() {
      for (let i = 0; i < 4; i++) yield* log.append(batch(3, `b${i}`), { leaderEpoch: 1 })
      const intact = values(yield* readAll(log, 0))
      yield* log.append(batch(3, "b4"), { leaderEpoch: 2 })
      return { intact, all: values(yield* readAll(log, 0)) }
    }))
  const fs = yield* FileSystem.FileSystem
  const files = yield* logFiles(dir)
  expect(files).toEqual(["00000000000000000000.log", "00000000000000000009.log"])
  const path = `${dir}/${files[1]}`
  const original = yield* fs.readFile(path)
  const finalStart = original.length - size
  expect(RecordBatch.baseOffset(original.subarray(finalStart))).toBe(12)
  return { dir, options, path, original, finalStart, ...expected }
})

/** Reopens after damage: checks what survived, then that appends continue at the right offset. */
const reopenAndCheck = (
  s: Effect.Effect.Success<typeof setup>,
  survivors: ReadonlyArray<[number, string | null]>
) =>
  withLog(s.dir, s.options, (log) =>
    Effect.gen(function*() {
      const end = survivors[survivors.length - 1]![0] + 1
      expect(yield* log.logEndOffset).toBe(end)
      expect(values(yield* readAll(log, 0))).toEqual(survivors)
      expect((yield* log.epochs).every((e) => e.startOffset <= end)).toBe(true) // none past the end
      expect((yield* log.append(batch(1, "next"))).baseOffset).toBe(end)
      expect(values((yield* log.read(end, 100)).batches)).toEqual([[end, "next-0"]])
    }))

describe("FileLog recovery", () => {
  it.scoped("cut at every byte inside the final batch: the batches before survive, nothing after", () =>
    Effect.gen(function*() {
      const s = yield* setup
      const fs = yield* FileSystem.FileSystem
      for (let cut = s.finalStart; cut < s.original.length; cut++) {
        yield* fs.writeFile(s.path, s.original.subarray(0, cut))
        yield* reopenAndCheck(s, s.intact)
      }
      yield* fs.writeFile(s.path, s.original)
      yield* reopenAndCheck(s, s.all)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a flipped bit anywhere in the final batch drops it (except the unchecked epoch field)", () =>
    Effect.gen(function*() {
      const s = yield* setup
      const fs = yield* FileSystem.FileSystem
      for (let at = s.finalStart; at < s.original.length; at++) {
        const damaged = new Uint8Array(s.original) // a copy: Buffer.slice is a view
        damaged[at]! ^= 1 << (at % 8)
        yield* fs.writeFile(s.path, damaged)
        const rel = at - s.finalStart
        // partitionLeaderEpoch (bytes 12..15) is outside the CRC, as in Kafka: the records are intact.
        yield* reopenAndCheck(s, rel >= 12 && rel < 16 ? s.all : s.intact)
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("garbage after the last batch is truncated away", () =>
    Effect.gen(function*() {
      const s = yield* setup
      const fs = yield* FileSystem.FileSystem
      const junk = new Uint8Array(s.original.length + 100).fill(0xab)
      junk.set(s.original)
      yield* fs.writeFile(s.path, junk)
      yield* reopenAndCheck(s, s.all)
      expect((yield* fs.stat(s.path)).size).toBe(BigInt(s.original.length + batch(1, "next").length))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("truncateFullyAndStartAt survives a reopen: one empty segment at the new start, no epochs", () =>
    Effect.gen(function*() {
      const s = yield* setup
      yield* withLog(s.dir, s.options, (log) => log.truncateFullyAndStartAt(100))
      expect(yield* logFiles(s.dir)).toEqual(["00000000000000000100.log"])
      yield* withLog(s.dir, s.options, (log) =>
        Effect.gen(function*() {
          expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([100, 100])
          expect(yield* log.epochs).toEqual([])
          yield* log.appendAsFollower(batch(2, "f", 1000, { baseOffset: 100, partitionLeaderEpoch: 3 }))
        }))
      yield* withLog(s.dir, s.options, (log) =>
        Effect.gen(function*() {
          expect(values(yield* readAll(log, 100))).toEqual([[100, "f-0"], [101, "f-1"]])
          expect(yield* log.epochs).toEqual([{ epoch: 3, startOffset: 100 }])
        }))
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
