import { Deferred, Effect, Ref, Schema } from "effect"
import { Actor } from "../../src/index.js"

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

/** A request whose handler dies (a defect) before answering. */
export class Explode extends Schema.TaggedRequest<Explode>()("Explode", { failure: Schema.Never, success: Schema.Void, payload: {} }) {}

export const Counter = Schema.Union(Increment, Get, Withdraw, Crash, Block, Slow, Explode)
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
      Slow: (n) => Effect.as(Effect.sleep("1 hour"), [undefined, n] as const),
      Explode: () => Effect.dieMessage("boom")
    }
  })
