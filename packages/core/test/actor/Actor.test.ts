import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref, TestClock } from "effect"
import { Actor, InProcess, Node, NodeId, Supervision } from "../../src/index.js"
import { Block, Counter, counter, Crash, Explode, Get, Increment, Overdrawn, Slow, Withdraw } from "./protocol.js"

// Messages across nodes (serialisation, remote watch, link faults) are asserted by the network
// conformance suite in @fiberlog/testkit, run there against each network.
const local = InProcess.layer()
const nodeA = NodeId.make("a")

/** A counter from 0 whose `Withdraw` answers later, with what `answer` makes of the request. */
const answeringLater = (answer: (msg: Withdraw) => Actor.Later<number, Overdrawn>) =>
  Actor.behavior({
    protocol: Counter,
    init: () => Effect.succeed(0),
    handlers: {
      ...counter({}).handlers,
      Withdraw: (n, msg) => Effect.succeed([answer(msg), n] as const)
    }
  })

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

  it.scoped("an ask in the hands of a handler that dies gets ActorUnavailable(failed); one whose actor is stopped, (stopped)", () =>
    Effect.gen(function*() {
      const node = yield* Node.make({ id: nodeA })
      const supervision = Supervision.restart({ maxRestarts: 3, withinMs: 60_000, baseDelayMs: 100 })
      const ref = yield* node.spawn("counter", counter({ start: 1 }), { supervision })
      const exploded = yield* Effect.flip(ref.ask(new Explode()))
      expect(exploded).toMatchObject({ _tag: "ActorUnavailable", reason: "failed" })
      yield* TestClock.adjust("1 second") // restarted
      expect(yield* ref.ask(new Get())).toBe(1)
      const slow = yield* Effect.fork(ref.ask(new Slow(), { timeoutMs: 60_000 }))
      yield* TestClock.adjust("10 millis")
      yield* node.stop(ref)
      expect(yield* Effect.flip(Fiber.join(slow))).toMatchObject({ _tag: "ActorUnavailable", reason: "stopped" })
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

  it.scoped("a handler can answer later (Actor.later) while the actor goes on with its mailbox", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<number>()
      const node = yield* Node.make({ id: nodeA })
      const ref = yield* node.spawn(
        "later",
        answeringLater((msg) =>
          Actor.later(
            Effect.flatMap(Deferred.await(gate), (had) =>
              had < msg.amount ? Effect.fail(new Overdrawn({ wanted: msg.amount, had })) : Effect.succeed(had))
          )
        )
      )
      const slow = yield* Effect.fork(ref.ask(new Withdraw({ amount: 5 })))
      const denied = yield* Effect.fork(ref.ask(new Withdraw({ amount: 50 })))
      yield* ref.tell(new Increment({ by: 1 }))
      expect(yield* ref.ask(new Get())).toBe(1) // answered while the two withdrawals wait
      yield* Deferred.succeed(gate, 10)
      expect(yield* Fiber.join(slow)).toBe(10)
      expect(yield* Effect.flip(Fiber.join(denied))).toEqual(new Overdrawn({ wanted: 50, had: 10 }))
    }).pipe(Effect.provide(local)))

  it.scoped("Actor.laterCallback answers by callback; if the incarnation crashes first the ask gets ActorUnavailable(stopped) and a late answer is ignored", () =>
    Effect.gen(function*() {
      // The answer function handed over for each withdrawal, by amount, once its handler has run.
      type Answer = (exit: Exit.Exit<number, Overdrawn>) => void
      const answers = new Map<number, Deferred.Deferred<Answer>>()
      for (const amount of [1, 2, 3]) answers.set(amount, yield* Deferred.make<Answer>())
      const answerFor = (amount: number) => Deferred.await(answers.get(amount)!)
      const node = yield* Node.make({ id: nodeA })
      const supervision = Supervision.restart({ maxRestarts: 3, withinMs: 60_000, baseDelayMs: 100 })
      const ref = yield* node.spawn(
        "callback",
        answeringLater((msg) =>
          Actor.laterCallback<number, Overdrawn>((answer) => Deferred.unsafeDone(answers.get(msg.amount)!, Exit.succeed(answer)))
        ),
        { supervision }
      )
      const first = yield* Effect.fork(ref.ask(new Withdraw({ amount: 1 })))
      const answerFirst = yield* answerFor(1)
      yield* ref.tell(new Increment({ by: 1 }))
      expect(yield* ref.ask(new Get())).toBe(1) // the waiting ask does not hold the mailbox
      answerFirst(Exit.succeed(7))
      expect(yield* Fiber.join(first)).toBe(7)

      const second = yield* Effect.fork(ref.ask(new Withdraw({ amount: 2 })))
      const third = yield* Effect.fork(ref.ask(new Withdraw({ amount: 3 })))
      const answerSecond = yield* answerFor(2)
      const answerThird = yield* answerFor(3)
      answerThird(Exit.fail(new Overdrawn({ wanted: 3, had: 1 })))
      expect(yield* Effect.flip(Fiber.join(third))).toEqual(new Overdrawn({ wanted: 3, had: 1 }))
      yield* ref.tell(new Crash())
      const error = yield* Effect.flip(Fiber.join(second))
      expect(error).toMatchObject({ _tag: "ActorUnavailable", reason: "stopped" })
      answerSecond(Exit.succeed(99)) // too late: ignored, nothing breaks
      const get = yield* Effect.fork(ref.ask(new Get()))
      yield* TestClock.adjust("150 millis") // past the restart backoff (100 ms, jitter 0.8..1.2)
      expect(yield* Fiber.join(get)).toBe(0) // the new incarnation serves asks
    }).pipe(Effect.provide(local)))
})
