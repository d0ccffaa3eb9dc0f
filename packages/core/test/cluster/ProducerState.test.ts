import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Option } from "effect"
import * as ProducerState from "../../src/cluster/ProducerState.js"

const batch = (baseSequence: number, recordCount = 1, producerEpoch = 0, producerId = 7) => ({
  producerId,
  producerEpoch,
  baseSequence,
  recordCount
})
const tagOf = (r: ReturnType<typeof ProducerState.check>) =>
  Either.isRight(r) ? r.right._tag : Option.getOrThrow(Either.getLeft(r))._tag

describe("ProducerState", () => {
  it("in-order batches append; a retry gets its original offsets; a gap is refused", () => {
    let state = ProducerState.empty
    expect(tagOf(ProducerState.check(state, batch(0, 3)))).toBe("Append")
    state = ProducerState.onAppend(state, { ...batch(0, 3), baseOffset: 100 })
    expect(tagOf(ProducerState.check(state, batch(3, 2)))).toBe("Append")
    state = ProducerState.onAppend(state, { ...batch(3, 2), baseOffset: 103 })
    expect(ProducerState.check(state, batch(0, 3))).toEqual(
      Either.right(ProducerState.CheckResult.Duplicate({ baseOffset: 100, lastOffset: 102 }))
    )
    const gap = ProducerState.check(state, batch(6, 1))
    expect(Option.getOrThrow(Either.getLeft(gap))).toMatchObject({
      _tag: "OutOfOrderSequence",
      expectedSequence: 5,
      receivedSequence: 6
    })
  })

  it("a new producer and a new epoch must start at 0; older epochs are fenced", () => {
    expect(tagOf(ProducerState.check(ProducerState.empty, batch(4)))).toBe("OutOfOrderSequence")
    const state = ProducerState.onAppend(ProducerState.empty, { ...batch(0, 5, 1), baseOffset: 0 })
    expect(tagOf(ProducerState.check(state, batch(5, 1, 0)))).toBe("InvalidProducerEpoch")
    expect(tagOf(ProducerState.check(state, batch(5, 1, 2)))).toBe("OutOfOrderSequence")
    expect(tagOf(ProducerState.check(state, batch(0, 1, 2)))).toBe("Append")
    const bumped = ProducerState.onAppend(state, { ...batch(0, 1, 2), baseOffset: 5 })
    expect(bumped.get(7)!.batches).toEqual([{ firstSeq: 0, lastSeq: 0, baseOffset: 5, lastOffset: 5 }])
  })

  it("keeps only the last 5 batches: an older retry is out of order", () => {
    let state = ProducerState.empty
    for (let i = 0; i < 7; i++) state = ProducerState.onAppend(state, { ...batch(i), baseOffset: i })
    expect(state.get(7)!.batches.map((b) => b.firstSeq)).toEqual([2, 3, 4, 5, 6])
    expect(tagOf(ProducerState.check(state, batch(2)))).toBe("Duplicate")
    expect(tagOf(ProducerState.check(state, batch(1)))).toBe("OutOfOrderSequence")
  })

  it("sequences wrap at int32 max", () => {
    const max = ProducerState.maxSequence
    expect(ProducerState.incrementSequence(max, 1)).toBe(0)
    expect(ProducerState.lastSequence(batch(max - 1, 4))).toBe(1) // max-1, max, 0, 1
    let state = ProducerState.empty
    state = ProducerState.onAppend(state, { ...batch(0), baseOffset: 0 })
    state = new Map([[7, { ...state.get(7)!, batches: [{ firstSeq: max - 1, lastSeq: max, baseOffset: 0, lastOffset: 1 }] }]])
    expect(tagOf(ProducerState.check(state, batch(0, 2)))).toBe("Append")
    state = ProducerState.onAppend(state, { ...batch(0, 2), baseOffset: 2 })
    expect(tagOf(ProducerState.check(state, batch(2)))).toBe("Append")
  })

  it("rebuilds from the log's batch headers, skipping non-idempotent batches", () => {
    let live = ProducerState.empty
    const headers: Array<ProducerState.BatchHeader> = []
    let offset = 0
    for (const [pid, epoch, seq, count] of [[1, 0, 0, 2], [2, 0, 0, 1], [-1, -1, -1, 4], [1, 0, 2, 3], [1, 1, 0, 1]] as const) {
      headers.push({ producerId: pid, producerEpoch: epoch, baseSequence: seq, baseOffset: offset, lastOffset: offset + count - 1 })
      if (pid >= 0) live = ProducerState.onAppend(live, { ...batch(seq, count, epoch, pid), baseOffset: offset })
      offset += count
    }
    expect(ProducerState.fromBatches(headers)).toEqual(live)
  })

  it.prop("with retries and reordering, every sequence is appended exactly once, in order", [
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 20 }),
    fc.array(fc.nat(), { maxLength: 80 })
  ], ([sizes, picks]) => {
    // The producer's batches; the network delivers any in-flight one (max 5) any number of times.
    const batches = sizes.reduce<Array<{ seq: number; count: number }>>(
      (acc, count) => [...acc, { seq: acc.length === 0 ? 0 : acc.at(-1)!.seq + acc.at(-1)!.count, count }],
      []
    )
    let state = ProducerState.empty
    const log: Array<number> = [] // sequences, one per appended record
    let acked = 0 // batches before this one are acknowledged
    const deliver = (b: { seq: number; count: number }) => {
      const result = ProducerState.check(state, batch(b.seq, b.count))
      if (Either.isRight(result) && result.right._tag === "Append") {
        state = ProducerState.onAppend(state, { ...batch(b.seq, b.count), baseOffset: log.length })
        for (let i = 0; i < b.count; i++) log.push(b.seq + i)
      }
      if (Either.isRight(result) && result.right._tag === "Duplicate") {
        expect(log.slice(result.right.baseOffset, result.right.lastOffset + 1)).toEqual(
          Array.from({ length: b.count }, (_, i) => b.seq + i)
        )
      }
    }
    for (const pick of picks) {
      const inFlight = batches.slice(acked, acked + 5)
      if (inFlight.length === 0) break
      deliver(inFlight[pick % inFlight.length]!)
      while (acked < batches.length && log.length >= batches[acked]!.seq + batches[acked]!.count) acked++
    }
    for (const b of batches) deliver(b) // final retries of everything, in order
    const total = batches.reduce((n, b) => n + b.count, 0)
    expect(log).toEqual(Array.from({ length: total }, (_, i) => i))
  })
})
