import { describe, expect, it } from "@effect/vitest"
import { Actor, Node, NodeId } from "@fiberlog/core"
import { Effect, Random, Schema, TestClock, TestContext } from "effect"
import { SeededRandom, SimNetwork } from "../src/index.js"

class Note extends Schema.TaggedClass<Note>()("Note", { n: Schema.Number }) {}
const sink = Actor.behavior({
  protocol: Note,
  init: () => Effect.succeed(0),
  handlers: { Note: (count) => Effect.succeed(count + 1) }
})

const ids = ["a", "b", "c"].map(NodeId.make)

/**
 * A fixed workload over every fault at once (drop, duplicate, delay, reorder, a partition and a
 * heal); returns the event log as JSON. Each run gets its own TestClock, starting at 0.
 */
const run = (seed: number | string, extraDrawsOnDropStream = false) =>
  Effect.gen(function*() {
    const net = yield* SimNetwork.SimNetwork
    const nodes = []
    for (const id of ids) {
      const node = yield* Node.make({ id })
      yield* node.spawn("sink", sink)
      nodes.push(node)
    }
    const [a, b, c] = ids as [NodeId.NodeId, NodeId.NodeId, NodeId.NodeId]
    yield* net.drop(a, b, 0.3)
    yield* net.duplicate(a, b, 0.2)
    yield* net.delay(a, b, SimNetwork.Delay.Exponential({ meanMs: 30, maxMs: 300 }))
    yield* net.delay(b, c, SimNetwork.Delay.Uniform({ minMs: 5, maxMs: 50 }))
    yield* net.reorder(c, a, 40)
    yield* net.duplicate(c, a, 0.5)
    if (extraDrawsOnDropStream) yield* net.drop(b, c, 1e-9)
    for (let step = 0; step < 60; step++) {
      if (step === 20) yield* net.partition([[a], [b, c]])
      if (step === 40) yield* net.heal
      for (let i = 0; i < ids.length; i++) {
        const from = nodes[i]!
        const to = nodes[(i + 1) % ids.length]!
        yield* Effect.ignore(from.ref(to.ref("sink", Note).address, Note).tell(new Note({ n: step })))
      }
      yield* TestClock.adjust("7 millis")
    }
    yield* TestClock.adjust("1 second")
    return yield* net.eventsJson
  }).pipe(
    Effect.scoped,
    Effect.provide(SimNetwork.layerInProcess({ seed })),
    Effect.provide(TestContext.TestContext)
  )

describe("SimNetwork determinism", () => {
  it.effect("the same seed gives a byte-identical event log; another seed a different one", () =>
    Effect.gen(function*() {
      const first = yield* run(42)
      const second = yield* run(42)
      const other = yield* run(43)
      expect(first.length).toBeGreaterThan(1000)
      expect(second).toBe(first)
      expect(other).not.toBe(first)
      const events: ReadonlyArray<SimNetwork.Event> = JSON.parse(first)
      const types = new Set(events.map((e) => e.type))
      expect([...types].sort()).toEqual(["delivered", "dropped", "duplicated", "sent"])
      expect(new Set(events.filter((e) => e.type === "dropped").map((e) => e.reason))).toEqual(new Set(["blocked", "random"]))
    }))

  it.effect("draws on one stream do not shift another: an extra drop rule leaves b->c delays unchanged", () =>
    Effect.gen(function*() {
      const delivered = (json: string) =>
        (JSON.parse(json) as ReadonlyArray<SimNetwork.Event>).filter((e) => e.from === "b" && e.type !== "sent")
      const plain = delivered(yield* run(7))
      const withDraws = delivered(yield* run(7, true))
      expect(withDraws.every((e) => e.type === "delivered" || e.reason === "blocked")).toBe(true)
      expect(withDraws.map((e) => [e.type, e.timeMs, e.message])).toEqual(plain.map((e) => [e.type, e.timeMs, e.message]))
    }))
})

describe("SeededRandom", () => {
  it.effect("a stream is a function of the seed and its name, independent of other streams", () =>
    Effect.gen(function*() {
      const draw = (random: Random.Random, n: number) => Effect.all(Array.from({ length: n }, () => random.next))
      const one = SeededRandom.make(1)
      const two = SeededRandom.make(1)
      yield* draw(two.stream("other"), 100)
      expect(yield* draw(one.stream("x"), 10)).toEqual(yield* draw(two.stream("x"), 10))
      expect(yield* draw(SeededRandom.make(2).stream("x"), 10)).not.toEqual(yield* draw(SeededRandom.make(1).stream("x"), 10))
      expect(SeededRandom.subSeed(1, "a")).not.toBe(SeededRandom.subSeed(1, "b"))
      expect(SeededRandom.subSeed("s", "a")).toBe(SeededRandom.subSeed("s", "a"))
      const a = yield* Random.next.pipe(SeededRandom.withStream(5, "w"))
      const b = yield* Random.next.pipe(SeededRandom.withStream(5, "w"))
      expect(a).toBe(b)
    }))

  it.effect("a synchronous generator draws the same sequence as the stream's Effect Random", () =>
    Effect.gen(function*() {
      const generator = SeededRandom.generator(7, "link:a->b:drop")
      const random = SeededRandom.random(7, "link:a->b:drop")
      for (let i = 0; i < 20; i++) expect(generator.number()).toBe(yield* random.next)
    }))
})
