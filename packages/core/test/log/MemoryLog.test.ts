import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MemoryLog from "../../src/log/MemoryLog.js"
import * as Record from "../../src/log/Record.js"
import * as RecordBatch from "../../src/log/RecordBatch.js"

const batch = (n: number) =>
  RecordBatch.encode({ records: Array.from({ length: n }, (_, i) => Record.fromStrings(`k${i}`, `v${i}`, i)) })

describe("MemoryLog", () => {
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
