/**
 * Asking a partition's leader with retries: look the leader up in the metadata cache, ask its
 * replica actor, and on a retriable error refresh metadata (when the error says the leader may
 * have moved), back off and try again, at most `retries` times.
 */
import { Effect } from "effect"
import type * as Actor from "../../actor/Actor.js"
import * as Address from "../../actor/Address.js"
import * as ReplicaProtocol from "../../cluster/ReplicaProtocol.js"
import * as ClientError from "../ClientError.js"
import type * as MetadataCache from "../MetadataCache.js"
import * as Retry from "./retry.js"

/** A ref to the replica of `topic`/`partition` on `node`. */
export const replicaRef = (
  client: Actor.NodeLike,
  node: Address.Address["node"],
  topic: string,
  partition: number
): Actor.ActorRef<ReplicaProtocol.ReplicaProtocol> =>
  client.ref(
    new Address.Address({ node, path: ReplicaProtocol.replicaPath(topic, partition) }, true), // fields already typed: no validation
    ReplicaProtocol.ReplicaProtocol
  )

/** Runs `f` against the partition's leader, retrying retriable failures (see module doc). */
export const withRetries = <A, E extends { readonly _tag: string }>(
  cache: MetadataCache.MetadataCache,
  client: Actor.NodeLike,
  topic: string,
  partition: number,
  f: (ref: Actor.ActorRef<ReplicaProtocol.ReplicaProtocol>) => Effect.Effect<A, E>
): Effect.Effect<A, Exclude<E, ClientError.RetriableError> | ClientError.RetriesExhausted | ClientError.BrokerNotAvailable> => {
  type Out = Exclude<E, ClientError.RetriableError> | ClientError.RetriesExhausted | ClientError.BrokerNotAvailable
  const attempt = (n: number): Effect.Effect<A, Out> =>
    cache.leader(topic, partition).pipe(
      Effect.flatMap((leader) => f(replicaRef(client, leader.nodeId, topic, partition))),
      Effect.catchAll((error) => {
        if (error._tag === "BrokerNotAvailable" || !ClientError.isRetriable(error)) {
          return Effect.fail(error as Out)
        }
        if (n > cache.options.retries) {
          return Effect.fail(
            new ClientError.RetriesExhausted({ attempts: n, lastError: error as ClientError.RetriableError })
          )
        }
        return Effect.zipRight(
          ClientError.needsMetadataRefresh(error) ? Effect.ignore(cache.refresh) : Effect.void,
          Effect.zipRight(Effect.sleep(Retry.backoffMs(cache.options, n)), attempt(n + 1))
        )
      })
    )
  return attempt(1)
}
