import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Exit, Fiber, Scope } from "effect"
import { InProcess } from "../../src/index.js"
import { coordinatorOf } from "../group/coordinatorHarness.js"
import { advance } from "../server/harness.js"
import { consumer, send, setup, take, untilDone } from "./groupHarness.js"

const network = InProcess.layer({ serialize: true })
const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

describe("GroupConsumer offsets", () => {
  it.scoped("committed offsets survive the crash of the coordinator's broker; the next member resumes exactly there", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      yield* send(c, client, "t", 0, values("a", 10))
      const s1 = yield* Scope.make()
      const first = yield* Scope.extend(consumer(c, client, "g", { autoCommit: false }), s1)
      yield* first.subscribe(["t"])
      const got = yield* take(first, 10)
      expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      // Say offsets 0..6 were processed: the committed offset is 7 (the next to read).
      yield* untilDone(yield* Effect.fork(first.commitOffsets([{ topic: "t", partition: 0, offset: 7 }])))
      yield* Scope.close(s1, Exit.void)
      const { info } = yield* coordinatorOf(c, client, "g")
      yield* c.crash(info.brokerId)
      yield* advance(15_000)
      expect((yield* coordinatorOf(c, client, "g")).info.brokerId).not.toBe(info.brokerId)
      const second = yield* consumer(c, client, "g")
      yield* second.subscribe(["t"])
      const resumed = yield* take(second, 3)
      expect(resumed.map((r) => r.offset)).toEqual([7, 8, 9])
      expect(resumed.map((r) => r.value)).toEqual(["a7", "a8", "a9"])
    }).pipe(Effect.provide(network)))

  it.scoped("replays from earliest after commits; commits on close and resumes from them", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      yield* send(c, client, "t", 0, values("a", 5))
      const s1 = yield* Scope.make()
      const first = yield* Scope.extend(consumer(c, client, "g"), s1)
      yield* first.subscribe(["t"])
      expect((yield* take(first, 5)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4])
      yield* first.poll({ maxWaitMs: 0 }) // marks the records processed
      yield* untilDone(yield* Effect.fork(first.commitOffsets()))
      const committed = yield* untilDone(yield* Effect.fork(first.committed([{ topic: "t", partition: 0 }])))
      expect(committed[0]!.offset).toBe(5)
      yield* first.seek({ topic: "t", partition: 0 }, "earliest")
      expect((yield* take(first, 5)).map((r) => r.value)).toEqual(values("a", 5))
      yield* first.poll({ maxWaitMs: 0 })
      yield* Scope.close(s1, Exit.void)
      yield* advance(1_000)
      const second = yield* consumer(c, client, "g")
      yield* second.subscribe(["t"])
      yield* send(c, client, "t", 0, ["b0"])
      // The close committed what was processed after the replay (5): nothing is read twice.
      expect((yield* take(second, 1)).map((r) => r.value)).toEqual(["b0"])
    }).pipe(Effect.provide(network)))

  it.scoped("autoOffsetReset applies to a partition without a commit and to a committed offset out of range", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      yield* send(c, client, "t", 0, values("a", 4))
      // No commit: "latest" skips what is there, "earliest" reads it all.
      const latest = yield* consumer(c, client, "g-latest", { autoOffsetReset: "latest" })
      const earliest = yield* consumer(c, client, "g-earliest", { autoOffsetReset: "earliest" })
      yield* latest.subscribe(["t"])
      yield* earliest.subscribe(["t"])
      expect((yield* take(earliest, 4)).map((r) => r.offset)).toEqual([0, 1, 2, 3])
      yield* advance(3_000)
      expect(yield* untilDone(yield* Effect.fork(latest.poll({ maxWaitMs: 0 })))).toEqual([])
      yield* send(c, client, "t", 0, ["new"])
      expect((yield* take(latest, 1)).map((r) => r.value)).toEqual(["new"])
      // "none" without a commit fails the poll.
      const none = yield* consumer(c, client, "g-none", { autoOffsetReset: "none" })
      yield* none.subscribe(["t"])
      yield* advance(3_000)
      const failed = yield* Effect.either(untilDone(yield* Effect.fork(none.poll())))
      expect(Either.isLeft(failed) && failed.left._tag).toBe("NoOffsetForPartition")
      // A commit beyond the log end: the next member resets to earliest.
      const s = yield* Scope.make()
      const standalone = yield* Scope.extend(consumer(c, client, "g-range"), s)
      yield* standalone.subscribe(["t"])
      yield* advance(3_000)
      yield* untilDone(yield* Effect.fork(standalone.commitOffsets([{ topic: "t", partition: 0, offset: 1_000 }])))
      yield* Scope.close(s, Exit.void)
      yield* advance(1_000)
      const reset = yield* consumer(c, client, "g-range", { autoOffsetReset: "earliest" })
      yield* reset.subscribe(["t"])
      expect((yield* take(reset, 5)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4])
    }).pipe(Effect.provide(network)))

  it.scoped("a long poll returns as soon as data arrives, and after maxWaitMs when none does", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 1)
      const gc = yield* consumer(c, client, "g", { autoOffsetReset: "latest" })
      yield* gc.subscribe(["t"])
      yield* advance(3_000)
      yield* gc.poll({ maxWaitMs: 0 }).pipe(Effect.fork, Effect.flatMap((f) => untilDone(f)))
      // Nothing arrives: the poll answers after maxWaitMs, not before.
      const start = yield* Clock.currentTimeMillis
      const empty = yield* Effect.fork(gc.poll({ maxWaitMs: 2_000 }))
      yield* advance(1_900)
      expect((yield* Fiber.poll(empty))._tag).toBe("None")
      const none = yield* untilDone(empty)
      expect(none).toEqual([])
      expect((yield* Clock.currentTimeMillis) - start).toBeGreaterThanOrEqual(2_000)
      // Data arrives mid-wait: the poll answers right away.
      const waiting = yield* Effect.fork(gc.poll({ maxWaitMs: 10_000 }))
      yield* advance(500)
      const sentAt = yield* Clock.currentTimeMillis
      yield* send(c, client, "t", 0, ["x"])
      const got = yield* untilDone(waiting)
      expect(got.map((r) => r.offset)).toEqual([0])
      expect((yield* Clock.currentTimeMillis) - sentAt).toBeLessThan(2_000)
    }).pipe(Effect.provide(network)))

  it.scoped("run({ eachMessage }) handles every record once and auto commits what it handled", () =>
    Effect.gen(function*() {
      const { c, client } = yield* setup("t", 2)
      yield* send(c, client, "t", 0, values("p0-", 3))
      yield* send(c, client, "t", 1, values("p1-", 3))
      const seen: Array<string> = []
      const gc = yield* consumer(c, client, "g", { autoCommitIntervalMs: 1_000 })
      yield* gc.subscribe(["t"])
      yield* Effect.fork(gc.run({
        eachMessage: ({ message }) => Effect.sync(() => void seen.push(new TextDecoder().decode(message.value!)))
      }))
      yield* advance(6_000)
      expect([...seen].sort()).toEqual([...values("p0-", 3), ...values("p1-", 3)].sort())
      const committed = yield* untilDone(yield* Effect.fork(gc.committed([{ topic: "t", partition: 0 }, { topic: "t", partition: 1 }])))
      expect(committed.map((o) => o.offset)).toEqual([3, 3])
      const lag = yield* gc.lag
      expect(lag.map((l) => l.lag)).toEqual([0, 0])
    }).pipe(Effect.provide(network)))
})
