import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref, Schema, Scope, TestClock } from "effect"
import { Actor, InProcess, LinkFilter, Node, NodeId, Supervision } from "../../src/index.js"
import { Block, Counter, counter, Crash, Get, Increment, Overdrawn, Slow, Withdraw } from "./protocol.js"

const local = InProcess.layer()
const nodeA = NodeId.make("a")
const nodeB = NodeId.make("b")

describe("Actor", () => {
  it.scoped("tell changes state; ask reads it", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("counter", counter({}))
      yield* ref.tell(new Increment({ by: 2 }))
      yield* ref.tell(new Increment({ by: 3 }))
      expect(yield* ref.ask(new Get())).toBe(5)
    }).pipe(Effect.provide(local)))

  it.scoped("messages are handled one at a time, in order", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("counter", counter({}))
      yield* Effect.forEach([1, 2, 3, 4], (by) => ref.tell(new Increment({ by })), { discard: true })
      const replies = yield* Effect.all([ref.ask(new Get()), ref.tell(new Increment({ by: 10 })), ref.ask(new Get())])
      expect([replies[0], replies[2]]).toEqual([10, 20])
    }).pipe(Effect.provide(local)))

  it.scoped("ask times out on the TestClock with AskTimeout", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("counter", counter({}))
      const fiber = yield* Effect.fork(ref.ask(new Slow(), { timeoutMs: 1_000 }))
      yield* TestClock.adjust("999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("AskTimeout")
    }).pipe(Effect.provide(local)))

  it.scoped("a request's own typed failure reaches the caller and leaves state unchanged", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("account", counter({ start: 10 }))
      const error = yield* Effect.flip(ref.ask(new Withdraw({ amount: 11 })))
      expect(error).toEqual(new Overdrawn({ wanted: 11, had: 10 }))
      expect(yield* ref.ask(new Withdraw({ amount: 4 }))).toBe(6)
    }).pipe(Effect.provide(local)))

  it.scoped("a crash restarts the actor after a backoff and re-runs init; queued messages survive", () =>
    Effect.gen(function*() {
      const inits = yield* Ref.make(0)
      const node = yield* Node.make({ id: nodeA })
      const supervision = Supervision.restart({ maxRestarts: 3, withinMs: 60_000, baseDelayMs: 100 })
      const ref = yield* node.spawn("counter", counter({ inits, start: 1 }), { supervision })
      yield* ref.tell(new Increment({ by: 5 }))
      expect(yield* ref.ask(new Get())).toBe(6)
      yield* ref.tell(new Crash())
      yield* ref.tell(new Increment({ by: 2 })) // queued behind the crash: handled by the new incarnation
      const get = yield* Effect.fork(ref.ask(new Get()))
      yield* TestClock.adjust("50 millis") // less than the first backoff (100 ms, jitter 0.8..1.2)
      expect(get.unsafePoll()).toBeNull()
      expect(yield* Ref.get(inits)).toBe(1)
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(get)).toBe(3) // re-initialised to 1, then +2
      expect(yield* Ref.get(inits)).toBe(2)
    }).pipe(Effect.provide(local)))

  it.scoped("restarts beyond the limit stop the actor; watchers see `failed`; asks get ActorUnavailable", () =>
    Effect.gen(function*() {
      const inits = yield* Ref.make(0)
      const node = yield* Node.make({ id: nodeA })
      const supervision = Supervision.restart({ maxRestarts: 2, withinMs: 60_000, baseDelayMs: 100 })
      const ref = yield* node.spawn("counter", counter({ inits }), { supervision })
      const watch = yield* Effect.fork(node.watch(ref))
      for (let i = 0; i < 3; i++) {
        yield* ref.tell(new Crash())
        yield* TestClock.adjust("10 seconds")
      }
      const terminated = yield* Fiber.join(watch)
      expect(terminated.reason).toBe("failed")
      expect(yield* Ref.get(inits)).toBe(3) // first run + 2 restarts
      const error = yield* Effect.flip(ref.ask(new Get()))
      expect(error._tag).toBe("ActorUnavailable")
      expect(yield* node.actors).toEqual([])
    }).pipe(Effect.provide(local)))

  it.scoped("a child that gives up escalates: the parent restarts and so does the child", () =>
    Effect.gen(function*() {
      const parentInits = yield* Ref.make(0)
      const childInits = yield* Ref.make(0)
      const node = yield* Node.make({ id: nodeA })
      const parent = Actor.behavior({
        protocol: Counter,
        init: (ctx) =>
          Effect.gen(function*() {
            yield* Ref.update(parentInits, (n) => n + 1)
            yield* Effect.orDie(ctx.spawn("child", counter({ inits: childInits }), {
              supervision: Supervision.stopOnFailure("escalate")
            }))
            return 0
          }),
        handlers: counter({}).handlers
      })
      const parentRef = yield* node.spawn("parent", parent, {
        supervision: Supervision.restart({ maxRestarts: 1, withinMs: 60_000, baseDelayMs: 100 })
      })
      expect(yield* parentRef.ask(new Get())).toBe(0) // init has run: the child exists
      const child = node.ref("parent/child", Counter)
      yield* child.tell(new Crash())
      yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(parentInits)).toBe(2)
      expect(yield* Ref.get(childInits)).toBe(2)
      expect(yield* child.ask(new Get())).toBe(0)
      // The parent may restart once: the next escalation stops it, and its child with it.
      const watch = yield* Effect.fork(node.watch(node.ref("parent", Counter)))
      yield* child.tell(new Crash())
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(watch)).reason).toBe("failed")
      expect(yield* node.actors).toEqual([])
    }).pipe(Effect.provide(local)))

  it.scoped("death watch: stop delivers Terminated(stopped); an unknown actor is not-found; queued asks fail", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const blocked = yield* Deferred.make<void>()
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("counter", counter({ gate, blocked }))
      const watch = yield* Effect.fork(node.watch(ref))
      yield* ref.tell(new Block())
      yield* Deferred.await(blocked)
      const queued = yield* Effect.fork(ref.ask(new Get()))
      yield* Effect.yieldNow()
      yield* node.stop(ref)
      expect((yield* Fiber.join(watch)).reason).toBe("stopped")
      expect((yield* Effect.flip(Fiber.join(queued)))._tag).toBe("ActorUnavailable")
      expect((yield* node.watch(node.ref("nobody", Counter))).reason).toBe("not-found")
    }).pipe(Effect.provide(local)))

  it.scoped("an actor watching another gets a message of its own protocol", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const watched = yield* node.spawn("watched", counter({}))
      const watcher = yield* node.spawn(
        "watcher",
        Actor.behavior({
          protocol: Counter,
          init: (ctx) => Effect.as(ctx.watch(watched, () => new Increment({ by: 100 })), 0),
          handlers: counter({}).handlers
        })
      )
      expect(yield* watcher.ask(new Get())).toBe(0)
      yield* node.stop(watched)
      // The watcher hears of it through its own mailbox, typed as its own protocol.
      yield* Effect.repeat(watcher.ask(new Get()), { until: (n) => n === 100, times: 100 })
      expect(yield* watcher.ask(new Get())).toBe(100)
    }).pipe(Effect.provide(local)))

  it.scoped("mailbox capacity is enforced with MailboxFull", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const blocked = yield* Deferred.make<void>()
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn("counter", counter({ gate, blocked }), { mailboxCapacity: 4 })
      yield* ref.tell(new Block())
      yield* Deferred.await(blocked) // the actor took Block and waits on the gate
      for (let i = 0; i < 4; i++) yield* ref.tell(new Increment({ by: 1 }))
      const error = yield* Effect.flip(ref.tell(new Increment({ by: 1 })))
      expect(error._tag).toBe("MailboxFull")
      yield* Deferred.succeed(gate, undefined)
      // Once the actor runs again it drains the mailbox, and there is room again.
      const get = ref.ask(new Get()).pipe(Effect.tapErrorTag("MailboxFull", () => Effect.yieldNow()))
      expect(yield* Effect.retry(get, { times: 5 })).toBe(4)
    }).pipe(Effect.provide(local)))
})

describe("Actor across nodes", () => {
  const serialized = InProcess.layer({ serialize: true })

  it.scoped("ask and tell across two nodes with serialize: true, typed failures included", () =>
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
    }).pipe(Effect.provide(serialized)))

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
    }).pipe(Effect.provide(serialized)))

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
    }).pipe(Effect.provide(serialized)))

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
    }).pipe(Effect.scoped, Effect.provide(serialized)))

  it.scoped("remote watch reports a stop as stopped", () =>
    Effect.gen(function*() {
      const a = yield* Node.make({ id: nodeA })
      const b = yield* Node.make({ id: nodeB })
      const onB = yield* b.spawn("counter", counter({}))
      const watch = yield* Effect.fork(a.watch(a.ref(onB.address, Counter)))
      yield* Effect.yieldNow()
      yield* b.stop(onB)
      expect((yield* Fiber.join(watch)).reason).toBe("stopped")
    }).pipe(Effect.provide(serialized)))

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
    }).pipe(Effect.provide(LinkFilter.layer(filter)), Effect.provide(serialized)))
})
