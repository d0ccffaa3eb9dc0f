/**
 * A node hosts actors under a `Scope` and routes messages for other nodes through its transport.
 * One node per broker (or client) identity. Closing the node's scope stops all of its actors and
 * takes it off the network — the testkit's "crash".
 *
 * @since 0.1.0
 */
import { Effect, ExecutionStrategy, Scope } from "effect"
import type { Schema } from "effect"
import type { NodeId } from "../transport/NodeId.js"
import * as Transport from "../transport/Transport.js"
import type * as Actor from "./Actor.js"
import type { ActorAlreadyExists, InvalidActorName } from "./ActorError.js"
import type { Address } from "./Address.js"
import { NodeImpl } from "./internal/node.js"
import { AskTimers } from "./internal/timers.js"
import * as Supervision from "./Supervision.js"
import type { Terminated } from "./Terminated.js"

/** A node: spawn, look up, stop and watch actors; make refs to actors anywhere. */
export interface Node extends Actor.NodeLike {
  readonly id: NodeId
  /** Spawns a top-level actor at `name` (its path). */
  readonly spawn: <A extends Actor.Message, I, S, R>(
    name: string,
    behavior: Actor.Behavior<A, I, S, R>,
    options?: Actor.SpawnOptions
  ) => Effect.Effect<Actor.ActorRef<A>, ActorAlreadyExists | InvalidActorName, R>
  /** A ref to the actor at `address` (a path on this node when given a string). Never fails: sends do. */
  readonly ref: <A>(address: Address | string, protocol: Schema.Schema<A, any>) => Actor.ActorRef<A>
  /** The paths of the actors alive on this node. */
  readonly actors: Effect.Effect<ReadonlyArray<string>>
  /** Stops an actor (and its children); queued asks get `ActorUnavailable("stopped")`. */
  readonly stop: (target: Actor.ActorRef<any> | Address) => Effect.Effect<void>
  /** Completes when the target terminates, is not found, or its node becomes unreachable. */
  readonly watch: (target: Actor.ActorRef<any> | Address) => Effect.Effect<Terminated>
}

/** Options of a node. */
export interface Options {
  readonly id: NodeId
}

/** Starts a node on the `Network` in context. It lives until the scope closes. */
export const make = (options: Options): Effect.Effect<Node, Transport.NodeIdInUse, Transport.Network | Scope.Scope> =>
  Effect.gen(function*() {
    // Actors live in a scope opened before the transport connects, so closing the node takes it
    // off the network first (peers see it unreachable, as after a crash), then stops its actors.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    yield* Effect.addFinalizer((exit) => Scope.close(scope, exit))
    const impl = new NodeImpl(options.id, scope)
    impl.timers = new AskTimers(yield* Effect.clock, scope)
    impl.failureObserver = yield* Supervision.FailureObserver
    impl.transport = yield* Transport.connect(options.id, impl.handler)
    const node: Node = {
      id: impl.id,
      spawn: (name, behavior, spawnOptions) => impl.spawn(undefined, scope, name, behavior, spawnOptions),
      ref: (address, protocol) => impl.ref(address, protocol),
      actors: Effect.sync(() => [...impl.cells.keys()]),
      stop: (target) => impl.stop(target),
      watch: (target) => impl.watch(target)
    }
    return node
  })
