import { describe, expect, it } from "@effect/vitest"
import { Actor, InProcess, Node, NodeId, Transport } from "@fiberlog/core"
import { Effect, Exit, Fiber, Schema, Scope, TestClock } from "effect"
import { SimNetwork } from "../src/index.js"

class Note extends Schema.TaggedClass<Note>()("Note", { n: Schema.Number }) {}
class Seen extends Schema.TaggedRequest<Seen>()("Seen", {
  failure: Schema.Never,
  success: Schema.Array(Schema.Number),
  payload: {}
}) {}
const Recorder = Schema.Union(Note, Seen)

/** Records the numbers it is told, in arrival order. */
const recorder = Actor.behavior({
  protocol: Recorder,
  init: () => Effect.succeed([] as ReadonlyArray<number>),
  handlers: {
    Note: (seen, msg) => Effect.succeed([...seen, msg.n]),
    Seen: (seen) => Effect.succeed([seen, seen] as const)
  }
})

const a = NodeId.make("a")
const b = NodeId.make("b")
const c = NodeId.make("c")

/** Starts a node per id, each with a recorder at "rec". */
const cluster = (ids: ReadonlyArray<NodeId.NodeId>) =>
  Effect.gen(function*() {
    const nodes = new Map<NodeId.NodeId, Node.Node>()
    for (const id of ids) {
      const node = yield* Node.make({ id })
      yield* node.spawn("rec", recorder)
      nodes.set(id, node)
    }
    const node = (id: NodeId.NodeId) => nodes.get(id)!
    const send = (from: NodeId.NodeId, to: NodeId.NodeId, n: number) =>
      Effect.orDie(node(from).ref(node(to).ref("rec", Recorder).address, Recorder).tell(new Note({ n })))
    const sendAll = (from: NodeId.NodeId, to: NodeId.NodeId, ns: ReadonlyArray<number>) =>
      Effect.forEach(ns, (n) => send(from, to, n), { discard: true })
    /** What `id`'s recorder saw (asked locally: does not cross the network). */
    const seen = (id: NodeId.NodeId) => Effect.orDie(node(id).ref("rec", Recorder).ask(new Seen()))
    /** Whether a message from `from` reaches `to` now. */
    const reaches = (from: NodeId.NodeId, to: NodeId.NodeId) =>
      Effect.gen(function*() {
        const before = (yield* seen(to)).length
        yield* send(from, to, -1)
        return (yield* seen(to)).length > before
      })
    return { node, send, sendAll, seen, reaches }
  })

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

const sim = SimNetwork.SimNetwork
const provide = (seed: number | string = 1) => Effect.provide(SimNetwork.layerInProcess({ seed }))

describe("SimNetwork rules", () => {
  it.scoped("an open link delivers at once and in order, and logs sent + delivered", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, sendAll } = yield* cluster([a, b])
      yield* sendAll(a, b, [1, 2, 3])
      expect(yield* seen(b)).toEqual([1, 2, 3])
      const events = yield* net.events
      expect(events.map((e) => e.type)).toEqual(["sent", "delivered", "sent", "delivered", "sent", "delivered"])
      expect(events[1]).toMatchObject({ from: a, to: b, kind: "tell", path: "rec", message: 1, timeMs: 0 })
    }).pipe(provide()))

  it.scoped("block is one-way; unblock restores the link", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { reaches } = yield* cluster([a, b])
      yield* net.block(a, b)
      expect(yield* reaches(a, b)).toBe(false)
      expect(yield* reaches(b, a)).toBe(true)
      expect((yield* net.events).filter((e) => e.type === "dropped").map((e) => e.reason)).toEqual(["blocked"])
      yield* net.unblock(a, b)
      expect(yield* reaches(a, b)).toBe(true)
    }).pipe(provide()))

  it.scoped("partitionOneWay loses the reply of an ask: a timeout, not a peerDown", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { node } = yield* cluster([a, b])
      const remote = node(a).ref(node(b).ref("rec", Recorder).address, Recorder)
      yield* net.partitionOneWay(b, a)
      const ask = yield* Effect.fork(remote.ask(new Seen(), { timeoutMs: 1_000 }))
      const watch = yield* Effect.fork(node(a).watch(remote))
      yield* TestClock.adjust("999 millis")
      expect(ask.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect((yield* Effect.flip(Fiber.join(ask)))._tag).toBe("AskTimeout")
      expect(watch.unsafePoll()).toBeNull()
      yield* net.heal
      expect(yield* remote.ask(new Seen())).toEqual([])
    }).pipe(provide()))

  it.scoped("drop with probability 1 loses everything, 0.5 about half, reproducibly", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, sendAll } = yield* cluster([a, b, c])
      yield* net.drop(a, b, 1)
      yield* sendAll(a, b, range(10))
      expect(yield* seen(b)).toEqual([])
      yield* net.drop(a, c, 0.5)
      yield* sendAll(a, c, range(200))
      const got = yield* seen(c)
      expect(got.length).toBeGreaterThan(60)
      expect(got.length).toBeLessThan(140)
      expect(got).toEqual([...got].sort((x, y) => x - y))
      expect((yield* net.stats).dropped).toBe(10 + 200 - got.length)
    }).pipe(provide()))

  it.scoped("a fixed delay delivers exactly after the delay on the TestClock, not before", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, send } = yield* cluster([a, b])
      yield* net.delay(a, b, SimNetwork.Delay.Fixed({ ms: 100 }))
      yield* send(a, b, 1)
      expect(yield* net.inFlight).toBe(1)
      yield* TestClock.adjust("99 millis")
      expect(yield* seen(b)).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(yield* seen(b)).toEqual([1])
      const delivered = (yield* net.events).find((e) => e.type === "delivered")
      expect(delivered?.timeMs).toBe(100)
      // The other direction is not delayed.
      yield* send(b, a, 2)
      expect(yield* seen(a)).toEqual([2])
    }).pipe(provide()))

  it.scoped("random delays keep FIFO order per link", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, send } = yield* cluster([a, b])
      yield* net.delay(a, b, SimNetwork.Delay.Uniform({ minMs: 0, maxMs: 100 }))
      for (const n of range(50)) {
        yield* send(a, b, n)
        yield* TestClock.adjust("3 millis")
      }
      yield* TestClock.adjust("200 millis")
      expect(yield* seen(b)).toEqual(range(50))
      const times = (yield* net.events).filter((e) => e.type === "delivered").map((e) => e.timeMs)
      expect(new Set(times).size).toBeGreaterThan(10)
      // Exponential delays too.
      yield* net.delay(a, b, SimNetwork.Delay.Exponential({ meanMs: 20, maxMs: 500 }))
      yield* Effect.forEach(range(30), (n) => send(a, b, 100 + n), { discard: true })
      yield* TestClock.adjust("1 second")
      expect((yield* seen(b)).slice(50)).toEqual(range(30).map((n) => 100 + n))
    }).pipe(provide()))

  it.scoped("duplicate with probability 1 delivers every message twice", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, sendAll } = yield* cluster([a, b])
      yield* net.duplicate(a, b, 1)
      yield* sendAll(a, b, [1, 2, 3])
      expect(yield* seen(b)).toEqual([1, 1, 2, 2, 3, 3])
      const events = yield* net.events
      expect(events.filter((e) => e.type === "duplicated")).toHaveLength(3)
      expect(events.filter((e) => e.type === "delivered").map((e) => e.message)).toEqual([1, 1, 2, 2, 3, 3])
    }).pipe(provide()))

  it.scoped("reorder delivers every message, out of order, within the window", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, sendAll } = yield* cluster([a, b])
      yield* net.reorder(a, b, 50)
      yield* sendAll(a, b, range(40))
      yield* TestClock.adjust("25 millis")
      const early = (yield* seen(b)).length
      expect(early).toBeGreaterThan(0)
      expect(early).toBeLessThan(40)
      yield* TestClock.adjust("25 millis")
      const got = yield* seen(b)
      expect([...got].sort((x, y) => x - y)).toEqual(range(40))
      expect(got).not.toEqual(range(40))
      const times = (yield* net.events).filter((e) => e.type === "delivered").map((e) => e.timeMs)
      expect(Math.max(...times)).toBeLessThanOrEqual(50)
    }).pipe(provide()))

  it.scoped("hold parks new and in-flight messages; release delivers them in order", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, send, sendAll } = yield* cluster([a, b])
      yield* net.delay(a, b, SimNetwork.Delay.Fixed({ ms: 100 }))
      yield* send(a, b, 1)
      yield* net.hold(a, b)
      yield* net.delay(a, b, undefined)
      yield* sendAll(a, b, [2, 3])
      yield* TestClock.adjust("1 second")
      expect(yield* seen(b)).toEqual([])
      expect(yield* net.inFlight).toBe(3)
      yield* net.release(a, b)
      expect(yield* seen(b)).toEqual([1, 2, 3])
      expect(yield* net.inFlight).toBe(0)
      yield* send(a, b, 4)
      expect(yield* seen(b)).toEqual([1, 2, 3, 4])
    }).pipe(provide()))

  it.scoped("a link blocked while messages are in flight loses them", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { seen, send } = yield* cluster([a, b])
      yield* net.delay(a, b, SimNetwork.Delay.Fixed({ ms: 100 }))
      yield* send(a, b, 1)
      yield* net.block(a, b)
      yield* TestClock.adjust("100 millis")
      yield* net.heal
      yield* send(a, b, 2)
      expect(yield* seen(b)).toEqual([2])
    }).pipe(provide()))

  it.effect("closing the network's scope stops its delayed deliveries", () =>
    Effect.gen(function*() {
      const netScope = yield* Scope.make()
      const inner = yield* InProcess.make({ serialize: true })
      const net = yield* SimNetwork.make(inner, { seed: 1 }).pipe(Scope.extend(netScope))
      const { seen, send } = yield* cluster([a, b]).pipe(Effect.provideService(Transport.Network, net))
      yield* net.delay(a, b, SimNetwork.Delay.Fixed({ ms: 100 }))
      yield* send(a, b, 1)
      yield* Scope.close(netScope, Exit.void)
      yield* TestClock.adjust("1 second")
      expect(yield* seen(b)).toEqual([])
      // New delayed sends on a closed network are dropped at once.
      yield* send(a, b, 2)
      expect((yield* net.events).at(-1)).toMatchObject({ type: "dropped", reason: "closed" })
    }).pipe(Effect.scoped))
})

describe("SimNetwork shapes", () => {
  it.scoped("partition: nodes in different groups cannot talk; heal restores traffic", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { reaches } = yield* cluster([a, b, c])
      yield* net.partition([[a, b], [c]])
      expect(yield* reaches(a, b)).toBe(true)
      expect(yield* reaches(b, a)).toBe(true)
      for (const [x, y] of [[a, c], [c, a], [b, c], [c, b]] as const) expect(yield* reaches(x, y)).toBe(false)
      yield* net.heal
      for (const [x, y] of [[a, c], [c, a], [b, c], [c, b]] as const) expect(yield* reaches(x, y)).toBe(true)
    }).pipe(provide()))

  it.scoped("isolate: the node talks to nobody, both ways", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { reaches } = yield* cluster([a, b, c])
      yield* net.isolate(c)
      expect(yield* reaches(a, b)).toBe(true)
      for (const [x, y] of [[a, c], [c, a], [b, c], [c, b]] as const) expect(yield* reaches(x, y)).toBe(false)
      yield* net.heal
      expect(yield* reaches(c, a)).toBe(true)
    }).pipe(provide()))

  it.scoped("bridge: the bridge node talks to both sides, the sides not to each other", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const { reaches } = yield* cluster([a, b, c])
      yield* net.bridge([a, b], b, [b, c])
      for (const [x, y] of [[a, b], [b, a], [b, c], [c, b]] as const) expect(yield* reaches(x, y)).toBe(true)
      expect(yield* reaches(a, c)).toBe(false)
      expect(yield* reaches(c, a)).toBe(false)
    }).pipe(provide()))

  it("majoritiesRingLinks: each of 5 nodes hears a distinct majority, symmetric", () => {
    const nodes = ["n1", "n2", "n3", "n4", "n5"].map(NodeId.make)
    const blocked = SimNetwork.majoritiesRingLinks(nodes)
    const hears = (to: NodeId.NodeId) => nodes.filter((from) => !blocked.some((l) => l.from === from && l.to === to))
    const heard = nodes.map((n) => hears(n).join(","))
    for (const n of nodes) expect(hears(n).length).toBe(3)
    expect(new Set(heard).size).toBe(5)
    for (const l of blocked) expect(blocked.some((r) => r.from === l.to && r.to === l.from)).toBe(true)
    // Four nodes: majorities of 3, still all distinct.
    const four = nodes.slice(0, 4)
    const blocked4 = SimNetwork.majoritiesRingLinks(four)
    const heard4 = four.map((to) => four.filter((from) => !blocked4.some((l) => l.from === from && l.to === to)))
    expect(heard4.every((h) => h.length === 3)).toBe(true)
    expect(new Set(heard4.map((h) => h.join(","))).size).toBe(4)
  })

  it.scoped("majoritiesRing on the network blocks exactly the ring's links", () =>
    Effect.gen(function*() {
      const net = yield* sim
      const nodes = ["n1", "n2", "n3", "n4", "n5"].map(NodeId.make)
      const { reaches } = yield* cluster(nodes)
      yield* net.majoritiesRing(nodes)
      const blocked = SimNetwork.majoritiesRingLinks(nodes)
      for (const from of nodes) {
        for (const to of nodes) {
          if (from === to) continue
          const isBlocked = blocked.some((l) => l.from === from && l.to === to)
          expect(yield* reaches(from, to)).toBe(!isBlocked)
        }
      }
    }).pipe(provide()))

  it("partitionLinks and bridgeLinks are the expected directed links", () => {
    expect(SimNetwork.partitionLinks([[a, b], [c]])).toEqual([
      { from: a, to: c },
      { from: b, to: c },
      { from: c, to: a },
      { from: c, to: b }
    ])
    expect(SimNetwork.bridgeLinks([a, b], b, [b, c])).toEqual([{ from: a, to: c }, { from: c, to: a }])
  })

  it("sampleDelayMs follows each distribution", () => {
    expect(SimNetwork.sampleDelayMs(SimNetwork.Delay.Fixed({ ms: 7 }), 0.9)).toBe(7)
    expect(SimNetwork.sampleDelayMs(SimNetwork.Delay.Uniform({ minMs: 10, maxMs: 20 }), 0)).toBe(10)
    expect(SimNetwork.sampleDelayMs(SimNetwork.Delay.Uniform({ minMs: 10, maxMs: 20 }), 0.9999)).toBe(20)
    expect(SimNetwork.sampleDelayMs(SimNetwork.Delay.Exponential({ meanMs: 10, maxMs: 50 }), 0)).toBe(0)
    expect(SimNetwork.sampleDelayMs(SimNetwork.Delay.Exponential({ meanMs: 10, maxMs: 50 }), 0.999999)).toBe(50)
  })
})
