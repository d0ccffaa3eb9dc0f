/**
 * Property: random appends, truncations, deletions, size retention, epoch bumps and reopenings
 * against a simple model (an array of records, a start offset, and epoch starts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as FileLog from "../src/FileLog.js"
import { batch, readAll, values } from "./log/batches.js"
import { tempDir } from "./log/fileLogHarness.js"

type Op =
  | { readonly _tag: "append"; readonly count: number }
  | { readonly _tag: "truncate"; readonly back: number }
  | { readonly _tag: "deleteBefore"; readonly forward: number }
  | { readonly _tag: "retention" }
  | { readonly _tag: "bumpEpoch" }
  | { readonly _tag: "reopen" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 6 }).map((count) => ({ _tag: "append" as const, count })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 12 }).map((back) => ({ _tag: "truncate" as const, back })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 }).map((forward) => ({ _tag: "deleteBefore" as const, forward })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "retention" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "bumpEpoch" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "reopen" as const }) }
)

/** The model's OffsetsForLeaderEpoch, written independently of LeaderEpochCache. */
const modelEndOffsetFor = (epochs: ReadonlyArray<{ epoch: number; start: number }>, e: number, end: number) => {
  if (epochs.length === 0) return { leaderEpoch: -1, endOffset: -1 }
  if (epochs[epochs.length - 1]!.epoch === e) return { leaderEpoch: e, endOffset: end }
  const next = epochs.find((x) => x.epoch > e)
  if (next === undefined) return { leaderEpoch: -1, endOffset: -1 }
  const prev = [...epochs].reverse().find((x) => x.epoch <= e)
  return { leaderEpoch: prev === undefined ? e : prev.epoch, endOffset: next.start }
}

const run = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const options = { dir, segmentBytes: 300, indexIntervalBytes: 64, retentionBytes: 600 }
    // Model: records by offset (batch boundaries kept to mirror whole-batch truncation).
    let batches: Array<{ base: number; last: number; values: Array<string> }> = []
    let start = 0
    let end = 0
    let epoch = 0
    let epochs: Array<{ epoch: number; start: number }> = []
    let n = 0
    let scope = yield* Effect.scope
    let log = yield* FileLog.make(options)
    const check = Effect.gen(function*() {
      expect([yield* log.logStartOffset, yield* log.logEndOffset]).toEqual([start, end])
      const expected = batches.flatMap((b) => b.values.map((v, i): [number, string] => [b.base + i, v])).filter(([o]) =>
        o >= start
      )
      expect(values(yield* readAll(log, start)).filter(([o]) => o >= start)).toEqual(expected)
      expect((yield* log.epochs).map((e) => ({ epoch: e.epoch, start: e.startOffset }))).toEqual(epochs)
      for (let e = 0; e <= epoch + 1; e++) expect(yield* log.endOffsetFor(e)).toEqual(modelEndOffsetFor(epochs, e, end))
    })
    for (const op of ops) {
      switch (op._tag) {
        case "append": {
          const tag = `r${n++}`
          const info = yield* log.append(batch(op.count, tag), epoch > 0 ? { leaderEpoch: epoch } : {})
          expect(info.baseOffset).toBe(end)
          if (epoch > 0 && (epochs.length === 0 || epochs[epochs.length - 1]!.epoch < epoch)) {
            epochs.push({ epoch, start: end })
          }
          batches.push({ base: end, last: end + op.count - 1, values: Array.from({ length: op.count }, (_, i) => `${tag}-${i}`) })
          end += op.count
          break
        }
        case "truncate": {
          const to = Math.max(0, end - op.back)
          yield* log.truncateTo(to)
          if (to < end) {
            batches = batches.filter((b) => b.last < to)
            if (to <= start) start = to
            end = Math.max(batches.length === 0 ? start : batches[batches.length - 1]!.last + 1, start)
            if (end === start) batches = batches.filter((b) => b.last < start)
            epochs = epochs.filter((e) => e.start < end)
          } else {
            // Nothing to remove, but an epoch starting at the end (no record yet) goes.
            epochs = epochs.filter((e) => e.start < to)
          }
          break
        }
        case "deleteBefore": {
          const to = Math.min(start + op.forward, end)
          yield* log.deleteBefore(to)
          if (to > start) {
            start = to
            batches = batches.filter((b) => b.last >= start)
            const covering = epochs.filter((e) => e.start <= start).pop()
            epochs = epochs.filter((e) => e.start > start)
            if (covering !== undefined) epochs.unshift({ epoch: covering.epoch, start })
          }
          break
        }
        case "retention": {
          yield* log.enforceRetention
          const newStart = yield* log.logStartOffset
          expect(newStart).toBeGreaterThanOrEqual(start)
          const segments = yield* log.segments
          const kept = segments.reduce((s, x) => s + x.sizeInBytes, 0)
          expect(segments.length === 1 || kept - segments[0]!.sizeInBytes < 600).toBe(true)
          if (newStart > start) {
            start = newStart
            batches = batches.filter((b) => b.last >= start)
            const covering = epochs.filter((e) => e.start <= start).pop()
            epochs = epochs.filter((e) => e.start > start)
            if (covering !== undefined) epochs.unshift({ epoch: covering.epoch, start })
          }
          break
        }
        case "bumpEpoch": {
          epoch++
          yield* log.assignEpoch(epoch, end)
          epochs = epochs.filter((e) => e.start < end)
          epochs.push({ epoch, start: end })
          break
        }
        case "reopen": {
          yield* log.close
          scope = yield* Effect.scope
          log = yield* FileLog.make(options)
          break
        }
      }
      yield* check
    }
    void scope
  })

describe("FileLog property", () => {
  it.effect("random appends, truncations, retention and reopenings match the model", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) =>
          Effect.runPromise(Effect.scoped(run(ops)).pipe(Effect.provide(FileLog.layerFileSystem)))
        ),
        { numRuns: Number(process.env.FIBERLOG_LOG_RUNS ?? 100), seed: Number(process.env.FIBERLOG_LOG_SEED ?? 20261126) }
      )
    ))
})
