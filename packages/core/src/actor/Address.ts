/**
 * Actor addresses: a node plus a path on it. A ref is an address, so the same ref works locally
 * and across the network, and an address can travel inside messages.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { NodeId } from "../transport/NodeId.js"

/** Path segments: letters, digits and `-_.:@+=`; `$` is reserved for the runtime. */
export const Segment = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.:@+=-]{1,200}$/))

/** Where an actor lives: `node` and a `/`-separated path of names (`broker/replica-t-0`). */
export class Address extends Schema.Class<Address>("Address")({
  node: NodeId,
  path: Schema.String.pipe(Schema.maxLength(1024))
}) {
  override toString() {
    return `${this.node}/${this.path}`
  }
}

/** Addresses `make` built, by node then path (an address is immutable, so one instance can serve all). */
const made = new Map<string, Map<string, Address>>()
let madeCount = 0
/** Bound on `made`: past it the cache starts over (callers build few distinct addresses). */
const maxMade = 4096

/** Builds an address (validated once per distinct node and path, then shared). */
export const make = (node: NodeId, path: string): Address => {
  let byPath = made.get(node)
  const known = byPath?.get(path)
  if (known !== undefined) return known
  const address = new Address({ node, path })
  if (madeCount >= maxMade) {
    made.clear()
    madeCount = 0
    byPath = undefined
  }
  if (byPath === undefined) made.set(node, byPath = new Map())
  byPath.set(path, address)
  madeCount++
  return address
}

/** Whether `name` is a valid single path segment. */
export const isValidSegment = (name: string): boolean => Schema.is(Segment)(name)
