/**
 * A record: the unit a producer writes and a consumer reads. Key and value are opaque bytes;
 * either may be `null` (a `null` value in a compacted topic is a tombstone).
 */

/** One record header: a string key and an optional binary value. */
export interface Header {
  readonly key: string
  readonly value: Uint8Array | null
}

/** A record as a producer hands it over: binary key/value, headers, create timestamp in ms. */
export interface Record {
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: ReadonlyArray<Header>
  readonly timestamp: number
}

/** A record as read back from the log, with its absolute offset. */
export interface RecordWithOffset extends Record {
  readonly offset: number
}

/** Builds a record; headers default to none. */
export const make = (options: {
  readonly key?: Uint8Array | null | undefined
  readonly value: Uint8Array | null
  readonly timestamp: number
  readonly headers?: ReadonlyArray<Header> | undefined
}): Record => ({
  key: options.key ?? null,
  value: options.value,
  headers: options.headers ?? [],
  timestamp: options.timestamp
})

/** True when the record is a tombstone (a keyed record with a `null` value). */
export const isTombstone = (record: Record): boolean => record.key !== null && record.value === null

const utf8 = new TextEncoder()

/** Convenience for tests and examples: a record from UTF-8 strings. */
export const fromStrings = (key: string | null, value: string | null, timestamp: number): Record =>
  make({
    key: key === null ? null : utf8.encode(key),
    value: value === null ? null : utf8.encode(value),
    timestamp
  })
