/**
 * Delivery errors of the actor runtime. They are Schema-tagged so a remote node can return them.
 *
 * @since 0.1.0
 */
import { Data, Schema } from "effect"

/** No reply within the ask's timeout. The request may or may not have been handled. */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  address: Schema.String,
  request: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `ask ${this.request} to ${this.address} timed out after ${this.timeoutMs} ms`
  }
}

/** Why an actor could not take a message. */
export const UnavailableReason = Schema.Literal("not-found", "stopped", "failed", "unreachable")

/** @since 0.1.0 */
export type UnavailableReason = typeof UnavailableReason.Type

/** No such actor, it stopped (or failed while handling this message), or its node is unreachable. */
export class ActorUnavailable extends Schema.TaggedError<ActorUnavailable>()("ActorUnavailable", {
  address: Schema.String,
  reason: UnavailableReason
}) {
  override get message() {
    return `actor ${this.address} is unavailable (${this.reason})`
  }
}

/** The target's mailbox is at capacity and its overflow policy is `fail`. */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  address: Schema.String,
  capacity: Schema.Number
}) {
  override get message() {
    return `mailbox of ${this.address} is full (capacity ${this.capacity})`
  }
}

/** A message (or reply) could not be encoded by the sender or decoded by the receiver. */
export class MessageNotSerializable extends Schema.TaggedError<MessageNotSerializable>()("MessageNotSerializable", {
  address: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `message to ${this.address} is not serializable: ${this.detail}`
  }
}

/** Everything that can stop a message from reaching an actor. */
export type DeliveryError = ActorUnavailable | MailboxFull | MessageNotSerializable

/** The runtime's rejection of an ask, as it travels between nodes. */
export const Rejection = Schema.Union(ActorUnavailable, MailboxFull, MessageNotSerializable)

/** An actor already exists at this path on this node. */
export class ActorAlreadyExists extends Data.TaggedError("ActorAlreadyExists")<{
  readonly path: string
}> {}

/** A name that cannot be a path segment (see `Address.Segment`). */
export class InvalidActorName extends Data.TaggedError("InvalidActorName")<{
  readonly name: string
}> {}
