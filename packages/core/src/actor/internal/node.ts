/**
 * The machinery behind `Node`: the actor cells (mailbox + supervised fiber), the registry, and
 * the routing of envelopes between nodes (asks, replies, death watch).
 *
 * @internal
 */
import { Cause, Clock, type Context, Deferred, Effect, Either, Exit, Fiber, FiberId, FiberRef, ParseResult, Runtime, Schedule, Schema, Scope } from "effect"
import * as Envelope from "../../transport/Envelope.js"
import type { NodeId } from "../../transport/NodeId.js"
import * as Transport from "../../transport/Transport.js"
import * as Actor from "../Actor.js"
import {
  ActorAlreadyExists,
  ActorUnavailable,
  AskTimeout,
  type DeliveryError,
  InvalidActorName,
  MailboxFull,
  MessageNotSerializable,
  Rejection
} from "../ActorError.js"
import { Address, isValidSegment, make as makeAddress } from "../Address.js"
import * as Supervision from "../Supervision.js"
import { CellMailbox } from "./mailbox.js"
import { AskTimers, type ReplySlot, replySlot } from "./timers.js"
import { type Reason, Terminated } from "../Terminated.js"

type Codec = (value: unknown) => Effect.Effect<unknown, ParseResult.ParseError>

const decoders = new WeakMap<Schema.Schema<any, any>, Codec>()
const encoders = new WeakMap<Schema.Schema<any, any>, Codec>()

/** `Schema.decodeUnknown(schema)`, made once per schema (protocols and exit schemas live as long as the process). */
const decoderOf = (schema: Schema.Schema<any, any>): Codec => {
  let decode = decoders.get(schema)
  if (decode === undefined) decoders.set(schema, decode = Schema.decodeUnknown(schema))
  return decode
}

/** `Schema.encode(schema)`, made once per schema. */
const encoderOf = (schema: Schema.Schema<any, any>): Codec => {
  let encode = encoders.get(schema)
  if (encode === undefined) encoders.set(schema, encode = Schema.encode(schema) as Codec)
  return encode
}

/**
 * Builds one of the runtime's own delivery errors (`ActorUnavailable`, `AskTimeout`) without
 * capturing a stack trace, and without validating fields that come from the runtime's typed values.
 * Under faults they are expected and frequent (every send to an unreachable node, every lost
 * reply), and their trace would only show the runtime's loop: capturing it was a stack walk per
 * failed message. Errors that report a bug or wrap a user's values keep their trace.
 */
const stackless = <E>(build: () => E): E => {
  const limit = Error.stackTraceLimit
  // Engines without V8's stack API: build as usual.
  if (typeof limit !== "number") return build()
  Error.stackTraceLimit = 0
  try {
    return build()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** `ActorUnavailable`, built by the runtime (see `stackless`). */
const unavailableError = (address: string, reason: ActorUnavailable["reason"]): ActorUnavailable =>
  stackless(() => new ActorUnavailable({ address, reason }, true))

/**
 * A request waiting in a mailbox, with the way back to its asker. `respond` and `reject` answer
 * at once when called (a local slot completed, or a reply handed to the transport) and return
 * what is left to run: `Effect.void` (an `Exit`) unless the transport needs an effect.
 */
abstract class AskDelivery {
  constructor(readonly message: unknown) {}
  abstract respond(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void>
  abstract reject(error: DeliveryError): Effect.Effect<void>
}

/** An ask from this node: answered in its reply slot. */
class LocalAsk extends AskDelivery {
  constructor(message: unknown, readonly slot: ReplySlot) {
    super(message)
  }
  respond(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    this.slot.complete(exit)
    return Effect.void
  }
  reject(error: DeliveryError): Effect.Effect<void> {
    this.slot.complete(Exit.fail(error))
    return Effect.void
  }
}

/** An ask from another node: answered through the transport. */
class RemoteAsk extends AskDelivery {
  constructor(message: unknown, readonly node: NodeImpl, readonly envelope: Envelope.Envelope) {
    super(message)
  }
  respond(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return this.node.reply(this.envelope, this.message, exit)
  }
  reject(error: DeliveryError): Effect.Effect<void> {
    return this.node.reject(this.envelope, error)
  }
}

/** A child whose supervision gave up and escalated: fails its parent's incarnation. */
class ChildFailed extends Error {
  constructor(readonly path: string, readonly childCause: Cause.Cause<unknown>) {
    super(`child ${path} failed and escalated: ${Cause.pretty(childCause)}`)
  }
}

interface Cell {
  readonly path: string
  readonly address: Address
  readonly mailbox: CellMailbox
  readonly capacity: number
  readonly overflow: Actor.Overflow
  readonly protocol: Schema.Schema<any, any>
  readonly terminated: Deferred.Deferred<Reason>
  readonly parent: Cell | undefined
  /** Messages taken from the mailbox and not handled yet; kept across restarts. */
  buffer: ReadonlyArray<unknown>
  position: number
  escalation: Deferred.Deferred<never> | undefined
  /** The ask being handled, until answered: rejected if the incarnation ends before it is. */
  current: AskDelivery | undefined
  /** Asks answered by a `LaterCallback` and not yet answered: rejected when the incarnation ends. */
  laters: Set<AskDelivery>
  /** The incarnation's runtime, to run what a `LaterCallback`'s answer leaves to run (a transport's send). */
  runtime: Runtime.Runtime<never> | undefined
  fiber: Fiber.RuntimeFiber<Reason> | undefined
  stopRequested: boolean
  done: boolean
}

/** Runtime messages between nodes (death watch). */
class Watch extends Schema.TaggedClass<Watch>()("Watch", { path: Schema.String }) {}
class WatchNotice extends Schema.TaggedClass<WatchNotice>()("WatchNotice", {
  reason: Schema.Literal("stopped", "failed", "not-found", "unreachable")
}) {}
const SystemMessage = Schema.Union(Watch, WatchNotice)

interface PendingAsk {
  readonly node: NodeId
  readonly request: Schema.WithResult.Any
  readonly slot: ReplySlot
}

interface PendingWatch {
  readonly node: NodeId
  readonly deferred: Deferred.Deferred<Reason>
}

/** Where a node incarnation's correlation ids start: anywhere below 2^52, leaving 2^52 ids above. */
const askIdStart = (): number => 1 + Math.floor(Math.random() * 2 ** 52)

/** One node: hosts actors and routes messages for other nodes through its transport. */
export class NodeImpl implements Actor.NodeLike {
  readonly cells = new Map<string, Cell>()
  readonly pendingAsks = new Map<number, PendingAsk>()
  readonly pendingWatches = new Map<number, PendingWatch>()
  transport: Transport.Transport | undefined = undefined
  timers: AskTimers | undefined = undefined
  failureObserver: Context.Tag.Service<Supervision.FailureObserver> = Supervision.FailureObserver.defaultValue()
  /**
   * Correlation ids of this node's asks and watches. Each incarnation of a node id starts at its
   * own random point of the 2^52 safe integers, so a reply to an ask of an earlier incarnation
   * (a long poll answered after its asker crashed and came back under the same id) cannot be taken
   * for the answer to one of this incarnation's asks, as it was when every incarnation counted
   * from 1. The start affects no behaviour beyond that (ids are only matched, never ordered or
   * shown), so it is not drawn from the seeded `Random`: replays stay identical.
   */
  private nextId = askIdStart()

  constructor(readonly id: NodeId, readonly scope: Scope.Scope) {}

  // ---- refs ---------------------------------------------------------------------------------

  ref<A>(address: Address | string, protocol: Schema.Schema<A, any>): Actor.ActorRef<A> {
    const resolved = typeof address === "string" ? makeAddress(this.id, address) : address
    return new Ref(this, resolved, protocol)
  }

  tell(ref: Ref<any>, message: unknown): Effect.Effect<void, DeliveryError> {
    const address = ref.address
    if (address.node !== this.id) return this.sendRemote(address, "tell", 0, message, ref.protocol)
    const cell = this.cells.get(address.path)
    if (cell === undefined || cell.done) return Effect.fail(this.unavailable(address, cell))
    return this.offer(cell, message)
  }

  ask(ref: Ref<any>, request: Schema.WithResult.Any, options?: Actor.AskOptions): Effect.Effect<any, any> {
    const address = ref.address
    const timeoutMs = options?.timeoutMs ?? 5_000
    // From the runtime's own typed values: no validation.
    const onTimeout = () =>
      stackless(() => new AskTimeout({ address: address.toString(), request: (request as any)._tag ?? "?", timeoutMs }, true))
    if (address.node === this.id) {
      return Effect.suspend(() => {
        const cell = this.cells.get(address.path)
        if (cell === undefined || cell.done) return Effect.fail(this.unavailable(address, cell))
        const slot = replySlot(onTimeout)
        const offered = this.offer(cell, new LocalAsk(request, slot))
        return offered === Effect.void
          ? this.awaitReply(timeoutMs, slot)
          : Effect.zipRight(offered, Effect.suspend(() => this.awaitReply(timeoutMs, slot)))
      })
    }
    // The pending entry goes when the ask ends: its reply, reject or `peerDown` takes it, a failed
    // send drops it, and the deadline (registered before sending, so an interrupted asker leaves
    // nothing behind for longer than its timeout) removes what is left, without an `ensuring`.
    return Effect.suspend(() => {
      const id = this.nextId++
      const slot = replySlot(() => {
        this.pendingAsks.delete(id)
        return onTimeout()
      })
      this.pendingAsks.set(id, { node: address.node, request, slot })
      const started = this.timers!.add(timeoutMs, slot)
      // Sent once the deadline's sweeper runs (it has to start only for the first ask of a timeout).
      return started === Effect.void
        ? this.sendAsk(ref, id, request, slot)
        : Effect.zipRight(started, Effect.suspend(() => this.sendAsk(ref, id, request, slot)))
    })
  }

  /**
   * Waits for a local ask's reply. Most asks find their timeout's sweeper running (`add` returns
   * `Effect.void`): no effect to sequence before the wait.
   */
  private awaitReply(timeoutMs: number, slot: ReplySlot): Effect.Effect<unknown, unknown> {
    const started = this.timers!.add(timeoutMs, slot)
    return started === Effect.void ? slot.await : Effect.zipRight(started, slot.await)
  }

  /** Sends a remote ask (registered as pending `id`) and waits for its reply. */
  private sendAsk(ref: Ref<any>, id: number, request: Schema.WithResult.Any, slot: ReplySlot): Effect.Effect<unknown, unknown> {
    const sent = this.sendRemote(ref.address, "ask", id, request, ref.protocol)
    if (sent === Effect.void) return slot.await
    return Effect.matchEffect(sent, {
      onFailure: (error) => {
        this.pendingAsks.delete(id)
        slot.complete(Exit.fail(error)) // its deadline has nothing left to do
        return Effect.fail(error)
      },
      onSuccess: () => slot.await
    })
  }

  /** `ActorUnavailable` for an ask or tell to `address` (a string: `node/path`) whose cell is gone or done. */
  private unavailable(address: Address | string, cell: Cell | undefined) {
    return unavailableError(address.toString(), cell === undefined ? "not-found" : "stopped")
  }

  private offer(cell: Cell, message: unknown): Effect.Effect<void, DeliveryError> {
    if (cell.mailbox.unsafeOffer(message)) return Effect.void
    if (cell.overflow === "suspend" && !cell.done) {
      return Effect.flatMap(cell.mailbox.offer(message), (ok) =>
        ok ? Effect.void : Effect.fail(this.unavailable(cell.address, cell)))
    }
    return Effect.fail(
      cell.done
        ? this.unavailable(cell.address, cell)
        : new MailboxFull({ address: cell.address.toString(), capacity: cell.capacity })
    )
  }

  private sendRemote(
    address: Address,
    kind: "tell" | "ask",
    id: number,
    message: unknown,
    protocol: Schema.Schema<any, any>
  ): Effect.Effect<void, DeliveryError> {
    const transport = this.transport!
    if (!transport.encodes) return this.sendPayload(transport, address, kind, id, message)
    const encoded = encoderOf(protocol)(message)
    // A synchronous schema encodes to an `Either`: take it without an effect.
    if (Either.isEither(encoded) && Either.isRight(encoded)) return this.sendPayload(transport, address, kind, id, encoded.right)
    return Effect.flatMap(
      Effect.mapError(encoded, (error) => new MessageNotSerializable({ address: address.toString(), detail: error.message })),
      (payload) => this.sendPayload(transport, address, kind, id, payload)
    )
  }

  /** Sends now (callers run inside an effect): a transport that hands over at once leaves nothing to run. */
  private sendPayload(
    transport: Transport.Transport,
    address: Address,
    kind: "tell" | "ask",
    id: number,
    payload: unknown
  ): Effect.Effect<void, DeliveryError> {
    const sent = Transport.sendNow(
      transport,
      { from: this.id, to: address.node, path: address.path, kind, id, encoded: transport.encodes, payload }
    )
    if (sent === Effect.void) return Effect.void
    return Effect.mapError(sent, (error) =>
      error._tag === "NodeUnreachable"
        ? unavailableError(address.toString(), "unreachable")
        : new MessageNotSerializable({ address: address.toString(), detail: error.detail }))
  }

  // ---- spawning and supervision -------------------------------------------------------------

  spawn<A extends Actor.Message, I, S, R>(
    parent: Cell | undefined,
    scope: Scope.Scope,
    name: string,
    behavior: Actor.Behavior<A, I, S, R>,
    options: Actor.SpawnOptions = {}
  ): Effect.Effect<Actor.ActorRef<A>, ActorAlreadyExists | InvalidActorName, R> {
    return Effect.suspend((): Effect.Effect<Actor.ActorRef<A>, ActorAlreadyExists | InvalidActorName, R> => {
      if (!isValidSegment(name)) return Effect.fail(new InvalidActorName({ name }))
      const path = parent === undefined ? name : `${parent.path}/${name}`
      if (this.cells.has(path)) return Effect.fail(new ActorAlreadyExists({ path }))
      const capacity = options.mailboxCapacity ?? 4096
      const overflow = options.overflow ?? "fail"
      return Effect.gen(this, function*() {
        const mailbox = new CellMailbox(
          capacity,
          overflow === "fail" ? "dropping" : overflow,
          yield* FiberRef.get(FiberRef.currentScheduler)
        )
        const address = new Address({ node: this.id, path })
        const cell: Cell = {
          path,
          address,
          mailbox,
          capacity,
          overflow,
          protocol: behavior.protocol,
          terminated: yield* Deferred.make<Reason>(),
          parent,
          buffer: [],
          position: 0,
          escalation: undefined,
          current: undefined,
          laters: new Set(),
          runtime: undefined,
          fiber: undefined,
          stopRequested: false,
          done: false
        }
        this.cells.set(path, cell)
        const ref = new Ref<A>(this, address, behavior.protocol)
        const strategy = options.supervision ?? Supervision.defaultStrategy
        // A fiber interrupted before it starts runs no finalizer: wait until it is inside the
        // region that always ends in `terminate`, so `stop` or a closing scope never leaks a cell.
        const started = yield* Deferred.make<void>()
        cell.fiber = yield* Effect.forkIn(
          Effect.uninterruptibleMask((restore) =>
            Effect.zipRight(Deferred.succeed(started, undefined), restore(this.supervise(cell, behavior, strategy, ref)))
              .pipe(Effect.onExit((exit) => this.terminate(cell, Exit.isSuccess(exit) ? exit.value : "stopped")))
          ),
          scope
        )
        yield* Deferred.await(started)
        return ref as Actor.ActorRef<A>
      })
    })
  }

  private supervise<A extends Actor.Message, I, S, R>(
    cell: Cell,
    behavior: Actor.Behavior<A, I, S, R>,
    strategy: Supervision.Strategy,
    ref: Ref<A>
  ): Effect.Effect<Reason, never, R> {
    return Effect.gen(this, function*() {
      const driver = yield* Schedule.driver(strategy.backoff)
      let restartTimesMs: ReadonlyArray<number> = []
      while (true) {
        const exit = yield* Effect.exit(this.incarnation(cell, behavior, ref))
        if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return "stopped" as const
        yield* Effect.logWarning(`actor ${cell.address} failed`, exit.cause)
        this.failureObserver.onFailure({ address: cell.address.toString(), cause: exit.cause })
        const decision = Supervision.decide(strategy, restartTimesMs, yield* Clock.currentTimeMillis)
        const delay = decision._tag === "Restart"
          ? yield* Effect.zipRight(decision.windowReset ? driver.reset : Effect.void, Effect.either(driver.next(undefined)))
          : undefined
        if (decision._tag === "GiveUp" || delay?._tag === "Left") {
          if (strategy.onGiveUp === "escalate" && cell.parent?.escalation !== undefined) {
            Deferred.unsafeDone(cell.parent.escalation, Exit.die(new ChildFailed(cell.path, exit.cause)))
          }
          return "failed" as const
        }
        restartTimesMs = decision.restartTimesMs
      }
    })
  }

  private incarnation<A extends Actor.Message, I, S, R>(
    cell: Cell,
    behavior: Actor.Behavior<A, I, S, R>,
    ref: Ref<A>
  ): Effect.Effect<void, unknown, R> {
    return Effect.scoped(Effect.gen(this, function*() {
      const escalation = yield* Deferred.make<never>()
      cell.escalation = escalation
      const scope = yield* Effect.scope
      const ctx = this.context(cell, ref, scope)
      cell.laters = new Set()
      cell.runtime = yield* Effect.runtime<never>()
      const state = yield* behavior.init(ctx)
      yield* Effect.raceFirst(this.drain(cell, behavior.handlers as any, ctx, state, scope), Deferred.await(escalation))
    }))
  }

  /**
   * The actor's loop: takes what the mailbox holds and handles it in order, until the mailbox
   * shuts down or the actor stops itself. A plain loop over `Effect.flatMap` (no generator), taking
   * a handler's `Exit` at once; it waits only when the mailbox is empty. Whatever ends it with an
   * ask unanswered (a defect, an interruption) rejects that ask (see `handle`).
   */
  private drain<S>(
    cell: Cell,
    handlers: Record<string, (state: S, message: any, ctx: any) => Effect.Effect<any, any, any>>,
    ctx: Actor.Context<any>,
    initial: S,
    scope: Scope.Scope
  ): Effect.Effect<void, never, any> {
    let ending = false
    const loop = (state: S): Effect.Effect<void, never, any> => {
      while (true) {
        if (cell.position >= cell.buffer.length) {
          if (ending) return Effect.void
          const taken = cell.mailbox.unsafeTakeAll()
          if (taken === undefined) return Effect.flatMap(cell.mailbox.awaitOffer, () => loop(state))
          cell.buffer = taken[0]
          cell.position = 0
          ending = taken[1]
          continue
        }
        const delivery = cell.buffer[cell.position++]
        const next = handle(cell, handlers, ctx, state, delivery, scope)
        if (Exit.isExit(next) && Exit.isSuccess(next)) state = next.value as S
        else return Effect.flatMap(next, continueWith)
        if (cell.stopRequested) return Effect.void
      }
    }
    const continueWith = (state: S) => cell.stopRequested ? Effect.void : loop(state)
    return Effect.onExit(
      Effect.suspend(() => loop(initial)),
      (exit) => {
        const rejected = rejectLaters(cell)
        const delivery = cell.current
        if (delivery === undefined) return rejected
        cell.current = undefined
        if (Exit.isSuccess(exit)) return rejected
        return Effect.zipRight(
          rejected,
          delivery.reject(
            unavailableError(cell.address.toString(), Exit.isInterrupted(exit) ? "stopped" : "failed")
          )
        )
      }
    )
  }

  private context<A>(cell: Cell, self: Ref<A>, scope: Scope.Scope): Actor.Context<A> {
    return {
      self,
      node: this,
      spawn: (name, behavior, options) => this.spawn(cell, scope, name, behavior, options),
      watch: (target, toMessage) =>
        this.watch(target).pipe(
          Effect.flatMap((terminated) => Effect.ignore(self.tell(toMessage(terminated)))),
          Effect.forkIn(scope),
          Effect.asVoid
        ),
      stopSelf: Effect.sync(() => {
        cell.stopRequested = true
      })
    }
  }

  private terminate(cell: Cell, reason: Reason): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      cell.done = true
      if (this.cells.get(cell.path) === cell) this.cells.delete(cell.path)
      const rest = [...cell.buffer.slice(cell.position), ...(yield* cell.mailbox.clear)]
      cell.buffer = []
      cell.position = 0
      yield* cell.mailbox.shutdown
      // Built only when an ask is left to reject.
      let error: ActorUnavailable | undefined
      for (const delivery of rest) {
        if (delivery instanceof AskDelivery) {
          error ??= unavailableError(cell.address.toString(), "stopped")
          yield* delivery.reject(error)
        }
      }
      yield* Deferred.succeed(cell.terminated, reason)
    })
  }

  stop(target: Actor.ActorRef<any> | Address): Effect.Effect<void> {
    const address = "address" in target ? target.address : target
    return Effect.suspend(() => {
      const cell = address.node === this.id ? this.cells.get(address.path) : undefined
      return cell?.fiber === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(cell.fiber))
    })
  }

  // ---- death watch --------------------------------------------------------------------------

  watch(target: Actor.ActorRef<any> | Address): Effect.Effect<Terminated> {
    const address = "address" in target ? target.address : target
    const done = (reason: Reason) => new Terminated({ address, reason })
    if (address.node === this.id) {
      return Effect.suspend(() => {
        const cell = this.cells.get(address.path)
        return cell === undefined ? Effect.succeed(done("not-found")) : Effect.map(Deferred.await(cell.terminated), done)
      })
    }
    return Effect.suspend(() => {
      const id = this.nextId++
      const deferred = Deferred.unsafeMake<Reason>(FiberId.none)
      this.pendingWatches.set(id, { node: address.node, deferred })
      return this.sendSystem(address.node, id, new Watch({ path: address.path })).pipe(
        Effect.catchAll(() => Deferred.succeed(deferred, "unreachable")),
        Effect.zipRight(Deferred.await(deferred)),
        Effect.ensuring(Effect.sync(() => this.pendingWatches.delete(id))),
        Effect.map(done)
      )
    })
  }

  private sendSystem(to: NodeId, id: number, message: Watch | WatchNotice) {
    const transport = this.transport!
    const payload = transport.encodes ? Schema.encodeSync(SystemMessage)(message) : message
    return transport.send({ from: this.id, to, path: Envelope.systemPath, kind: "system", id, encoded: transport.encodes, payload })
  }

  // ---- inbound ------------------------------------------------------------------------------

  readonly handler: Transport.Handler = {
    deliver: (envelope) => this.deliver(envelope),
    peerDown: (peer) =>
      Effect.suspend(() => {
        const effects: Array<Effect.Effect<unknown>> = []
        for (const [id, ask] of this.pendingAsks) {
          if (ask.node === peer) {
            this.pendingAsks.delete(id)
            ask.slot.complete(Exit.fail(unavailableError(`${peer}`, "unreachable")))
          }
        }
        for (const [, watch] of this.pendingWatches) {
          if (watch.node === peer) effects.push(Deferred.succeed(watch.deferred, "unreachable"))
        }
        return Effect.all(effects, { discard: true })
      })
  }

  /** The payload, decoded: an `Either` (handled without an effect) when the schema is synchronous. */
  private decode(schema: Schema.Schema<any, any>, envelope: Envelope.Envelope): Effect.Effect<any, MessageNotSerializable> {
    if (!envelope.encoded) return Effect.succeed(envelope.payload)
    const notSerializable = (error: ParseResult.ParseError) =>
      new MessageNotSerializable({ address: `${envelope.to}/${envelope.path}`, detail: error.message })
    const decoded = decoderOf(schema)(envelope.payload)
    if (Either.isEither(decoded)) {
      const either = decoded as Either.Either<unknown, ParseResult.ParseError>
      return Either.isRight(either) ? either as Either.Either<unknown, never> : Either.left(notSerializable(either.left))
    }
    return Effect.mapError(decoded, notSerializable)
  }

  private deliver(envelope: Envelope.Envelope): Effect.Effect<void> {
    switch (envelope.kind) {
      case "tell": {
        const cell = this.cells.get(envelope.path)
        if (cell === undefined || cell.done) return Effect.void
        // Unencoded and taken by the mailbox at once (the usual case): nothing left to run.
        if (!envelope.encoded && cell.mailbox.unsafeOffer(envelope.payload)) return Effect.void
        const dropped = (error: DeliveryError) => Effect.logDebug(`dropped tell to ${cell.address}: ${error.message}`)
        const message = this.decode(cell.protocol, envelope)
        if (Either.isEither(message) && Either.isRight(message)) {
          const offered = this.offer(cell, message.right)
          return offered === Effect.void ? Effect.void : Effect.catchAll(offered, dropped)
        }
        return message.pipe(Effect.flatMap((message) => this.offer(cell, message)), Effect.catchAll(dropped))
      }
      case "ask": {
        const cell = this.cells.get(envelope.path)
        if (cell === undefined || cell.done) {
          return this.reject(envelope, this.unavailable(`${this.id}/${envelope.path}`, cell))
        }
        if (!envelope.encoded) return this.offerAsk(cell, envelope, envelope.payload)
        const request = this.decode(cell.protocol, envelope)
        if (Either.isEither(request) && Either.isRight(request)) return this.offerAsk(cell, envelope, request.right)
        return request.pipe(
          Effect.flatMap((request) => this.offerAsk(cell, envelope, request)),
          Effect.catchAll((error) => this.reject(envelope, error))
        )
      }
      case "reply": {
        const pending = this.pendingAsks.get(envelope.id)
        if (pending === undefined || pending.node !== envelope.from) return Effect.void
        this.pendingAsks.delete(envelope.id)
        if (!envelope.encoded) {
          pending.slot.complete(envelope.payload as Exit.Exit<unknown, unknown>)
          return Effect.void
        }
        const exitSchema = Schema.exitSchema(pending.request) as Schema.Schema<Exit.Exit<unknown, unknown>, unknown>
        const decoded = decoderOf(exitSchema)(envelope.payload)
        if (Either.isEither(decoded)) {
          const either = decoded as Either.Either<unknown, ParseResult.ParseError>
          pending.slot.complete(
            Either.isRight(either)
              ? either.right as Exit.Exit<unknown, unknown>
              : Exit.fail(new MessageNotSerializable({ address: `${envelope.from}`, detail: either.left.message }))
          )
          return Effect.void
        }
        return decoded.pipe(
          Effect.map((exit) => pending.slot.complete(exit as Exit.Exit<unknown, unknown>)),
          Effect.catchAll((error) =>
            Effect.sync(() =>
              pending.slot.complete(Exit.fail(new MessageNotSerializable({ address: `${envelope.from}`, detail: error.message })))
            )
          ),
          Effect.asVoid
        )
      }
      case "reject": {
        const pending = this.pendingAsks.get(envelope.id)
        if (pending === undefined || pending.node !== envelope.from) return Effect.void
        this.pendingAsks.delete(envelope.id)
        const error = envelope.encoded ? Schema.decodeUnknownEither(Rejection)(envelope.payload) : undefined
        const rejection = error === undefined
          ? envelope.payload
          : error._tag === "Right"
          ? error.right
          : new MessageNotSerializable({ address: `${envelope.from}`, detail: error.left.message })
        pending.slot.complete(Exit.fail(rejection))
        return Effect.void
      }
      case "system":
        return this.decode(SystemMessage, envelope).pipe(
          Effect.flatMap((message) => this.onSystem(envelope, message)),
          Effect.catchAll((error) => Effect.logDebug(`dropped system message: ${error.message}`))
        )
    }
  }

  private onSystem(envelope: Envelope.Envelope, message: Watch | WatchNotice): Effect.Effect<void> {
    if (message._tag === "WatchNotice") {
      const pending = this.pendingWatches.get(envelope.id)
      return pending === undefined || pending.node !== envelope.from ? Effect.void : Effect.asVoid(Deferred.succeed(pending.deferred, message.reason))
    }
    const notify = (reason: Reason) => Effect.ignore(this.sendSystem(envelope.from, envelope.id, new WatchNotice({ reason })))
    const cell = this.cells.get(message.path)
    if (cell === undefined) return notify("not-found")
    return Effect.asVoid(Effect.forkIn(Effect.flatMap(Deferred.await(cell.terminated), notify), this.scope))
  }

  /** Offers a remote ask to `cell` now; a refusal is sent back to the asker (as is a decode failure, by the caller). */
  private offerAsk(cell: Cell, envelope: Envelope.Envelope, request: unknown): Effect.Effect<void> {
    const offered = this.offer(cell, new RemoteAsk(request, this, envelope))
    return offered === Effect.void ? Effect.void : Effect.catchAll(offered, (error) => this.reject(envelope, error))
  }

  /** Sends the answer to a remote ask now; what is left to run (see `AskDelivery`). */
  reply(envelope: Envelope.Envelope, request: any, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    const transport = this.transport!
    const send = (payload: unknown) =>
      ignored(Transport.sendNow(transport, {
        from: this.id,
        to: envelope.from,
        path: Envelope.replyPath,
        kind: "reply",
        id: envelope.id,
        encoded: transport.encodes,
        payload
      }))
    if (!transport.encodes) return send(exit)
    const encoded = encoderOf(Schema.exitSchema(request))(exit)
    if (Either.isEither(encoded) && Either.isRight(encoded)) return send(encoded.right)
    return encoded.pipe(
      Effect.flatMap(send),
      Effect.catchAll((error) =>
        this.reject(envelope, new MessageNotSerializable({ address: `${this.id}/${envelope.path}`, detail: `reply: ${error.message}` }))
      )
    )
  }

  /** Sends a delivery failure to a remote asker now; what is left to run. */
  reject(envelope: Envelope.Envelope, error: DeliveryError): Effect.Effect<void> {
    const transport = this.transport!
    return ignored(Transport.sendNow(transport, {
      from: this.id,
      to: envelope.from,
      path: Envelope.replyPath,
      kind: "reject",
      id: envelope.id,
      encoded: transport.encodes,
      payload: transport.encodes ? Schema.encodeSync(Rejection)(error) : error
    }))
  }
}

/** `Effect.ignore`, without an effect when there is nothing left to run. */
const ignored = (effect: Effect.Effect<void, unknown>): Effect.Effect<void> =>
  effect === Effect.void ? Effect.void : Effect.ignore(effect)

/**
 * Handles one delivery: a tell returns the new state; an ask also answers its asker. An ask
 * stays `cell.current` until answered, so that if the handler dies or the actor is stopped
 * meanwhile, the end of the drain rejects it (one `onExit` per incarnation, not one per ask).
 * A handler that returns an `Exit` (`Effect.succeed`, `Effect.fail`) is answered without an effect.
 */
const handle = <S>(
  cell: Cell,
  handlers: Record<string, (state: S, message: any, ctx: any) => Effect.Effect<any, any, any>>,
  ctx: Actor.Context<any>,
  state: S,
  delivery: unknown,
  scope: Scope.Scope
): Effect.Effect<S, never, any> => {
  if (delivery instanceof AskDelivery) {
    const message = delivery.message as Actor.Message
    cell.current = delivery
    const handler = handlers[message._tag]
    if (handler === undefined) return Effect.dieMessage(`${cell.address}: no handler for ${message._tag}`)
    const onFailure = (error: unknown) => answered(cell, delivery.respond(Exit.fail(error)), state)
    const onSuccess = ([reply, next]: readonly [unknown, S]) =>
      reply instanceof Actor.LaterCallback
        ? answered(cell, registerLater(cell, delivery, reply), next)
        : reply instanceof Actor.Later
        ? answered(cell, Effect.forkIn(answerLater(cell, delivery, reply), scope), next)
        : answered(cell, delivery.respond(Exit.succeed(reply)), next)
    const result = handler(state, message, ctx)
    if (Exit.isExit(result)) {
      if (Exit.isSuccess(result)) return onSuccess(result.value as readonly [unknown, S])
      if (Cause.isFailType(result.cause)) return onFailure(result.cause.error)
    }
    return Effect.matchEffect(result, { onFailure, onSuccess })
  }
  const message = delivery as Actor.Message
  const handler = handlers[message._tag]
  if (handler === undefined) return Effect.dieMessage(`${cell.address}: no handler for ${message._tag}`)
  return handler(state, message, ctx) as Effect.Effect<S, never, any>
}

/** `next` once `answering` has run; the ask is then no longer the cell's to reject. */
const answered = <S>(cell: Cell, answering: Effect.Effect<unknown>, next: S): Effect.Effect<S> => {
  if (answering === Effect.void) {
    cell.current = undefined
    return Exit.succeed(next)
  }
  return Effect.map(answering, () => {
    cell.current = undefined
    return next
  })
}

/**
 * Hands a `LaterCallback` the function that answers its ask (no fiber per reply). The ask is the
 * incarnation's until answered: `rejectLaters` rejects it if the incarnation ends first, and an
 * answer after that is ignored.
 */
const registerLater = (cell: Cell, delivery: AskDelivery, later: Actor.LaterCallback<unknown, unknown>): Effect.Effect<void> => {
  const waiting = cell.laters
  const runtime = cell.runtime!
  waiting.add(delivery)
  later.register((exit) => {
    if (!waiting.delete(delivery)) return
    const left = delivery.respond(exit)
    if (left !== Effect.void) Runtime.runFork(runtime)(left)
  })
  return Effect.void
}

/** Rejects the `LaterCallback` asks still unanswered as the incarnation ends (as an interrupted `Later`). */
const rejectLaters = (cell: Cell): Effect.Effect<void> => {
  if (cell.laters.size === 0) return Effect.void
  const waiting = [...cell.laters]
  cell.laters.clear()
  const error = unavailableError(cell.address.toString(), "stopped")
  return Effect.forEach(waiting, (delivery) => delivery.reject(error), { discard: true })
}

/** Runs a `Later` reply and answers with its result; a defect or interruption is `ActorUnavailable`. */
const answerLater = (cell: Cell, delivery: AskDelivery, later: Actor.Later<unknown, unknown>): Effect.Effect<void> =>
  Effect.flatMap(Effect.exit(later.effect), (exit) =>
    Exit.isSuccess(exit) || Cause.isFailType(exit.cause)
      ? delivery.respond(exit)
      : delivery.reject(unavailableError(cell.address.toString(), Cause.isInterruptedOnly(exit.cause) ? "stopped" : "failed")))

/** A ref: an address plus the node that sends for it. */
export class Ref<A> implements Actor.ActorRef<A> {
  constructor(readonly node: NodeImpl, readonly address: Address, readonly protocol: Schema.Schema<A, any>) {}
  tell(message: Actor.Tells<A>): Effect.Effect<void, DeliveryError> {
    return Effect.suspend(() => this.node.tell(this, message))
  }
  ask<R extends Actor.Requests<A>>(request: R, options?: Actor.AskOptions) {
    return this.node.ask(this, request, options)
  }
  toString() {
    return this.address.toString()
  }
}
