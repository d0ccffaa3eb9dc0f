/**
 * Actor runtime throughput: tell and ask, local and across two nodes on the in-process network,
 * against a bare Effect `Mailbox` loop (offer + takeAll, no actor machinery) passing the same
 * messages — the limit the runtime is measured against. One JSON object a line.
 *
 *   npm run bench:actor            (N=1000000 by default; BENCH_N to change)
 */
import { Actor, InProcess, Node, NodeId } from "@fiberlog/core"
import { Effect, Mailbox, Schema } from "effect"

const N = Number(process.env.BENCH_N ?? 1_000_000)
const capacity = 4096

class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
class Total extends Schema.TaggedRequest<Total>()("Total", { failure: Schema.Never, success: Schema.Number, payload: {} }) {}
const Protocol = Schema.Union(Add, Total)

const adder = Actor.behavior({
  protocol: Protocol,
  init: () => Effect.succeed(0),
  handlers: {
    Add: (sum, msg) => Effect.succeed(sum + msg.n),
    Total: (sum) => Effect.succeed([sum, sum] as const)
  }
})

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, seconds: (performance.now() - start) / 1000 }
  })

const messages = Array.from({ length: 1024 }, (_, i) => new Add({ n: i }))

const bareMailbox = Effect.gen(function*() {
  const mailbox = yield* Mailbox.make<Add>(capacity)
  const consumer = yield* Effect.fork(Effect.gen(function*() {
    let seen = 0
    let sum = 0
    while (seen < N) {
      const [chunk] = yield* mailbox.takeAll
      for (const msg of chunk) sum += msg.n
      seen += chunk.length
    }
    return sum
  }))
  for (let i = 0; i < N; i++) yield* mailbox.offer(messages[i & 1023])
  yield* consumer.await
})

const tells = (ref: Actor.ActorRef<typeof Protocol.Type>) =>
  Effect.gen(function*() {
    for (let i = 0; i < N; i++) yield* ref.tell(messages[i & 1023])
    return yield* ref.ask(new Total(), { timeoutMs: 600_000 })
  })

const asks = (ref: Actor.ActorRef<typeof Protocol.Type>, count: number) =>
  Effect.forEach(
    Array.from({ length: 64 }),
    () => Effect.repeatN(ref.ask(new Total(), { timeoutMs: 600_000 }), Math.floor(count / 64) - 1),
    { concurrency: "unbounded", discard: true }
  )

const program = Effect.gen(function*() {
  const print = (name: string, perSec: number, base: number, extra: object = {}) =>
    console.log(JSON.stringify({ name, perSec: Math.round(perSec), ratioToMailbox: Number((perSec / base).toFixed(3)), ...extra }))
  // The machine may be shared: run the baseline and local tells alternately, three rounds,
  // and keep each one's best round.
  const a = yield* Node.make({ id: NodeId.make("a") })
  const b = yield* Node.make({ id: NodeId.make("b") })
  const local = yield* a.spawn("adder", adder, { mailboxCapacity: capacity, overflow: "suspend" })
  yield* timed(bareMailbox) // warm-up
  yield* timed(tells(local)) // warm-up
  let bareSeconds = Number.POSITIVE_INFINITY
  let tellSeconds = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    bareSeconds = Math.min(bareSeconds, (yield* timed(bareMailbox)).seconds)
    tellSeconds = Math.min(tellSeconds, (yield* timed(tells(local))).seconds)
  }
  const base = N / bareSeconds
  console.log(JSON.stringify({ name: "mailbox", perSec: Math.round(base) }))
  print("tell-local", N / tellSeconds, base)
  const askCount = Math.floor(N / 10)
  const askLocal = yield* timed(asks(local, askCount))
  print("ask-local", askCount / askLocal.seconds, base)

  const onB = yield* b.spawn("adder", adder, { mailboxCapacity: capacity, overflow: "suspend" })
  const remote = a.ref(onB.address, Protocol)
  const tellRemote = yield* timed(tells(remote))
  print("tell-remote", N / tellRemote.seconds, base)
  const askRemote = yield* timed(asks(remote, askCount))
  print("ask-remote", askCount / askRemote.seconds, base)
})

const serialize = process.env.BENCH_SERIALIZE === "1"
Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(InProcess.layer({ serialize }))))
