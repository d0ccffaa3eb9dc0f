/**
 * A client's link to its group's coordinator: finds it (FindCoordinator to any broker), keeps
 * the ref, and asks it, forgetting the ref and retrying after a backoff when the answer says the
 * coordinator moved, is loading, or did not answer.
 */
import { Effect, Option } from "effect"
import type { Schema } from "effect"
import type * as Actor from "../../actor/Actor.js"
import * as Address from "../../actor/Address.js"
import type { AskTimeout, DeliveryError } from "../../actor/ActorError.js"
import * as GP from "../../group/GroupProtocol.js"
import * as NodeId from "../../transport/NodeId.js"
import * as MetadataCache from "../MetadataCache.js"
import * as Retry from "./retry.js"

type Ref = Actor.ActorRef<GP.GroupCoordinatorProtocol>

/** A group request. */
export type GroupRequest = Actor.Requests<GP.GroupCoordinatorProtocol>

/** Tags after which the client looks the coordinator up again. */
const rediscoverTags: ReadonlySet<string> = new Set([
  "NotCoordinator",
  "CoordinatorNotAvailable",
  "CoordinatorLoadInProgress",
  "AskTimeout",
  "ActorUnavailable",
  "MailboxFull"
])

/** Whether `error` means "find the coordinator again and retry". */
export const isRetriable = (error: { readonly _tag: string }): boolean => rediscoverTags.has(error._tag)

/** The link. */
export interface Link {
  /** Asks the coordinator once (finding it first if needed); forgets it on a retriable error. */
  readonly ask: <R extends GroupRequest>(
    request: R,
    timeoutMs?: number
  ) => Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | AskTimeout | DeliveryError>
  /** `ask`, retrying retriable errors with backoff up to `attempts` times (forever when undefined). */
  readonly askRetrying: <R extends GroupRequest>(
    request: R,
    options?: { readonly timeoutMs?: number; readonly attempts?: number }
  ) => Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | AskTimeout | DeliveryError>
  readonly forget: Effect.Effect<void>
}

/** Makes the link for `groupId`. */
export const make = (
  node: Actor.NodeLike,
  cache: MetadataCache.MetadataCache,
  bootstrap: ReadonlyArray<string>,
  groupId: string
): Link => {
  let current: Ref | undefined
  let rotate = 0
  const timeoutMs = cache.options.requestTimeoutMs
  const refOn = (nodeId: string): Ref =>
    node.ref(Address.make(NodeId.make(nodeId), GP.coordinatorPath), GP.GroupCoordinatorProtocol)

  /** One lookup through the next broker in turn. */
  const find = Effect.gen(function*() {
    const metadata = yield* Effect.option(cache.current)
    const list = MetadataCache.candidates(bootstrap, Option.getOrUndefined(metadata))
    const via = list[rotate++ % list.length]!
    const info = yield* refOn(via).ask(new GP.FindCoordinator({ groupId }), { timeoutMs })
    current = refOn(info.nodeId)
    return current
  })

  const ask = <R extends GroupRequest>(request: R, askTimeoutMs = timeoutMs) =>
    Effect.suspend(() => current === undefined ? find : Effect.succeed(current)).pipe(
      Effect.flatMap((ref) => ref.ask(request, { timeoutMs: askTimeoutMs })),
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (isRetriable(error)) current = undefined
        })
      )
    ) as Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | AskTimeout | DeliveryError>

  const askRetrying = <R extends GroupRequest>(
    request: R,
    options: { readonly timeoutMs?: number; readonly attempts?: number } = {}
  ) => {
    const attempt = (
      n: number
    ): Effect.Effect<Schema.WithResult.Success<R>, Schema.WithResult.Failure<R> | AskTimeout | DeliveryError> =>
      Effect.catchIf(
        ask(request, options.timeoutMs),
        (error) => isRetriable(error) && (options.attempts === undefined || n < options.attempts),
        () => Effect.zipRight(Effect.sleep(Retry.backoffMs(cache.options, n)), attempt(n + 1))
      )
    return attempt(1)
  }

  return { ask, askRetrying, forget: Effect.sync(() => void (current = undefined)) }
}
