/**
 * Byte-level helpers for the batch format: int64 as JS numbers (safe up to 2^53), zig-zag
 * varints, and the per-record layout of Kafka's v2 batch. Plain functions over bytes: this is
 * the hot path, so no Effect, no Schema, no per-record allocation beyond the decoded record.
 * @internal
 */
import type * as Record from "../Record.js"

const TWO_32 = 4294967296

/** Writes a signed 64-bit integer held in a JS number. */
export const setInt64 = (view: DataView, at: number, n: number): void => {
  const hi = Math.floor(n / TWO_32)
  view.setInt32(at, hi)
  view.setUint32(at + 4, n - hi * TWO_32)
}

/** Reads a signed 64-bit integer into a JS number (exact up to 2^53). */
export const getInt64 = (view: DataView, at: number): number =>
  view.getInt32(at) * TWO_32 + view.getUint32(at + 4)

/** Bytes taken by the zig-zag varint encoding of `n`. */
export const varintSize = (n: number): number => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  let size = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    size++
  }
  return size
}

/** Writes `n` as a zig-zag varint at `at`; returns the next position. */
export const writeVarint = (buf: Uint8Array, at: number, n: number): number => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  buf[at++] = z
  return at
}

/** Mutable cursor used while decoding. */
export interface Cursor {
  pos: number
}

/** Reads a zig-zag varint at the cursor, advancing it. */
export const readVarint = (buf: Uint8Array, cursor: Cursor): number => {
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

/** A record ready to be laid out: timestamp and offset deltas already known. */
export interface Laid {
  readonly record: Record.Record
  readonly offsetDelta: number
  readonly timestampDelta: number
  readonly headerKeys: ReadonlyArray<Uint8Array>
  readonly bodySize: number
}

const bytesSize = (b: Uint8Array | null): number => (b === null ? varintSize(-1) : varintSize(b.length) + b.length)

/** Computes the body size of one record (everything after its length varint). */
export const lay = (record: Record.Record, offsetDelta: number, timestampDelta: number): Laid => {
  const headerKeys = record.headers.map((h) => utf8Encoder.encode(h.key))
  let size = 1 + varintSize(timestampDelta) + varintSize(offsetDelta) + bytesSize(record.key) + bytesSize(record.value)
  size += varintSize(record.headers.length)
  for (let i = 0; i < headerKeys.length; i++) {
    size += varintSize(headerKeys[i]!.length) + headerKeys[i]!.length + bytesSize(record.headers[i]!.value)
  }
  return { record, offsetDelta, timestampDelta, headerKeys, bodySize: size }
}

const writeBytes = (buf: Uint8Array, at: number, b: Uint8Array | null): number => {
  if (b === null) return writeVarint(buf, at, -1)
  at = writeVarint(buf, at, b.length)
  buf.set(b, at)
  return at + b.length
}

/** Writes one laid-out record (length varint first); returns the next position. */
export const writeRecord = (buf: Uint8Array, at: number, laid: Laid): number => {
  at = writeVarint(buf, at, laid.bodySize)
  buf[at++] = 0 // record attributes (unused, as in Kafka)
  at = writeVarint(buf, at, laid.timestampDelta)
  at = writeVarint(buf, at, laid.offsetDelta)
  at = writeBytes(buf, at, laid.record.key)
  at = writeBytes(buf, at, laid.record.value)
  at = writeVarint(buf, at, laid.record.headers.length)
  for (let i = 0; i < laid.headerKeys.length; i++) {
    at = writeBytes(buf, at, laid.headerKeys[i]!)
    at = writeBytes(buf, at, laid.record.headers[i]!.value)
  }
  return at
}

const readBytes = (buf: Uint8Array, cursor: Cursor, end: number): Uint8Array | null | undefined => {
  const len = readVarint(buf, cursor)
  if (len === -1) return null
  if (!(len >= 0) || cursor.pos + len > end) return undefined
  // A view into the batch, not a copy: decoding is on the consumer's hot path, and copying each
  // value (a fresh backing store per record) costs more than the rest of decoding together.
  const out = buf.subarray(cursor.pos, cursor.pos + len)
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

/** Reads one record at the cursor; `undefined` if the bytes are malformed. */
export const readRecord = (buf: Uint8Array, cursor: Cursor, limit: number): Raw | undefined => {
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
  const headers: Array<Record.Header> = []
  for (let i = 0; i < headerCount; i++) {
    const hk = readBytes(buf, cursor, end)
    const hv = readBytes(buf, cursor, end)
    if (hk === undefined || hk === null || hv === undefined) return undefined
    headers.push({ key: utf8Decoder.decode(hk), value: hv })
  }
  if (cursor.pos !== end) return undefined
  return { offsetDelta, timestampDelta, key, value, headers }
}
