/**
 * The PartitionLog conformance suite: one set of behaviours every implementation must show.
 * Call it with a name and a constructor; the MemoryLog and FileLog tests both run it.
 */
import { describe, expect, it } from "@effect/vitest"
import { LeaderEpochCache, type PartitionLog, RecordBatch } from "@fiberlog/core"
import { Effect, Either, Option, type Scope, TestClock } from "effect"
import { batch, readAll, values, wide } from "./batches.js"

/** Builds a fresh, empty log for one test. */
export type MakeLog = () => Effect.Effect<PartitionLog.PartitionLog, unknown, Scope.Scope>

export const conformance = (name: string, makeLog: MakeLog) =>
  describe(`PartitionLog conformance: ${name}`, () => {
    it.scoped("assigns contiguous offsets and reads back the same records", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        const a = yield* log.append(batch(3, "a"))
        const b = yield* log.append(batch(2, "b"))
        expect([a.baseOffset, a.lastOffset, b.baseOffset, b.lastOffset]).toEqual([0, 2, 3, 4])
        expect(yield* log.logEndOffset).toBe(5)
        const all = yield* readAll(log, 0)
        expect(values(all)).toEqual([[0, "a-0"], [1, "a-1"], [2, "a-2"], [3, "b-0"], [4, "b-1"]])
        for (const b of all) expect(Either.isRight(RecordBatch.validate(b))).toBe(true)
      }))

    it.scoped("truncateTo at the log end drops an epoch that starts there (a former leader's, with no record)", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.append(batch(5), { leaderEpoch: 0 })
        yield* log.assignEpoch(1, 5) // became leader at offset 5, then lost leadership before appending
        expect(LeaderEpochCache.latestEpoch(yield* log.epochs)).toBe(1)
        yield* log.truncateTo(5) // the new leader says: diverged at 5
        expect(yield* log.logEndOffset).toBe(5)
        expect(LeaderEpochCache.latestEpoch(yield* log.epochs)).toBe(0)
        yield* log.truncateTo(9) // past the end: nothing to drop
        expect(LeaderEpochCache.latestEpoch(yield* log.epochs)).toBe(0)
      }))

    it.scoped("returns whole batches: the containing one mid-batch, at least one past maxBytes", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        for (let i = 0; i < 4; i++) yield* log.append(batch(10))
        const mid = yield* log.read(15, 1)
        expect(mid.batches.length).toBe(1)
        expect(RecordBatch.baseOffset(mid.batches[0]!)).toBe(10)
        const two = yield* log.read(0, mid.batches[0]!.length * 2)
        expect(two.batches.length).toBeLessThanOrEqual(2)
        expect(two.sizeInBytes).toBeLessThanOrEqual(mid.batches[0]!.length * 2)
        expect((yield* log.read(40, 1000)).batches).toEqual([])
      }))

    it.scoped("fails out-of-range reads with OffsetOutOfRange", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.append(batch(5))
        const above = yield* Effect.flip(log.read(6, 100))
        expect(above).toMatchObject({ _tag: "OffsetOutOfRange", offset: 6, logStartOffset: 0, logEndOffset: 5 })
        yield* log.deleteBefore(3)
        expect(yield* log.logStartOffset).toBe(3)
        expect((yield* Effect.flip(log.read(2, 100)))._tag).toBe("OffsetOutOfRange")
        expect(values((yield* log.read(3, 100)).batches)[0]![0]).toBe(0) // the batch holding 3
      }))

    it.scoped("rejects corrupt and empty batches", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        const bad = batch(2)
        bad[bad.length - 1]! ^= 1
        expect((yield* Effect.flip(log.append(bad)))._tag).toBe("CorruptRecord")
        expect((yield* Effect.flip(log.append(RecordBatch.encode({ records: [] }))))._tag).toBe("CorruptRecord")
        expect(yield* log.logEndOffset).toBe(0)
      }))

    it.scoped("a corrupt batch, leader or follower, CreateTime or LogAppendTime, leaves the log as it was", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.append(batch(2, "ok"), { leaderEpoch: 1 })
        const flip = (b: Uint8Array, at: number) => {
          b[at]! ^= 0x10
          return b
        }
        // Small batches, and wide ones (a FileLog checks those beside its write, then undoes it).
        const corrupt = [batch, (n: number, tag: string, ts: number, options?: Partial<RecordBatch.EncodeInput>) =>
          wide(n, tag, 10_000, ts, options)].flatMap((make) => [
            () => log.append(flip(make(3, "x", 1000), 70), { leaderEpoch: 1 }),
            () => log.append(flip(make(3, "x", 1000), 70), { leaderEpoch: 2 }), // would start an epoch
            () => log.append(flip(make(3, "x", 1000, { timestampType: "LogAppendTime" }), 70)), // restamped only if valid
            () => log.appendAsFollower(flip(make(3, "x", 1000, { baseOffset: 2, partitionLeaderEpoch: 1 }), 70))
          ])
        for (const attempt of corrupt) {
          const err = yield* Effect.flip(attempt())
          expect(err).toMatchObject({ _tag: "CorruptRecord", reason: "CRC-32C mismatch" })
          expect(yield* log.logEndOffset).toBe(2)
          expect(yield* log.epochs).toEqual([{ epoch: 1, startOffset: 0 }])
        }
        expect((yield* log.append(batch(1, "next"), { leaderEpoch: 1 })).baseOffset).toBe(2)
        yield* log.appendAsFollower(batch(1, "f", 1000, { baseOffset: 3, partitionLeaderEpoch: 1 }))
        const all = yield* readAll(log, 0)
        expect(values(all)).toEqual([[0, "ok-0"], [1, "ok-1"], [2, "next-0"], [3, "f-0"]])
        for (const b of all) expect(Either.isRight(RecordBatch.validate(b))).toBe(true)
      }))

    it.scoped("truncateTo drops the batch holding the offset and everything after", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        for (let i = 0; i < 4; i++) yield* log.append(batch(5, `b${i}`), { leaderEpoch: i })
        yield* log.truncateTo(15)
        expect(yield* log.logEndOffset).toBe(15)
        yield* log.truncateTo(12)
        expect(yield* log.logEndOffset).toBe(10)
        expect(yield* log.epochs).toEqual([{ epoch: 0, startOffset: 0 }, { epoch: 1, startOffset: 5 }])
        const next = yield* log.append(batch(1, "after"))
        expect(next.baseOffset).toBe(10)
        expect(values(yield* readAll(log, 0)).map(([o]) => o)).toEqual(Array.from({ length: 11 }, (_, i) => i))
        yield* log.truncateTo(0)
        expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([0, 0])
      }))

    it.scoped("truncateFullyAndStartAt empties the log and restarts it at the offset, above or below the old end", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        for (let i = 0; i < 3; i++) yield* log.append(batch(5, `b${i}`), { leaderEpoch: i })
        yield* log.truncateFullyAndStartAt(40) // the leader's log start, past this log's end
        expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([40, 40])
        expect(yield* log.epochs).toEqual([])
        expect(yield* log.endOffsetFor(2)).toEqual({ leaderEpoch: LeaderEpochCache.UNDEFINED, endOffset: -1 })
        expect((yield* Effect.flip(log.read(39, 100)))._tag).toBe("OffsetOutOfRange")
        expect((yield* log.read(40, 100)).batches).toEqual([])
        expect(yield* log.offsetForTimestamp(0)).toEqual(Option.none())
        const err = yield* Effect.flip(log.appendAsFollower(batch(1, "f", 1, { baseOffset: 15 })))
        expect(err).toMatchObject({ _tag: "NonContiguousOffset", expectedOffset: 40 })
        yield* log.appendAsFollower(batch(2, "f", 1, { baseOffset: 40, partitionLeaderEpoch: 5 }))
        expect(yield* log.epochs).toEqual([{ epoch: 5, startOffset: 40 }])
        expect(values(yield* readAll(log, 40))).toEqual([[40, "f-0"], [41, "f-1"]])
        yield* log.truncateFullyAndStartAt(41) // inside the log: nothing survives, not even offset 40
        expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([41, 41])
        yield* log.truncateFullyAndStartAt(41) // again at the same place: still empty
        expect((yield* log.append(batch(1, "x"), { leaderEpoch: 6 })).baseOffset).toBe(41)
        yield* log.truncateFullyAndStartAt(3) // below the old start
        expect([yield* log.logStartOffset, yield* log.logEndOffset, (yield* log.epochs).length]).toEqual([3, 3, 0])
        expect((yield* log.append(batch(2, "y"))).baseOffset).toBe(3)
        expect(values(yield* readAll(log, 3))).toEqual([[3, "y-0"], [4, "y-1"]])
      }))

    it.scoped("keeps leader offsets on follower appends and checks they continue", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.appendAsFollower(batch(3, "f", 1, { baseOffset: 0, partitionLeaderEpoch: 2 }))
        const err = yield* Effect.flip(log.appendAsFollower(batch(1, "f", 1, { baseOffset: 7 })))
        expect(err).toMatchObject({ _tag: "NonContiguousOffset", expectedOffset: 3, actualOffset: 7 })
        yield* log.appendAsFollower(batch(1, "f", 1, { baseOffset: 3, partitionLeaderEpoch: 4 }))
        expect(yield* log.logEndOffset).toBe(4)
        expect(yield* log.epochs).toEqual([{ epoch: 2, startOffset: 0 }, { epoch: 4, startOffset: 3 }])
      }))

    it.scoped("answers OffsetsForLeaderEpoch from the epoch cache", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.assignEpoch(1, 0)
        yield* log.append(batch(5), { leaderEpoch: 1 })
        yield* log.assignEpoch(3, 5)
        yield* log.append(batch(5), { leaderEpoch: 3 })
        expect(RecordBatch.header((yield* log.read(5, 10)).batches[0]!).partitionLeaderEpoch).toBe(3)
        expect(yield* log.endOffsetFor(1)).toEqual({ leaderEpoch: 1, endOffset: 5 })
        expect(yield* log.endOffsetFor(2)).toEqual({ leaderEpoch: 1, endOffset: 5 })
        expect(yield* log.endOffsetFor(3)).toEqual({ leaderEpoch: 3, endOffset: 10 })
        expect(yield* log.endOffsetFor(4)).toEqual({ leaderEpoch: LeaderEpochCache.UNDEFINED, endOffset: -1 })
        yield* log.deleteBefore(7)
        expect(yield* log.epochs).toEqual([{ epoch: 3, startOffset: 7 }])
      }))

    it.scoped("finds the first offset at or after a timestamp", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.append(batch(5, "a", 100)) // ts 100..104
        yield* log.append(batch(5, "b", 200)) // ts 200..204
        expect(yield* log.offsetForTimestamp(0)).toEqual(Option.some({ offset: 0, timestamp: 100 }))
        expect(yield* log.offsetForTimestamp(103)).toEqual(Option.some({ offset: 3, timestamp: 103 }))
        expect(yield* log.offsetForTimestamp(150)).toEqual(Option.some({ offset: 5, timestamp: 200 }))
        expect(yield* log.offsetForTimestamp(205)).toEqual(Option.none())
        yield* log.deleteBefore(7)
        expect(yield* log.offsetForTimestamp(0)).toEqual(Option.some({ offset: 7, timestamp: 202 }))
      }))

    it.scoped("stamps LogAppendTime batches with the Clock", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* TestClock.setTime(50_000)
        const info = yield* log.append(batch(2, "t", 1, { timestampType: "LogAppendTime" }))
        expect(info.logAppendTimeMs).toBe(50_000)
        expect(RecordBatch.header((yield* log.read(0, 100)).batches[0]!).maxTimestamp).toBe(50_000)
        expect((yield* log.append(batch(1))).logAppendTimeMs).toBe(-1)
      }))

    it.scoped("deleteBefore never passes the log end and refuses use after close", () =>
      Effect.gen(function*() {
        const log = yield* makeLog()
        yield* log.append(batch(3))
        yield* log.deleteBefore(100)
        expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([3, 3])
        expect((yield* log.append(batch(1))).baseOffset).toBe(3)
        yield* log.close
        expect((yield* Effect.flip(log.append(batch(1))))._tag).toBe("LogClosed")
      }))
  })
