/**
 * A conformance suite for `Network` implementations: everything the actor runtime needs from a
 * network, asserted across two nodes. Run it against your own network (or a wrapper) with
 * `NetworkConformance.suite(() => MyNetwork.layer(...))` inside a vitest `describe`.
 *
 * @since 0.1.0
 */
import { expect, it } from "@effect/vitest"
import { Actor, LinkFilter, Node, NodeId, type Transport } from "@fiberlog/core"
import { Deferred, Effect, Exit, Fiber, Layer, Ref, Schema, Scope, TestClock } from "effect"


export class Increment extends Schema.TaggedClass<Increment>()("Increment", { by: Schema.Number }) {}

export class Get extends Schema.TaggedRequest<Get>()("Get", {
  failure: Schema.Never,
  success: Schema.Number,
  payload: {}
}) {}

export class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { wanted: Schema.Number, had: Schema.Number }) {}

export class Withdraw extends Schema.TaggedRequest<Withdraw>()("Withdraw", {
  failure: Overdrawn,
  success: Schema.Number,
  payload: { amount: Schema.Number }
}) {}

/** Dies (a defect): exercises supervision. */
export class Crash extends Schema.TaggedClass<Crash>()("Crash", {}) {}

/** Handled only after `gate` opens: keeps the actor busy so the mailbox fills. */
export class Block extends Schema.TaggedClass<Block>()("Block", {}) {}

/** Never replied within a test's timeout: the handler sleeps an hour. */
export class Slow extends Schema.TaggedRequest<Slow>()("Slow", { failure: Schema.Never, success: Schema.Void, payload: {} }) {}

/** The protocol the suite talks. */
export const Counter = Schema.Union(Increment, Get, Withdraw, Crash, Block, Slow)
export type Counter = typeof Counter.Type

/** A counter whose init counts its runs (in `inits`) and starts at `start`. */
export const counter = (options: {
  readonly inits?: Ref.Ref<number>
  readonly start?: number
  readonly gate?: Deferred.Deferred<void>
  /** Completed when `Block` starts waiting on the gate. */
  readonly blocked?: Deferred.Deferred<void>
}) =>
  Actor.behavior({
    protocol: Counter,
    init: () => Effect.as(options.inits ? Ref.update(options.inits, (n) => n + 1) : Effect.void, options.start ?? 0),
    handlers: {
      Increment: (n, msg) => Effect.succeed(n + msg.by),
      Get: (n) => Effect.succeed([n, n] as const),
      Withdraw: (n, msg) =>
        msg.amount > n
          ? Effect.fail(new Overdrawn({ wanted: msg.amount, had: n }))
          : Effect.succeed([n - msg.amount, n - msg.amount] as const),
      Crash: () => Effect.dieMessage("boom"),
      Block: (n) =>
        Effect.gen(function*() {
          if (options.blocked) yield* Deferred.succeed(options.blocked, undefined)
          if (options.gate) yield* Deferred.await(options.gate)
          return n
        }),
      Slow: (n) => Effect.as(Effect.sleep("1 hour"), [undefined, n] as const)
    }
  })


const nodeA = NodeId.make("a")
const nodeB = NodeId.make("b")

/** Options of the suite. */
export interface Options {
  /** Whether the network encodes messages (TCP, `serialize: true`); default true. */
  readonly encodes?: boolean
  /**
   * Messages spend real time in flight (TCP): where the in-process suite relies on one `yieldNow`
   * for a message to arrive, wait for a round trip on the same link instead. Default false.
   */
  readonly realSockets?: boolean
}

/** Registers the suite's tests. `makeNetwork` must build a fresh network per call. */
export const suite = (makeNetwork: () => Layer.Layer<Transport.Network>, options: Options = {}) => {

  it.scoped("ask and tell across two nodes, typed failures included", () =>
    Effect.gen(function*() {
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const onB = yield* b.spawn("counter", counter({ start: 1 }))
      const fromA = a.ref(onB.address, Counter)
      yield* fromA.tell(new Increment({ by: 41 }))
      expect(yield* fromA.ask(new Get())).toBe(42)
      const error = yield* Effect.flip(fromA.ask(new Withdraw({ amount: 100 })))
      expect(error).toBeInstanceOf(Overdrawn)
      expect(error).toEqual(new Overdrawn({ wanted: 100, had: 42 }))
      const missing = yield* Effect.flip(a.ref(`${nodeB}`, Counter).ask(new Get()))
      expect(missing._tag).toBe("ActorUnavailable")
    }).pipe(Effect.provide(makeNetwork())))

  it.scoped("binary payloads survive serialisation", () =>
    Effect.gen(function*() {
      class Echo extends Schema.TaggedRequest<Echo>()("Echo", {
        failure: Schema.Never,
        success: Schema.Uint8ArrayFromSelf,
        payload: { bytes: Schema.Uint8ArrayFromSelf }
      }) {}
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const echo = yield* b.spawn(
        "echo",
        Actor.behavior({
          protocol: Echo,
          init: () => Effect.succeed(undefined),
          handlers: { Echo: (s, msg) => Effect.succeed([msg.bytes.map((x) => x + 1), s] as const) }
        })
      )
      const reply = yield* a.ref(echo.address, Echo).ask(new Echo({ bytes: new Uint8Array([1, 2, 255]) }))
      expect(reply).toEqual(new Uint8Array([2, 3, 0]))
    }).pipe(Effect.provide(makeNetwork())))

  // Only a network that encodes can refuse a message.
  if (options.encodes ?? true) {
  it.scoped("a message that cannot be encoded fails clearly with MessageNotSerializable", () =>
    Effect.gen(function*() {
      class Carry extends Schema.TaggedRequest<Carry>()("Carry", {
        failure: Schema.Never,
        success: Schema.Void,
        payload: { callback: Schema.declare((u: unknown): u is () => void => typeof u === "function") }
      }) {}
      class Positive extends Schema.TaggedClass<Positive>()("Positive", { n: Schema.Positive }) {}
      const Protocol = Schema.Union(Carry, Positive)
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const target = yield* b.spawn(
        "target",
        Actor.behavior({
          protocol: Protocol,
          init: () => Effect.succeed(0),
          handlers: { Carry: (s) => Effect.succeed([undefined, s] as const), Positive: (s) => Effect.succeed(s) }
        })
      )
      const remote = a.ref(target.address, Protocol)
      const notCloneable = yield* Effect.flip(remote.ask(new Carry({ callback: () => {} })))
      expect(notCloneable._tag).toBe("MessageNotSerializable")
      // A value its own schema refuses to encode (constructed unchecked).
      const invalid = yield* Effect.flip(remote.tell(new Positive({ n: -1 }, { disableValidation: true })))
      expect(invalid._tag).toBe("MessageNotSerializable")
      expect(invalid.message).toContain("Positive")
    }).pipe(Effect.provide(makeNetwork())))
  }

  it.effect("death watch across nodes: closing a node's scope terminates watched refs as unreachable", () =>
    Effect.gen(function*() {
      const a = yield* Node.make({ id: nodeA })
      const scopeB = yield* Scope.make()
      const b = yield* Node.make({ id: nodeB }).pipe(Scope.extend(scopeB))
      const onB = yield* b.spawn("counter", counter({}))
      const watch = yield* Effect.fork(a.watch(a.ref(onB.address, Counter)))
      const pending = yield* Effect.fork(a.ref(onB.address, Counter).ask(new Slow(), { timeoutMs: 60_000 }))
      yield* Effect.yieldNow()
      expect(watch.unsafePoll()).toBeNull()
      yield* Scope.close(scopeB, Exit.void)
      expect((yield* Fiber.join(watch)).reason).toBe("unreachable")
      // An ask in flight to the lost node fails at once, not at its timeout.
      const error = yield* Effect.flip(Fiber.join(pending))
      expect(error).toMatchObject({ _tag: "ActorUnavailable", reason: "unreachable" })
    }).pipe(Effect.scoped, Effect.provide(makeNetwork())))

  it.scoped("remote watch reports a stop as stopped", () =>
    Effect.gen(function*() {
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const onB = yield* b.spawn("counter", counter({}))
      const watch = yield* Effect.fork(a.watch(a.ref(onB.address, Counter)))
      yield* Effect.yieldNow()
      // The reply comes after the watch on the same link: the watch is registered.
      if (options.realSockets) yield* a.ref(onB.address, Counter).ask(new Get())
      yield* b.stop(onB)
      expect((yield* Fiber.join(watch)).reason).toBe("stopped")
    }).pipe(Effect.provide(makeNetwork())))

  it.effect("a reply to an ask of a node's earlier incarnation does not answer an ask of the next one", () =>
    Effect.gen(function*() {
      class Hold extends Schema.TaggedRequest<Hold>()("Hold", { failure: Schema.Never, success: Schema.String, payload: {} }) {}
      const Held = Schema.Union(Hold, Get)
      /** Answers `Hold` with `label` once `gate` opens (and counts `Get`s, to order replies behind it). */
      const held = (label: string, gate: Deferred.Deferred<void>, holding: Deferred.Deferred<void>) =>
        Actor.behavior({
          protocol: Held,
          init: () => Effect.succeed(0),
          handlers: {
            Hold: (n) => Effect.as(Effect.zipRight(Deferred.succeed(holding, undefined), Deferred.await(gate)), [label, n] as const),
            Get: (n) => Effect.succeed([n, n + 1] as const)
          }
        })
      const b = yield* Node.make({ id: nodeB })
      const [gate1, holding1, gate2, holding2] = yield* Effect.all(Array.from({ length: 4 }, () => Deferred.make<void>()))
      const first = yield* b.spawn("first", held("old", gate1!, holding1!))
      const second = yield* b.spawn("second", held("new", gate2!, holding2!))
      // The first incarnation of node a asks, and crashes while its ask is held.
      const scopeA1 = yield* Scope.make()
      const a1 = yield* Node.make({ id: nodeA }).pipe(Scope.extend(scopeA1))
      const old = yield* Effect.fork(a1.ref(first.address, Held).ask(new Hold(), { timeoutMs: 60_000 }))
      yield* Deferred.await(holding1!)
      yield* Scope.close(scopeA1, Exit.void)
      yield* Fiber.interrupt(old)
      // The next incarnation asks; meanwhile the first ask is answered, to a node a that never made it.
      const a2 = yield* Node.make({ id: nodeA })
      const pending = yield* Effect.fork(a2.ref(second.address, Held).ask(new Hold(), { timeoutMs: 60_000 }))
      yield* Deferred.await(holding2!)
      yield* Deferred.succeed(gate1!, undefined)
      // The stale reply has arrived once an answer sent after it has (same actor, same link).
      expect(yield* a2.ref(first.address, Held).ask(new Get())).toBe(0)
      expect(pending.unsafePoll()).toBeNull()
      yield* Deferred.succeed(gate2!, undefined)
      expect(yield* Fiber.join(pending)).toBe("new")
    }).pipe(Effect.scoped, Effect.provide(makeNetwork())))

  const filter = LinkFilter.make()
  it.scoped("a link filter that blocks a->b makes the ask time out; unblocking restores it", () =>
    Effect.gen(function*() {
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const onB = yield* b.spawn("counter", counter({ start: 7 }))
      const remote = a.ref(onB.address, Counter)
      yield* filter.block(nodeA, nodeB)
      const fiber = yield* Effect.fork(remote.ask(new Get(), { timeoutMs: 2_000 }))
      yield* TestClock.adjust("2 seconds")
      expect((yield* Effect.flip(Fiber.join(fiber)))._tag).toBe("AskTimeout")
      yield* filter.unblock(nodeA, nodeB)
      expect(yield* remote.ask(new Get())).toBe(7)
      // Blocking only the way back loses the reply: still a timeout.
      yield* filter.block(nodeB, nodeA)
      const back = yield* Effect.fork(remote.ask(new Get(), { timeoutMs: 2_000 }))
      yield* TestClock.adjust("2 seconds")
      expect((yield* Effect.flip(Fiber.join(back)))._tag).toBe("AskTimeout")
    }).pipe(Effect.provide(LinkFilter.layer(filter).pipe(Layer.provide(makeNetwork())))))
}
