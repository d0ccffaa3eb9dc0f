/**
 * RecordBatch: the unit of append, replication and fetch. One binary encoding, modelled on
 * Kafka's v2 batch, serves disk, network and consumers; the leader patches offsets and epoch in
 * the header and never re-encodes records on the way.
 *
 * Layout (big-endian):
 *   0 baseOffset int64 | 8 batchLength int32 (bytes after this field) | 12 partitionLeaderEpoch int32
 *   16 magic int8 (=2) | 17 crc uint32 (CRC-32C of bytes 21..end) | 21 attributes int16
 *   23 lastOffsetDelta int32 | 27 firstTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64
 *   51 producerEpoch int16 | 53 baseSequence int32 | 57 recordCount int32 | 61 records...
 * Each record: length varint, attributes int8, timestampDelta varint, offsetDelta varint,
 * key (varint length, -1 = null), value (same), header count, headers (key, value).
 * The CRC skips baseOffset and partitionLeaderEpoch, so patching them needs no re-checksum.
 */
import { crc32c } from "@node-rs/crc32"
import { Either } from "effect"
import * as Codec from "./internal/codec.js"
import { CorruptRecord } from "./LogError.js"
import type * as Record from "./Record.js"

/** Bytes before the first record. */
export const HEADER_BYTES = 61
/** Bytes of baseOffset + batchLength: enough to frame a batch in a byte stream. */
export const LOG_OVERHEAD_BYTES = 12
/** The only batch format version written and accepted. */
export const MAGIC = 2
/** Largest batch accepted by `validate` (a limit on every allocation driven by a length field). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024
const CRC_START = 21
const TIMESTAMP_TYPE_BIT = 0x08

/** How batch timestamps are set: by the producer, or by the leader on append. */
export type TimestampType = "CreateTime" | "LogAppendTime"

/** The fixed header fields of a batch, read without touching the records. */
export interface Header {
  readonly baseOffset: number
  readonly batchLength: number
  readonly partitionLeaderEpoch: number
  readonly magic: number
  readonly crc: number
  readonly attributes: number
  readonly timestampType: TimestampType
  readonly lastOffsetDelta: number
  readonly lastOffset: number
  readonly firstTimestamp: number
  readonly maxTimestamp: number
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
  readonly recordCount: number
  /** Total size of the batch in bytes (`batchLength + 12`). */
  readonly sizeInBytes: number
}

/** What `encode` needs; producer fields default to "no producer" (-1). */
export interface EncodeInput {
  readonly records: ReadonlyArray<Record.Record>
  readonly baseOffset?: number
  readonly producerId?: number
  readonly producerEpoch?: number
  readonly baseSequence?: number
  readonly partitionLeaderEpoch?: number
  readonly timestampType?: TimestampType
}

/** A record with an explicit offset delta: used to re-encode compacted batches keeping offsets. */
export interface RecordAt {
  readonly record: Record.Record
  readonly offsetDelta: number
}

/** Encodes records into one batch; offset deltas are 0..n-1. */
export const encode = (input: EncodeInput): Uint8Array =>
  encodeRecords(input, input.records, undefined, input.records.length - 1)

/** Encodes records with given offset deltas, keeping `lastOffsetDelta` (compaction keeps a batch's range). */
export const encodeAt = (
  input: Omit<EncodeInput, "records"> & { readonly records: ReadonlyArray<RecordAt> },
  lastOffsetDelta: number
): Uint8Array =>
  encodeRecords(
    input,
    input.records.map((r) => r.record),
    input.records.map((r) => r.offsetDelta),
    lastOffsetDelta
  )

/**
 * The encoder: a size pre-pass (body sizes kept in a typed array, no object per record), then
 * one pass writing header and records into an array of exactly the right size.
 */
const encodeRecords = (
  input: Omit<EncodeInput, "records">,
  records: ReadonlyArray<Record.Record>,
  offsetDeltas: ReadonlyArray<number> | undefined,
  lastOffsetDelta: number
): Uint8Array => {
  const n = records.length
  let firstTimestamp = n === 0 ? -1 : records[0]!.timestamp
  let maxTimestamp = -1
  for (let i = 0; i < n; i++) {
    const t = records[i]!.timestamp
    if (t < firstTimestamp) firstTimestamp = t
    if (t > maxTimestamp) maxTimestamp = t
  }
  const bodySizes = new Float64Array(n)
  let keys: Array<ReadonlyArray<Uint8Array> | undefined> | undefined
  let size = HEADER_BYTES
  for (let i = 0; i < n; i++) {
    const record = records[i]!
    const recordKeys = Codec.headerKeys(record.headers)
    if (recordKeys !== undefined) (keys ??= new Array(n))[i] = recordKeys
    const offsetDelta = offsetDeltas === undefined ? i : offsetDeltas[i]!
    const body = Codec.bodySize(record.key, record.value, record.headers, offsetDelta, record.timestamp - firstTimestamp, recordKeys)
    bodySizes[i] = body
    size += Codec.varintSize(body) + body
  }
  const bytes = new Uint8Array(size)
  Codec.setInt64(bytes, 0, input.baseOffset ?? 0)
  Codec.setInt32(bytes, 8, size - LOG_OVERHEAD_BYTES)
  Codec.setInt32(bytes, 12, input.partitionLeaderEpoch ?? -1)
  bytes[16] = MAGIC
  Codec.setInt16(bytes, 21, input.timestampType === "LogAppendTime" ? TIMESTAMP_TYPE_BIT : 0)
  Codec.setInt32(bytes, 23, lastOffsetDelta)
  Codec.setInt64(bytes, 27, firstTimestamp)
  Codec.setInt64(bytes, 35, maxTimestamp)
  Codec.setInt64(bytes, 43, input.producerId ?? -1)
  Codec.setInt16(bytes, 51, input.producerEpoch ?? -1)
  Codec.setInt32(bytes, 53, input.baseSequence ?? -1)
  Codec.setInt32(bytes, 57, n)
  let at = HEADER_BYTES
  for (let i = 0; i < n; i++) {
    const record = records[i]!
    at = Codec.writeRecord(
      bytes,
      at,
      bodySizes[i]!,
      record.key,
      record.value,
      record.headers,
      offsetDeltas === undefined ? i : offsetDeltas[i]!,
      record.timestamp - firstTimestamp,
      keys?.[i]
    )
  }
  Codec.setInt32(bytes, 17, crc32c(bytes.subarray(CRC_START)))
  return bytes
}

/** Reads the header fields. Assumes at least `HEADER_BYTES` bytes; see `validate` for checks. */
export const header = (bytes: Uint8Array): Header => {
  const baseOffset = Codec.getInt64(bytes, 0)
  const batchLength = Codec.getInt32(bytes, 8)
  const attributes = Codec.getInt16(bytes, 21)
  const lastOffsetDelta = Codec.getInt32(bytes, 23)
  return {
    baseOffset,
    batchLength,
    partitionLeaderEpoch: Codec.getInt32(bytes, 12),
    magic: Codec.getInt8(bytes, 16),
    crc: Codec.getUint32(bytes, 17),
    attributes,
    timestampType: (attributes & TIMESTAMP_TYPE_BIT) !== 0 ? "LogAppendTime" : "CreateTime",
    lastOffsetDelta,
    lastOffset: baseOffset + lastOffsetDelta,
    firstTimestamp: Codec.getInt64(bytes, 27),
    maxTimestamp: Codec.getInt64(bytes, 35),
    producerId: Codec.getInt64(bytes, 43),
    producerEpoch: Codec.getInt16(bytes, 51),
    baseSequence: Codec.getInt32(bytes, 53),
    recordCount: Codec.getInt32(bytes, 57),
    sizeInBytes: batchLength + LOG_OVERHEAD_BYTES
  }
}

/** Base offset without building a header object. */
export const baseOffset = (bytes: Uint8Array): number => Codec.getInt64(bytes, 0)

/** Last offset (base + lastOffsetDelta) without building a header object. */
export const lastOffset = (bytes: Uint8Array): number => Codec.getInt64(bytes, 0) + Codec.getInt32(bytes, 23)

/** Largest timestamp in the batch (the append time for `LogAppendTime` batches). */
export const maxTimestamp = (bytes: Uint8Array): number => Codec.getInt64(bytes, 35)

/** Total size in bytes as declared by the batch's length field (at `position` in `bytes`). */
export const sizeAt = (bytes: Uint8Array, position = 0): number =>
  Codec.getInt32(bytes, position + 8) + LOG_OVERHEAD_BYTES

/** Patches the base offset in place. The CRC does not cover it, so none is recomputed. */
export const setBaseOffset = (bytes: Uint8Array, offset: number): void => Codec.setInt64(bytes, 0, offset)

/** Patches the partition leader epoch in place (outside the CRC, like the base offset). */
export const setLeaderEpoch = (bytes: Uint8Array, epoch: number): void => Codec.setInt32(bytes, 12, epoch)

/** A copy with a new base offset; the original is untouched. */
export const withBaseOffset = (bytes: Uint8Array, offset: number): Uint8Array => {
  const copy = new Uint8Array(bytes) // a real copy even for a Node Buffer (whose slice is a view)
  setBaseOffset(copy, offset)
  return copy
}

/** A copy with a new partition leader epoch. */
export const withLeaderEpoch = (bytes: Uint8Array, epoch: number): Uint8Array => {
  const copy = new Uint8Array(bytes) // a real copy even for a Node Buffer (whose slice is a view)
  setLeaderEpoch(copy, epoch)
  return copy
}

/**
 * Stamps a `LogAppendTime` batch's max timestamp in place. The timestamp is covered by the
 * CRC, so this is the one patch that re-checksums (as Kafka's broker does).
 */
export const setLogAppendTime = (bytes: Uint8Array, timestampMs: number): void => {
  Codec.setInt64(bytes, 35, timestampMs)
  Codec.setInt32(bytes, 17, crc32c(bytes.subarray(CRC_START)))
}

const framing = (bytes: Uint8Array): Either.Either<Header, CorruptRecord> => {
  if (bytes.length < HEADER_BYTES) {
    return Either.left(new CorruptRecord({ reason: `batch of ${bytes.length} bytes is shorter than its header` }))
  }
  const h = header(bytes)
  if (h.sizeInBytes !== bytes.length || h.sizeInBytes > MAX_BATCH_BYTES) {
    return Either.left(new CorruptRecord({ reason: `batch length ${h.sizeInBytes} does not match ${bytes.length} bytes` }))
  }
  if (h.magic !== MAGIC) return Either.left(new CorruptRecord({ reason: `unsupported magic ${h.magic}` }))
  return Either.right(h)
}

const counts = (h: Header): Either.Either<Header, CorruptRecord> =>
  h.recordCount < 0 || h.lastOffsetDelta < h.recordCount - 1 || h.lastOffsetDelta < 0
    ? Either.left(new CorruptRecord({ reason: `bad record count ${h.recordCount}` }))
    : Either.right(h)

/** The error of a batch whose CRC does not match its contents. */
export const crcMismatch = (): CorruptRecord => new CorruptRecord({ reason: "CRC-32C mismatch" })

/**
 * Whether the stored CRC matches the batch (assumes `validateHeader` passed). The one check that
 * reads every byte: about as costly as writing the batch to the page cache.
 */
export const crcMatches = (bytes: Uint8Array): boolean => crc32c(bytes.subarray(CRC_START)) === Codec.getUint32(bytes, 17)

/** Checks size, magic and CRC of one batch that fills `bytes` exactly. */
export const validate = (bytes: Uint8Array): Either.Either<Header, CorruptRecord> =>
  Either.flatMap(framing(bytes), (h) => (crcMatches(bytes) ? counts(h) : Either.left(crcMismatch())))

/**
 * Batches whose CRC this process computed or has checked, held where nobody writes them any more:
 * a batch `BatchBuilder.build` returned (its builder never touches it again; a producer keeps it
 * only to send it again) and a batch a `MemoryLog` stored (a log's `ReadResult` is not to be
 * mutated). In process, a fetch hands the leader's stored array to followers and consumers as
 * it is, so each of them would check the same bytes again, and find only what the process itself
 * broke (by writing where it promised not to). A batch that crossed a wire, came from a file, or
 * went through a serialising transport is a new array, not in here, and is checked as usual: one
 * CRC pass per batch per hop that could damage it, as between Kafka's processes.
 */
const trusted = new WeakSet<Uint8Array>()

/** Records that `bytes` (a whole checked batch) will not be written again; see {@link validateOnce}. */
export const trust = (bytes: Uint8Array): void => {
  trusted.add(bytes)
}

/** Whether `bytes` is a batch this process checked and keeps unwritten (see {@link trust}). */
export const isTrusted = (bytes: Uint8Array): boolean => trusted.has(bytes)

/** `validate`, without reading past the header of a batch this process already checked ({@link isTrusted}). */
export const validateOnce = (bytes: Uint8Array): Either.Either<Header, CorruptRecord> =>
  trusted.has(bytes) ? validateHeader(bytes) : validate(bytes)

/**
 * `validate` without the CRC: every header check, none of the bytes after the header read. For a
 * caller that checks `crcMatches` itself later (a log overlapping it with its write).
 */
export const validateHeader = (bytes: Uint8Array): Either.Either<Header, CorruptRecord> => Either.flatMap(framing(bytes), counts)

/**
 * Splits a byte run of back-to-back batches into views (no copies). Stops at the first batch
 * that is incomplete or fails `validate`; `validBytes` tells where the good prefix ends.
 */
export const split = (
  bytes: Uint8Array,
  options?: { readonly verify?: boolean }
): { readonly batches: Array<Uint8Array>; readonly validBytes: number } => {
  const batches: Array<Uint8Array> = []
  const verify = options?.verify ?? true
  let pos = 0
  while (pos + HEADER_BYTES <= bytes.length) {
    const size = sizeAt(bytes, pos)
    if (size < HEADER_BYTES || size > MAX_BATCH_BYTES || pos + size > bytes.length) break
    const batch = bytes.subarray(pos, pos + size)
    if (verify && Either.isLeft(validate(batch))) break
    batches.push(batch)
    pos += size
  }
  return { batches, validBytes: pos }
}

/** Decodes the records of a valid batch with absolute offsets and timestamps. */
export const decodeRecords = (bytes: Uint8Array): Either.Either<Array<Record.RecordWithOffset>, CorruptRecord> =>
  decodeRecordsWith(bytes, -Infinity, (offset, timestamp, key, value, headers) => ({ offset, timestamp, key, value, headers }))

/** Builds a decoded record (absolute offset and timestamp) in the caller's own shape. */
export type Build<A> = (
  offset: number,
  timestamp: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<Record.Header>
) => A

/**
 * Decodes the records of a valid batch at or after `fromOffset`, each built by `build` (one
 * object per record, no intermediate; keys and values are views of the batch). Records below
 * `fromOffset` are read (to check them) but not built. They are pushed onto `into` when given
 * (several batches into one array; on a failure it may hold part of the batch), else onto a new
 * array.
 */
export const decodeRecordsWith = <A>(
  bytes: Uint8Array,
  fromOffset: number,
  build: Build<A>,
  into: Array<A> = []
): Either.Either<Array<A>, CorruptRecord> => {
  const base = Codec.getInt64(bytes, 0)
  const logAppendTime = (Codec.getInt16(bytes, 21) & TIMESTAMP_TYPE_BIT) !== 0
  const timestampBase = Codec.getInt64(bytes, logAppendTime ? 35 : 27)
  const recordCount = Codec.getInt32(bytes, 57)
  const out = into
  const cursor: Codec.Cursor = { pos: HEADER_BYTES }
  const part: Codec.Build<A | null> = (offsetDelta, timestampDelta, key, value, headers) => {
    const offset = base + offsetDelta
    return offset < fromOffset
      ? null
      : build(offset, logAppendTime ? timestampBase : timestampBase + timestampDelta, key, value, headers)
  }
  for (let i = 0; i < recordCount; i++) {
    const record = Codec.readRecordWith(bytes, cursor, bytes.length, part)
    if (record === undefined) return Either.left(new CorruptRecord({ reason: `malformed record ${i}` }))
    if (record !== null) out.push(record)
  }
  return Either.right(out)
}
