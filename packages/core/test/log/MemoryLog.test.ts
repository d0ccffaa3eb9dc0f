import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Consumer from "../../src/client/Consumer.js"
import * as BatchBuilder from "../../src/log/BatchBuilder.js"
import * as MemoryLog from "../../src/log/MemoryLog.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const batch = (n: number) =>
  RecordBatch.encode({ records: Array.from({ length: n }, (_, i) => Record.fromStrings(`k${i}`, `v${i}`, i)) })

describe("MemoryLog", () => {
  it.effect("stored and built batches are checked once per process; a copy of one is checked again", () =>
    Effect.gen(function*() {
      const leader = yield* MemoryLog.make()
      const incoming = batch(3)
      expect(RecordBatch.isTrusted(incoming)).toBe(false) // the caller's array: checked on append
      yield* leader.append(incoming)
      const stored = (yield* leader.read(0, 1 << 20)).batches[0]!
      expect(RecordBatch.isTrusted(stored)).toBe(true)
      const builder = BatchBuilder.make(256, 1024)
      builder.append(null, new Uint8Array([1]), [], 5)
      expect(RecordBatch.isTrusted(builder.build({ producerId: -1, producerEpoch: -1, baseSequence: -1 }))).toBe(true)

      // a follower takes the stored array as it is; so would a consumer (checkFetched)
      const follower = yield* MemoryLog.make()
      yield* follower.appendAsFollower(stored)
      expect(Either.isRight(Consumer.checkFetched(0, [stored]))).toBe(true)

      // what a wire, a file or a serialising transport makes of it is a new array, checked again
      const copy = Uint8Array.from(stored)
      copy[copy.length - 1]! ^= 1
      expect(RecordBatch.isTrusted(copy)).toBe(false)
      expect((yield* Effect.flip(follower.appendAsFollower(copy)))._tag).toBe("CorruptRecord")
      expect(Either.isLeft(Consumer.checkFetched(0, [copy]))).toBe(true)

      // the skip is real: a stored array written in place (which nobody may do) is not re-read
      stored[stored.length - 1]! ^= 1
      expect(Either.isRight(RecordBatch.validateOnce(stored))).toBe(true)
      expect(Either.isLeft(RecordBatch.validate(stored))).toBe(true)
    }))

  it.effect("a crash keeps what was flushed and loses the rest when asked to", () =>
    Effect.gen(function*() {
      const log = yield* MemoryLog.make()
      yield* log.append(batch(3), { leaderEpoch: 1 })
      yield* log.flush
      yield* log.append(batch(2), { leaderEpoch: 2 })
      const lost = yield* MemoryLog.crash(log, { loseUnflushed: true })
      expect(yield* lost.logEndOffset).toBe(3)
      // epoch 2 began exactly at the surviving end: its assignment stays, as FileLog recovery keeps it
      expect(yield* lost.epochs).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 3 }])
      expect((yield* lost.append(batch(1))).baseOffset).toBe(3)
      expect((yield* Effect.flip(log.append(batch(1))))._tag).toBe("LogClosed") // the old instance is dead
      const kept = yield* MemoryLog.crash(lost, { loseUnflushed: false })
      expect(yield* kept.logEndOffset).toBe(4)
    }))

  it.effect("flushIntervalRecords moves the flushed mark; truncation and deletion are durable at once", () =>
    Effect.gen(function*() {
      const log = yield* MemoryLog.make({ flushIntervalRecords: 4, initialOffset: 100 })
      yield* log.append(batch(3))
      yield* log.append(batch(3)) // 6 >= 4: flushed
      yield* log.append(batch(1))
      yield* log.deleteBefore(103)
      const after = yield* MemoryLog.crash(log, { loseUnflushed: true })
      expect([yield* after.logStartOffset, yield* after.logEndOffset]).toEqual([103, 106])
      expect(yield* MemoryLog.sizeInBytes(after)).toBe(batch(3).length)
      yield* after.truncateTo(103)
      const again = yield* MemoryLog.crash(after, { loseUnflushed: false })
      expect([yield* again.logStartOffset, yield* again.logEndOffset]).toEqual([103, 103])
    }))
})
