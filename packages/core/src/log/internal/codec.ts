/**
 * Byte-level helpers for the batch format: int64 as JS numbers (safe up to 2^53), zig-zag
 * varints, and the per-record layout of Kafka's v2 batch. Plain functions over bytes: this is
 * the hot path, so no Effect, no Schema, no per-record allocation beyond the decoded record.
 * @internal
 */
import type * as Record from "../Record.js"

const TWO_32 = 4294967296

/*
 * Fixed-width big-endian integers, read and written on the bytes directly. A `DataView` would do
 * the same, but V8 does not elide one made per call: `new DataView` measured about 240 ns here,
 * against under 10 ns for a few byte reads, and a batch header is read several times an append.
 */

/** Reads a signed 32-bit integer. */
export const getInt32 = (b: Uint8Array, at: number): number => (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!

/** Reads an unsigned 32-bit integer. */
export const getUint32 = (b: Uint8Array, at: number): number => getInt32(b, at) >>> 0

/** Reads a signed 16-bit integer. */
export const getInt16 = (b: Uint8Array, at: number): number => ((b[at]! << 24) >> 16) | b[at + 1]!

/** Reads a signed 8-bit integer. */
export const getInt8 = (b: Uint8Array, at: number): number => (b[at]! << 24) >> 24

/** Reads a signed 64-bit integer into a JS number (exact up to 2^53). */
export const getInt64 = (b: Uint8Array, at: number): number => getInt32(b, at) * TWO_32 + getUint32(b, at + 4)

/** Writes the low 32 bits of `n` (signed or unsigned). */
export const setInt32 = (b: Uint8Array, at: number, n: number): void => {
  b[at] = n >>> 24
  b[at + 1] = n >>> 16
  b[at + 2] = n >>> 8
  b[at + 3] = n
}

/** Writes the low 16 bits of `n`. */
export const setInt16 = (b: Uint8Array, at: number, n: number): void => {
  b[at] = n >>> 8
  b[at + 1] = n
}

/** Writes a signed 64-bit integer held in a JS number. */
export const setInt64 = (b: Uint8Array, at: number, n: number): void => {
  const hi = Math.floor(n / TWO_32)
  setInt32(b, at, hi)
  setInt32(b, at + 4, n - hi * TWO_32)
}

/**
 * Below this, a non-negative number's zig-zag fits an int32: the varint is sized and written in
 * integer arithmetic (lengths, offset deltas, most timestamp deltas), several times cheaper per
 * byte than the double arithmetic int64 values need.
 */
const SMALL = 1 << 30

/** `varintSize` of a non-negative number below `SMALL`. */
const smallVarintSize = (n: number): number => n < 64 ? 1 : n < 8192 ? 2 : n < 1048576 ? 3 : n < 134217728 ? 4 : 5

/** `varintSize` of any other number, in doubles. */
const largeVarintSize = (n: number): number => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  let size = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    size++
  }
  return size
}

/** Bytes taken by the zig-zag varint encoding of `n`. */
export const varintSize = (n: number): number => n >= 0 && n < SMALL ? smallVarintSize(n) : largeVarintSize(n)

/** `writeVarint` of a non-negative number below `SMALL`, in int32 arithmetic. */
const writeSmallVarint = (buf: Uint8Array, at: number, n: number): number => {
  let z = n << 1
  while (z >= 0x80) {
    buf[at++] = (z & 0x7f) | 0x80
    z >>>= 7
  }
  buf[at] = z
  return at + 1
}

/** `writeVarint` of any other number, in doubles. */
const writeLargeVarint = (buf: Uint8Array, at: number, n: number): number => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  buf[at++] = z
  return at
}

/** Writes `n` as a zig-zag varint at `at`; returns the next position. Exact for |n| < 2^52. */
export const writeVarint = (buf: Uint8Array, at: number, n: number): number =>
  n >= 0 && n < SMALL ? writeSmallVarint(buf, at, n) : writeLargeVarint(buf, at, n)

/** Mutable cursor used while decoding. */
export interface Cursor {
  pos: number
}

/** Reads a zig-zag varint at the cursor, advancing it. */
export const readVarint = (buf: Uint8Array, cursor: Cursor): number => {
  const first = buf[cursor.pos]
  if (first !== undefined && first < 0x80) {
    cursor.pos++
    return (first & 1) === 0 ? first >>> 1 : -((first + 1) >>> 1)
  }
  let z = 0
  let mul = 1
  for (let i = 0; i < 10; i++) {
    const b = buf[cursor.pos++]
    if (b === undefined) return Number.NaN
    z += (b & 0x7f) * mul
    if (b < 0x80) return z % 2 === 0 ? z / 2 : -(z + 1) / 2
    mul *= 128
  }
  return Number.NaN
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** Bytes taken by a length-prefixed byte string (`null`: the length -1 alone). */
export const bytesSize = (b: Uint8Array | null): number => (b === null ? 1 : varintSize(b.length) + b.length)

/** The UTF-8 keys of a record's headers, or `undefined` when it has none (the common case). */
export const headerKeys = (headers: ReadonlyArray<Record.Header>): ReadonlyArray<Uint8Array> | undefined =>
  headers.length === 0 ? undefined : headers.map((h) => utf8Encoder.encode(h.key))

/**
 * The body size of one record (everything after its length varint), from its fields and its
 * header keys (`headerKeys`). Plain values in, a number out: encoders size records without
 * building an object per record.
 */
export const bodySize = (
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<Record.Header>,
  offsetDelta: number,
  timestampDelta: number,
  keys: ReadonlyArray<Uint8Array> | undefined
): number => {
  let size = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + bytesSize(key) + bytesSize(value)
  size += varintSize(headers.length)
  if (keys !== undefined) {
    for (let i = 0; i < keys.length; i++) size += bytesSize(keys[i]!) + bytesSize(headers[i]!.value)
  }
  return size
}

/** Writes a length-prefixed byte string (`null`: the length -1) at `at`; returns the next position. */
export const writeBytes = (buf: Uint8Array, at: number, b: Uint8Array | null): number => {
  if (b === null) {
    buf[at] = 1 // zig-zag -1
    return at + 1
  }
  at = writeVarint(buf, at, b.length)
  buf.set(b, at)
  return at + b.length
}

/** Writes one record (length varint first) whose body size is `size` (`bodySize`); returns the next position. */
export const writeRecord = (
  buf: Uint8Array,
  at: number,
  size: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<Record.Header>,
  offsetDelta: number,
  timestampDelta: number,
  keys: ReadonlyArray<Uint8Array> | undefined
): number => {
  at = writeVarint(buf, at, size)
  buf[at++] = 0 // record attributes (unused, as in Kafka)
  at = writeVarint(buf, at, timestampDelta)
  at = writeVarint(buf, at, offsetDelta)
  at = writeBytes(buf, at, key)
  at = writeBytes(buf, at, value)
  at = writeVarint(buf, at, headers.length)
  if (keys !== undefined) {
    for (let i = 0; i < keys.length; i++) {
      at = writeBytes(buf, at, keys[i]!)
      at = writeBytes(buf, at, headers[i]!.value)
    }
  }
  return at
}

const readBytes = (buf: Uint8Array, cursor: Cursor, end: number): Uint8Array | null | undefined => {
  const len = readVarint(buf, cursor)
  if (len === -1) return null
  if (!(len >= 0) || cursor.pos + len > end) return undefined
  // A view into the batch, not a copy: decoding is on the consumer's hot path, and copying each
  // value (a fresh backing store per record) costs more than the rest of decoding together. A
  // plain Uint8Array view (not `subarray`, which looks up a species constructor per call).
  const out = new Uint8Array(buf.buffer, buf.byteOffset + cursor.pos, len)
  cursor.pos += len
  return out
}

/** A decoded record before absolute offsets/timestamps are applied; `undefined` if malformed. */
export interface Raw {
  readonly offsetDelta: number
  readonly timestampDelta: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: ReadonlyArray<Record.Header>
}

/** Builds a decoded record from its parts (deltas still relative to the batch). */
export type Build<A> = (
  offsetDelta: number,
  timestampDelta: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<Record.Header>
) => A

/** The headers of a record without any: one shared, frozen array instead of one per record. */
export const noHeaders: ReadonlyArray<Record.Header> = Object.freeze([])

/**
 * Reads one record at the cursor and hands its parts to `build` (so a caller gets its own record
 * shape without an intermediate object); `undefined` if the bytes are malformed.
 */
export const readRecordWith = <A>(buf: Uint8Array, cursor: Cursor, limit: number, build: Build<A>): A | undefined => {
  const len = readVarint(buf, cursor)
  if (!(len > 0) || cursor.pos + len > limit) return undefined
  const end = cursor.pos + len
  cursor.pos++ // attributes
  const timestampDelta = readVarint(buf, cursor)
  const offsetDelta = readVarint(buf, cursor)
  const key = readBytes(buf, cursor, end)
  const value = readBytes(buf, cursor, end)
  const headerCount = readVarint(buf, cursor)
  if (key === undefined || value === undefined || !(headerCount >= 0) || Number.isNaN(offsetDelta + timestampDelta)) {
    return undefined
  }
  let headers = noHeaders
  if (headerCount > 0) {
    const read: Array<Record.Header> = []
    for (let i = 0; i < headerCount; i++) {
      const hk = readBytes(buf, cursor, end)
      const hv = readBytes(buf, cursor, end)
      if (hk === undefined || hk === null || hv === undefined) return undefined
      read.push({ key: utf8Decoder.decode(hk), value: hv })
    }
    headers = read
  }
  if (cursor.pos !== end) return undefined
  return build(offsetDelta, timestampDelta, key, value, headers)
}

const raw: Build<Raw> = (offsetDelta, timestampDelta, key, value, headers) => ({
  offsetDelta,
  timestampDelta,
  key,
  value,
  headers
})

/** Reads one record at the cursor; `undefined` if the bytes are malformed. */
export const readRecord = (buf: Uint8Array, cursor: Cursor, limit: number): Raw | undefined =>
  readRecordWith(buf, cursor, limit, raw)
