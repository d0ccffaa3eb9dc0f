/**
 * The deadline queues behind ask timeouts and a replica's long polls and acks=all produces: one
 * sweeper per timeout value, on the `TestClock`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import { Deadlines, Outcome, Wakeup } from "../../src/actor/internal/deadlines.js"

const make = (maxIdleSweepers?: number) =>
  Effect.gen(function*() {
    return new Deadlines(yield* Effect.clock, yield* Effect.scope, maxIdleSweepers)
  })

describe("Deadlines", () => {
  it.scoped("an outcome not completed in time fails with its timeout error, at its deadline and not before", () =>
    Effect.gen(function*() {
      const deadlines = yield* make()
      const late = new Outcome<string, string>(() => "timed out")
      yield* deadlines.add(1_000, late)
      const waiting = yield* Effect.fork(late.await)
      yield* TestClock.adjust(999)
      expect(late.settled).toBe(false)
      yield* TestClock.adjust(1)
      expect(yield* Fiber.await(waiting)).toEqual(Exit.fail("timed out"))
    }))

  it.scoped("an outcome completed in time keeps its answer; the deadline changes nothing", () =>
    Effect.gen(function*() {
      const deadlines = yield* make()
      const answered = new Outcome<string, string>(() => "timed out")
      yield* deadlines.add(1_000, answered)
      yield* TestClock.adjust(500)
      expect(answered.complete(Exit.succeed("reply"))).toBe(true)
      expect(answered.complete(Exit.succeed("second"))).toBe(false)
      yield* TestClock.adjust(1_000)
      expect(yield* answered.await).toBe("reply")
    }))

  it.scoped("several timeout values, each in order; a queue emptied and used again still expires", () =>
    Effect.gen(function*() {
      const deadlines = yield* make(1) // past one queue, a sweeper ends when its queue empties
      const expired: Array<string> = []
      const target = (name: string) => ({
        settled: false,
        expire: () => {
          expired.push(name)
        }
      })
      yield* deadlines.add(300, target("a300"))
      yield* deadlines.add(100, target("b100"))
      yield* TestClock.adjust(50)
      yield* deadlines.add(100, target("c100"))
      yield* TestClock.adjust(60) // t = 110
      expect(expired).toEqual(["b100"])
      yield* TestClock.adjust(200) // t = 310
      expect(expired).toEqual(["b100", "c100", "a300"])
      yield* deadlines.add(100, target("d100"))
      yield* TestClock.adjust(100)
      expect(expired).toEqual(["b100", "c100", "a300", "d100"])
    }))

  it.scoped("a wake-up comes from its deadline or from a fire; one fired before the wait is kept until re-armed", () =>
    Effect.gen(function*() {
      const deadlines = yield* make()
      const wakeup = new Wakeup()
      wakeup.fire()
      yield* wakeup.await // fired before: no wait
      wakeup.rearm()
      yield* deadlines.add(200, wakeup)
      const waiting = yield* Effect.fork(wakeup.await)
      yield* TestClock.adjust(199)
      expect(waiting.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      expect(yield* Fiber.await(waiting)).toEqual(Exit.void)
    }))
})
