/**
 * Actors: a protocol, a behavior over a state, and refs to send to it.
 *
 * A protocol is a `Schema` union of `Schema.TaggedRequest` classes (asks: the reply and error
 * types come from the request's schema) and `Schema.TaggedClass` classes (tells). A behavior gives
 * one handler per tag; handlers are `(state, message, ctx) => Effect<state>` for tells and
 * `(state, message, ctx) => Effect<[reply, state], failure>` for asks. Keep decisions in pure
 * functions beside the actor; the handler does I/O and timing.
 *
 * @since 0.1.0
 */
import type { Exit, Scope } from "effect"
import { Effect, Schema } from "effect"
import type { ActorAlreadyExists, AskTimeout, DeliveryError, InvalidActorName } from "./ActorError.js"
import type { Address } from "./Address.js"
import type { Terminated } from "./Terminated.js"
import type * as Supervision from "./Supervision.js"

/** A protocol's messages: tagged values. */
export type Message = { readonly _tag: string }

/** A request: a message whose schema names its reply (`Schema.TaggedRequest`). */
export type Request = { readonly [Schema.symbolWithResult]: any }

/** The requests (asks) of a protocol. */
export type Requests<A> = Extract<A, Request>

/** The one-way messages (tells) of a protocol. */
export type Tells<A> = Exclude<A, Request>

/** A typed reference to an actor, local or remote. */
export interface ActorRef<A> {
  readonly address: Address
  readonly protocol: Schema.Schema<A, any>
  /** Sends a one-way message. Locally a full mailbox or a missing actor fails at once; remotely it is best effort. */
  readonly tell: (message: Tells<A>) => Effect.Effect<void, DeliveryError>
  /** Sends a request and waits for its reply (default timeout 5 s). */
  readonly ask: <R extends Requests<A>>(
    request: R,
    options?: AskOptions
  ) => Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | AskTimeout | DeliveryError>
}

/** Options of `ask`. */
export interface AskOptions {
  readonly timeoutMs?: number
}

/** What a handler can do besides returning its new state. */
export interface Context<A> {
  readonly self: ActorRef<A>
  /** The node hosting this actor (to make refs, spawn top-level actors, watch). */
  readonly node: NodeLike
  /** Spawns a child: supervised by this actor, stopped when this actor stops or restarts. */
  readonly spawn: <B extends Message, I, S, R>(
    name: string,
    behavior: Behavior<B, I, S, R>,
    options?: SpawnOptions
  ) => Effect.Effect<ActorRef<B>, ActorAlreadyExists | InvalidActorName, R>
  /** Delivers `toMessage(terminated)` to this actor when `ref` stops or its node becomes unreachable. */
  readonly watch: (ref: ActorRef<any> | Address, toMessage: (terminated: Terminated) => Tells<A>) => Effect.Effect<void>
  /** Stops this actor after the current message. */
  readonly stopSelf: Effect.Effect<void>
}

/** The part of a node an actor sees (see `Node.Node`). */
export interface NodeLike {
  readonly id: Address["node"]
  readonly ref: <B>(address: Address | string, protocol: Schema.Schema<B, any>) => ActorRef<B>
  readonly watch: (ref: ActorRef<any> | Address) => Effect.Effect<Terminated>
  readonly stop: (ref: ActorRef<any> | Address) => Effect.Effect<void>
}

/**
 * A reply that is not ready yet: the runtime runs `effect` off the actor's fiber (in the
 * incarnation's scope) and answers the asker with its result, while the actor goes on with its
 * mailbox. For long polls and acks that wait on replication.
 */
export class Later<A, E> {
  constructor(readonly effect: Effect.Effect<A, E>) {}
}

/** Answers the ask later with the result of `effect` (see `Later`). */
export const later = <A, E>(effect: Effect.Effect<A, E>): Later<A, E> => new Later(effect)

/**
 * A `Later` completed by a callback instead of an effect: the runtime calls `register` at once with
 * the function that answers the ask, and runs no fiber for it (acks=all produces, which wait on the
 * high watermark, are most of a replica's replies). If the incarnation ends first, the ask is
 * rejected (`ActorUnavailable`, "stopped", as an interrupted `Later`) and a later answer is ignored.
 */
export class LaterCallback<A, E> extends Later<A, E> {
  constructor(readonly register: (answer: (exit: Exit.Exit<A, E>) => void) => void) {
    super(Effect.async<A, E>((resume) => register(resume)))
  }
}

/** Answers the ask when `register`'s callback is called (see `LaterCallback`). */
export const laterCallback = <A, E>(register: (answer: (exit: Exit.Exit<A, E>) => void) => void): Later<A, E> =>
  new LaterCallback(register)

/** The handler for one message type. */
export type Handler<A, M, S, R> = M extends Request ? (
    state: S,
    message: M,
    ctx: Context<A>
  ) => Effect.Effect<
    readonly [
      Schema.WithResult.Success<M> | Later<Schema.WithResult.Success<M>, Schema.WithResult.Failure<M>>,
      S
    ],
    Schema.WithResult.Failure<M>,
    R
  >
  : (state: S, message: M, ctx: Context<A>) => Effect.Effect<S, never, R>

/** One handler per tag of the protocol. */
export type Handlers<A extends Message, S, R> = {
  readonly [K in A["_tag"]]: Handler<A, Extract<A, { readonly _tag: K }>, S, R>
}

/** How an actor starts and what it does with each message. */
export interface Behavior<A extends Message, I, S, R> {
  readonly protocol: Schema.Schema<A, I>
  /**
   * Builds the state; runs again on every restart. Runs in the incarnation's scope: finalizers
   * added here run when the incarnation ends (restart or stop). A failure counts as a crash.
   */
  readonly init: (ctx: Context<A>) => Effect.Effect<S, unknown, NoInfer<R> | Scope.Scope>
  readonly handlers: Handlers<A, S, R>
}

/** Builds a behavior (identity, for inference). */
export const behavior = <A extends Message, I, S, R = never>(behavior: Behavior<A, I, S, R>): Behavior<A, I, S, R> =>
  behavior

/** What to do when the mailbox is full: reject (`MailboxFull`), drop the oldest, or make the sender wait (local only). */
export type Overflow = "fail" | "sliding" | "suspend"

/** Per-actor options. */
export interface SpawnOptions {
  /** Mailbox capacity (default 4096). */
  readonly mailboxCapacity?: number
  readonly overflow?: Overflow
  readonly supervision?: Supervision.Strategy
}

/** Default mailbox capacity. */
export const defaultMailboxCapacity = 4096

/** Default ask timeout. */
export const defaultAskTimeoutMs = 5_000
