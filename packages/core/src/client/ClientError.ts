/**
 * Errors of the clients that do not come from a broker: no broker answered, retries ran out,
 * a consumer without a position. Broker errors (`NotLeader`, `RecordTooLarge`...) reach the
 * caller as the cluster's own tagged errors (see `cluster/Errors.ts`).
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import type { ActorUnavailable, AskTimeout, DeliveryError, MailboxFull } from "../actor/ActorError.js"
import * as ClusterErrors from "../cluster/Errors.js"

/** Errors a client retries: the cluster's retriable set, plus delivery failures and timeouts of the runtime. */
export type RetriableError =
  | ClusterErrors.NotLeader
  | ClusterErrors.UnknownTopicOrPartition
  | ClusterErrors.NotEnoughReplicas
  | ClusterErrors.NotEnoughReplicasAfterAppend
  | ClusterErrors.FencedLeaderEpoch
  | ClusterErrors.RequestTimedOut
  | ClusterErrors.ControllerNotAvailable
  | ClusterErrors.OutOfOrderSequence
  | AskTimeout
  | ActorUnavailable
  | MailboxFull

/** No broker (bootstrap or known from metadata) answered within the retries. */
export class BrokerNotAvailable extends Data.TaggedError("BrokerNotAvailable")<{
  readonly attempts: number
  readonly lastError: AskTimeout | DeliveryError | undefined
}> {
  override get message() {
    return `no broker answered after ${this.attempts} attempts${this.lastError ? `: ${this.lastError.message}` : ""}`
  }
}

/** A request kept failing with retriable errors until `retries` ran out; `lastError` is the last one. */
export class RetriesExhausted extends Data.TaggedError("RetriesExhausted")<{
  readonly attempts: number
  readonly lastError: RetriableError
}> {
  override get message() {
    return `gave up after ${this.attempts} attempts: ${this.lastError._tag}`
  }
}

/** A consumer has no position for a partition and `autoOffsetReset` is `"none"`. */
export class NoOffsetForPartition extends Data.TaggedError("NoOffsetForPartition")<{
  readonly topic: string
  readonly partition: number
}> {}

/** `seek` / `position` on a partition the consumer was not assigned. */
export class NotAssigned extends Data.TaggedError("NotAssigned")<{
  readonly topic: string
  readonly partition: number
}> {}

/** A send after the producer's scope closed. */
export class ProducerClosed extends Data.TaggedError("ProducerClosed")<{}> {}

/** Whether a client should refresh metadata and retry after `error`. */
export const isRetriable = (error: { readonly _tag: string }): boolean => retriableTags.has(error._tag)

/** The cluster's retriable errors, plus the runtime's delivery failures (the broker may be back). */
const retriableTags: ReadonlySet<string> = new Set<string>([
  ...ClusterErrors.retriableTags,
  "AskTimeout",
  "ActorUnavailable",
  "MailboxFull"
])

/** Whether `error` means the client's view of leaders may be stale (refresh metadata before retrying). */
export const needsMetadataRefresh = (error: { readonly _tag: string }): boolean =>
  error._tag === "NotLeader" || error._tag === "UnknownTopicOrPartition" || error._tag === "FencedLeaderEpoch" ||
  error._tag === "ActorUnavailable" || error._tag === "AskTimeout"
