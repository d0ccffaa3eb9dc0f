/**
 * Node identity: the name a node answers to on a network.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** A node's identity on the network (`"broker-1"`, `"client-7"`). */
export const NodeId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128), Schema.brand("NodeId"))

/** @since 0.1.0 */
export type NodeId = typeof NodeId.Type

/**
 * Brands a string as a `NodeId` (validated: 1..128 characters). A valid id is branded at once
 * (hot paths call this per message); an invalid one goes through the schema, which throws.
 */
export const make = (id: string): NodeId => id.length >= 1 && id.length <= 128 ? id as NodeId : NodeId.make(id)
