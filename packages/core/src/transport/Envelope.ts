/**
 * Envelopes: what a transport carries between nodes. An envelope names the target node and actor
 * path and holds one message, either as the live object (in-process, no copy) or in its Schema
 * encoding (TCP, or the in-process transport with `serialize: true`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { NodeId } from "./NodeId.js"

/**
 * What an envelope carries:
 * - `tell`: a one-way message for the actor at `path`;
 * - `ask`: a request, answered by a `reply` or `reject` carrying the same `id`;
 * - `reply`: the request's `Exit` (its success or its own typed failure);
 * - `reject`: a delivery failure raised by the receiving runtime (`ActorUnavailable`,
 *   `MailboxFull`, `MessageNotSerializable`);
 * - `system`: runtime messages between nodes (death watch).
 */
export const Kind = Schema.Literal("tell", "ask", "reply", "reject", "system")

/** @since 0.1.0 */
export type Kind = typeof Kind.Type

/** An envelope in transit. `payload` is Schema-encoded exactly when `encoded` is true. */
export interface Envelope {
  readonly from: NodeId
  readonly to: NodeId
  readonly path: string
  readonly kind: Kind
  /** Correlation id for `ask` / `reply` / `reject` / `system`; 0 for `tell`. */
  readonly id: number
  readonly encoded: boolean
  readonly payload: unknown
}

/** Builds an envelope. */
export const make = (fields: Envelope): Envelope => fields

/**
 * The wire form of an envelope (for transports that cross a process boundary). The payload must
 * already be encoded (`encoded: true`): its own schema belongs to the target actor.
 */
export const Wire = Schema.Struct({
  from: NodeId,
  to: NodeId,
  path: Schema.String.pipe(Schema.maxLength(1024)),
  kind: Kind,
  id: Schema.Number,
  encoded: Schema.Literal(true),
  payload: Schema.Unknown
})

/** Path of the runtime endpoint that receives replies to asks. */
export const replyPath = "$reply"

/** Path of the runtime endpoint that receives system messages (watch, terminated). */
export const systemPath = "$system"
