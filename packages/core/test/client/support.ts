import { Effect, Fiber, TestClock } from "effect"
import * as InProcess from "../../src/transport/InProcess.js"

/** Every client test runs over the in-process network with Schema round trips on. */
export const network = InProcess.layer({ serialize: true })

/** Runs `effect` in a fiber, moving the TestClock by `stepMs` until it finishes (at most `maxSteps`). */
export const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>, stepMs = 10, maxSteps = 10_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) {
      yield* Effect.yieldNow()
      if (fiber.unsafePoll() !== null) break
      yield* TestClock.adjust(stepMs)
    }
    return yield* Fiber.join(fiber)
  })

const utf8 = new TextDecoder()
/** UTF-8 text of bytes (or "" for null). */
export const text = (b: Uint8Array | null) => (b === null ? "" : utf8.decode(b))
