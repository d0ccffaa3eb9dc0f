import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Fiber, TestClock } from "effect"
import { History } from "../src/index.js"

class Timeout extends Data.TaggedError("Timeout")<{}> {}
class NotLeader extends Data.TaggedError("NotLeader")<{}> {}

describe("History", () => {
  it.effect("records invoke and completion with virtual times and carried fields", () =>
    Effect.gen(function*() {
      const history = yield* History.make()
      const send = yield* history.invoke("p1", "send", { topic: "t", partition: 0, value: "v1" })
      yield* TestClock.adjust("5 millis")
      yield* history.complete(send, "ok", { offset: 3 })
      yield* history.observe("controller", "elect", { topic: "t", partition: 0, leader: "b1", isr: ["b1", "b2"], epoch: 2 })
      const ops = yield* history.ops
      expect(ops).toEqual([
        { index: 0, process: "p1", type: "invoke", f: "send", time: 0, topic: "t", partition: 0, value: "v1" },
        { index: 1, process: "p1", type: "ok", f: "send", time: 5, topic: "t", partition: 0, value: "v1", offset: 3 },
        { index: 2, process: "controller", type: "ok", f: "elect", time: 5, topic: "t", partition: 0, leader: "b1", isr: ["b1", "b2"], epoch: 2 }
      ])
    }))

  it.effect("run records ok, fail for definite errors, info for indeterminate ones and interruption", () =>
    Effect.gen(function*() {
      const history = yield* History.make()
      const options = {
        process: "p",
        f: "send" as const,
        fields: { topic: "t", partition: 1, value: "x" },
        onSuccess: (offset: number) => ({ offset }),
        isDefinite: (error: Timeout | NotLeader) => error._tag === "NotLeader"
      }
      yield* History.run(history, Effect.succeed(7), options)
      yield* Effect.flip(History.run(history, Effect.fail(new NotLeader()), options))
      yield* Effect.flip(History.run(history, Effect.fail(new Timeout()), options))
      const fiber = yield* Effect.fork(History.run(history, Effect.never, options))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      const completions = (yield* history.ops).filter((op) => op.type !== "invoke")
      expect(completions.map((op) => [op.type, op.offset ?? op.error])).toEqual([
        ["ok", 7],
        ["fail", "NotLeader"],
        ["info", "Timeout"],
        ["info", "interrupted"]
      ])
    }))

  it.effect("JSON is canonical (keys in schema order) and reads back", () =>
    Effect.gen(function*() {
      const history = yield* History.make()
      const poll = yield* history.invoke("c1", "poll", { group: "g", member: "m1", generation: 1 })
      yield* history.complete(poll, "ok", { records: [{ value: "v", offset: 0, partition: 0, topic: "t" }] })
      const json = yield* history.json
      expect(json).toContain(`"records":[{"topic":"t","partition":0,"offset":0,"value":"v"}]`)
      expect(json.indexOf(`"index"`)).toBeLessThan(json.indexOf(`"process"`))
      const back = yield* History.fromJson(json)
      expect(History.toJson(back)).toBe(json)
    }))

  it.effect("a full history is a defect, never a silent truncation", () =>
    Effect.gen(function*() {
      const history = yield* History.make({ maxOps: 1 })
      yield* history.observe("x", "elect")
      const exit = yield* Effect.exit(history.observe("x", "elect"))
      expect(exit._tag).toBe("Failure")
    }))
})
