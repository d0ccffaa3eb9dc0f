/** Test helpers: small batches and whole-log reads. */
import { type LogError, type PartitionLog, Record, RecordBatch } from "@fiberlog/core"
import { Effect, Either } from "effect"

/** A batch of `count` records "k{i}" → "{tag}-{i}" at timestamp `ts` (+i). */
export const batch = (count: number, tag = "v", ts = 1000, options?: Partial<RecordBatch.EncodeInput>): Uint8Array =>
  RecordBatch.encode({
    ...options,
    records: Array.from({ length: count }, (_, i) => Record.fromStrings(`k${i}`, `${tag}-${i}`, ts + i))
  })

/** The value of record `i` in a `wide` batch: "{tag}-{i}" padded with dots to `valueBytes`. */
export const wideValue = (tag: string, i: number, valueBytes: number): string => `${tag}-${i}`.padEnd(valueBytes, ".")

/**
 * A batch like `batch` whose values are padded to `valueBytes` each: with two 10 KB records it
 * passes the size from which a FileLog checks the CRC beside its write, not before.
 */
export const wide = (
  count: number,
  tag = "v",
  valueBytes = 10_000,
  ts = 1000,
  options?: Partial<RecordBatch.EncodeInput>
): Uint8Array =>
  RecordBatch.encode({
    ...options,
    records: Array.from({ length: count }, (_, i) => Record.fromStrings(`k${i}`, wideValue(tag, i, valueBytes), ts + i))
  })

/** Offsets, values of every record in some batches. */
export const values = (batches: ReadonlyArray<Uint8Array>): Array<[number, string | null]> =>
  batches.flatMap((b) =>
    Either.getOrThrow(RecordBatch.decodeRecords(b)).map(
      (r): [number, string | null] => [r.offset, r.value === null ? null : new TextDecoder().decode(r.value)]
    )
  )

/** Reads every batch from `from` to the log end, as a consumer loop would. */
export const readAll = (
  log: PartitionLog.PartitionLog,
  from: number
): Effect.Effect<Array<Uint8Array>, LogError.LogError> =>
  Effect.gen(function*() {
    const out: Array<Uint8Array> = []
    let next = from
    for (;;) {
      const r = yield* log.read(next, 64 * 1024)
      if (r.batches.length === 0) return out
      out.push(...r.batches)
      next = RecordBatch.lastOffset(r.batches[r.batches.length - 1]!) + 1
    }
  })

/** A batch of keyed records (a null value is a tombstone), all at timestamp `ts`. */
export const keyed = (kvs: Array<[string, string | null]>, ts: number) =>
  RecordBatch.encode({
    records: kvs.map(([k, v]) => ({
      key: new TextEncoder().encode(k),
      value: v === null ? null : new TextEncoder().encode(v),
      headers: [],
      timestamp: ts
    }))
  })
