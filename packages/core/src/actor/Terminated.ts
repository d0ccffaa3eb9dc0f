/**
 * Death watch notifications.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Address } from "./Address.js"

/** Why a watched actor is gone: it stopped, failed past its supervision, never existed, or its node is unreachable. */
export const Reason = Schema.Literal("stopped", "failed", "not-found", "unreachable")

/** @since 0.1.0 */
export type Reason = typeof Reason.Type

/** Delivered to watchers when an actor terminates or its node becomes unreachable. */
export class Terminated extends Schema.TaggedClass<Terminated>()("Terminated", {
  address: Address,
  reason: Reason
}) {}
