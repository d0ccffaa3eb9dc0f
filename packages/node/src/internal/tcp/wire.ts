/**
 * What travels on a TCP connection: handshake frames, then `Envelope.Wire` envelopes, each one
 * MessagePack value (the framing is `@effect/platform`'s `MsgPack` channels). Plus the two pure
 * walks around them: `measure` (is a payload plain data, and how large can its MessagePack be at
 * most) and `detach` (own received binaries without pinning much more of the read buffers).
 *
 * @internal
 */
import { Envelope, NodeId } from "@fiberlog/core"
import { Either, Schema } from "effect"

/** The protocol version spoken by this build; a peer with another version is refused. */
export const protocolVersion = 1

/** Length of a handshake nonce in bytes. */
export const nonceBytes = 32

const Nonce = Schema.Uint8ArrayFromSelf.pipe(Schema.filter((bytes) => bytes.length === nonceBytes))
const Mac = Schema.NullOr(Schema.Uint8ArrayFromSelf.pipe(Schema.filter((bytes) => bytes.length === 32)))

/** Dialer → listener: who I am, whom I expect, and my challenge. */
export const Hello = Schema.TaggedStruct("Hello", {
  protocol: Schema.Literal("fiberlog"),
  version: Schema.Number,
  clusterId: Schema.String.pipe(Schema.maxLength(256)),
  from: NodeId.NodeId,
  to: NodeId.NodeId,
  nonce: Nonce
})
export type Hello = typeof Hello.Type

/** Listener → dialer: who I am, my challenge, and (with a secret) my answer to yours. */
export const Welcome = Schema.TaggedStruct("Welcome", {
  version: Schema.Number,
  node: NodeId.NodeId,
  nonce: Nonce,
  proof: Mac
})
export type Welcome = typeof Welcome.Type

/** Dialer → listener: my answer to your challenge (null without a secret). */
export const Proof = Schema.TaggedStruct("Proof", { proof: Mac })
export type Proof = typeof Proof.Type

/** Listener → dialer: the connection is open. */
export const Accepted = Schema.TaggedStruct("Accepted", {})
export type Accepted = typeof Accepted.Type

/** Either side: the handshake is refused; the connection closes after this frame. */
export const Refused = Schema.TaggedStruct("Refused", {
  reason: Schema.Literal("cluster-id", "version", "node-id", "auth", "protocol"),
  detail: Schema.String.pipe(Schema.maxLength(1024))
})
export type Refused = typeof Refused.Type

/** Any handshake frame. */
export const HandshakeFrame = Schema.Union(Hello, Welcome, Proof, Accepted, Refused)
export type HandshakeFrame = typeof HandshakeFrame.Type

/** Decodes a received handshake frame. */
export const decodeHandshake = Schema.decodeUnknownEither(HandshakeFrame)

/** Decodes a received envelope (its payload stays in its Schema encoding). */
export const decodeEnvelope = Schema.decodeUnknownEither(Envelope.Wire)

/** Deepest nesting accepted in a payload, in or out. */
export const maxDepth = 64

/**
 * Checks that `value` is plain data that survives MessagePack unchanged (null, undefined,
 * booleans, numbers, strings, `Uint8Array`, arrays and plain objects of those) and returns an upper
 * bound of its encoded size in bytes, or the reason it cannot travel.
 */
export const measure = (value: unknown, depth = 0): Either.Either<number, string> => {
  if (depth > maxDepth) return Either.left(`nested deeper than ${maxDepth}`)
  switch (typeof value) {
    case "undefined":
    case "boolean":
      return Either.right(3)
    case "number":
      return Either.right(9)
    case "string":
      return Either.right(5 + 3 * value.length)
    case "object": {
      if (value === null) return Either.right(1)
      if (value instanceof Uint8Array) {
        return value.constructor === Uint8Array || value.constructor === Buffer
          ? Either.right(5 + value.length)
          : Either.left(`a ${value.constructor.name} is not plain data`)
      }
      let total = 8
      if (Array.isArray(value)) {
        for (const item of value) {
          const size = measure(item, depth + 1)
          if (Either.isLeft(size)) return size
          total += size.right
        }
        return Either.right(total)
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        return Either.left(`a ${(value as object).constructor?.name ?? "object"} is not plain data`)
      }
      for (const key in value) {
        const size = measure((value as Record<string, unknown>)[key], depth + 1)
        if (Either.isLeft(size)) return size
        // A record definition may repeat the keys once: count them twice.
        total += 2 * (5 + 3 * key.length) + size.right
      }
      return Either.right(total)
    }
    default:
      return Either.left(`a ${typeof value} is not plain data`)
  }
}

/**
 * A received binary as a plain `Uint8Array` that pins at most twice its size: a view when it fills
 * at least half of the read buffer it lies in (a record batch in a large frame: no copy), else an
 * exact-size copy (so a small binary does not keep a large read buffer alive).
 */
export const own = (bytes: Uint8Array): Uint8Array =>
  2 * bytes.byteLength >= bytes.buffer.byteLength
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes)

/**
 * Replaces, in place, every binary in a received value by its `own` form, so a record batch
 * neither pins much more of the socket's read buffers than itself nor arrives as a Node `Buffer`;
 * with `copy`, by an exact-size copy (the value was decoded from a buffer the link reuses).
 * Fails past `maxDepth`.
 */
export const detach = (value: unknown, depth = 0, copy = false): Either.Either<unknown, string> => {
  if (depth > maxDepth) return Either.left(`nested deeper than ${maxDepth}`)
  if (typeof value !== "object" || value === null) return Either.right(value)
  if (value instanceof Uint8Array) return Either.right(copy ? new Uint8Array(value) : own(value))
  const record = value as Record<string, unknown>
  for (const key in record) {
    const item = record[key]
    if (typeof item === "object" && item !== null) {
      const owned = detach(item, depth + 1, copy)
      if (Either.isLeft(owned)) return owned
      record[key] = owned.right
    }
  }
  return Either.right(value)
}

/**
 * The items of one unpacked read. `MsgPack.pack` sends each batch as an array, and
 * `MsgPack.unpack` flattens it except for batches completed in the same read as an incomplete one:
 * flatten one level here (a frame itself is never an array).
 */
export const flattenBatch = (items: Iterable<unknown>): Array<unknown> => {
  const out: Array<unknown> = []
  for (const item of items) {
    if (Array.isArray(item)) for (const inner of item) out.push(inner)
    else out.push(item)
  }
  return out
}
