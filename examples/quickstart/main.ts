/**
 * fiberlog quickstart: two nodes on the in-process network, one actor asking another.
 * (The embedded-cluster demo replaces this once the cluster lands.)
 */
import { Actor, InProcess, Node, NodeId } from "@fiberlog/core"
import { Console, Effect, Schema } from "effect"

class Greet extends Schema.TaggedRequest<Greet>()("Greet", {
  failure: Schema.Never,
  success: Schema.String,
  payload: { name: Schema.String }
}) {}

const greeter = Actor.behavior({
  protocol: Greet,
  init: () => Effect.succeed(0),
  handlers: {
    Greet: (count, { name }) => Effect.succeed([`hello ${name}, you are visitor #${count + 1}`, count + 1] as const)
  }
})

const program = Effect.gen(function*() {
  const broker = yield* Node.make({ id: NodeId.make("broker-1") })
  const client = yield* Node.make({ id: NodeId.make("client-1") })
  const ref = yield* broker.spawn("greeter", greeter)
  const remote = client.ref(ref.address, Greet)
  for (const name of ["ada", "grace"]) {
    yield* Console.log(`client-1 -> ${remote.address}: ${yield* remote.ask(new Greet({ name }))}`)
  }
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(InProcess.layer({ serialize: true }))))
