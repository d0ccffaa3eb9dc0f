/**
 * BatchBuilder: writes records straight into a growing `RecordBatch`, one at a time, as a
 * producer accepts them (Kafka's `MemoryRecordsBuilder`). No record object is kept: a record is
 * its bytes from the moment it is appended, and `build` only fills in the header and the CRC.
 *
 * Offsets deltas count from 0; timestamp deltas are relative to the first record appended (the
 * batch's `firstTimestamp`, as Kafka's base timestamp: a later record may be older, its delta is
 * then negative). The same layout and decoders as `RecordBatch.encode`.
 *
 * @since 0.1.0
 */
import { crc32c } from "@node-rs/crc32"
import * as Codec from "./internal/codec.js"
import type * as Record from "./Record.js"
import * as RecordBatch from "./RecordBatch.js"

/** The producer fields `build` writes into the header. */
export interface ProducerFields {
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
}

/** A position in a builder (see `Builder.mark`). */
export interface Mark {
  readonly size: number
  readonly count: number
  readonly firstTimestamp: number
  readonly maxTimestamp: number
}

const CRC_START = 21

/** A batch being filled. Mutable; owned by one producer's partition sender. */
export class Builder {
  private buffer: Uint8Array
  private spareBuffer: Uint8Array | undefined = undefined
  private size = RecordBatch.HEADER_BYTES
  private firstTimestamp = -1
  private maxTimestamp = -1
  /** Number of records appended. */
  count = 0

  /**
   * @param capacityBytes initial buffer size (the batch grows past it when it must)
   * @param growthLimitBytes doubling stops here; beyond it the buffer grows only by what is needed
   */
  constructor(capacityBytes: number, private readonly growthLimitBytes: number, scratch?: Uint8Array) {
    const capacity = Math.max(RecordBatch.HEADER_BYTES, capacityBytes)
    this.buffer = scratch !== undefined && scratch.length >= capacity ? scratch : new Uint8Array(capacity)
  }

  /** Encoded size so far, header included. */
  get sizeInBytes(): number {
    return this.size
  }

  /** Where the batch is now, for `reset`. */
  mark(): Mark {
    return { size: this.size, count: this.count, firstTimestamp: this.firstTimestamp, maxTimestamp: this.maxTimestamp }
  }

  /** Drops every record appended after `mark` (a caller whose write failed half way). */
  reset(mark: Mark): void {
    this.size = mark.size
    this.count = mark.count
    this.firstTimestamp = mark.firstTimestamp
    this.maxTimestamp = mark.maxTimestamp
  }

  /** Appends one record. */
  append(key: Uint8Array | null, value: Uint8Array | null, headers: ReadonlyArray<Record.Header>, timestamp: number): void {
    const offsetDelta = this.count
    if (offsetDelta === 0) this.firstTimestamp = timestamp
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp
    const timestampDelta = timestamp - this.firstTimestamp
    const keys = Codec.headerKeys(headers)
    const body = Codec.bodySize(key, value, headers, offsetDelta, timestampDelta, keys)
    // A length varint takes at most 5 bytes: the exact reserve only when the buffer may be short.
    if (this.size + 5 + body > this.buffer.length) this.reserve(Codec.varintSize(body) + body)
    this.size = Codec.writeRecord(this.buffer, this.size, body, key, value, headers, offsetDelta, timestampDelta, keys)
    this.count = offsetDelta + 1
  }

  /**
   * The finished batch (base offset 0, no leader epoch, `CreateTime`): an array of exactly its
   * size, which the builder no longer touches, and which a log may `claim`. Afterwards the builder
   * only gives back its working buffer (`spare`).
   */
  build(producer: ProducerFields): Uint8Array {
    const exact = this.size === this.buffer.length
    const bytes = exact ? this.buffer : this.buffer.slice(0, this.size)
    this.spareBuffer = exact ? undefined : this.buffer
    this.buffer = bytes
    Codec.setInt64(bytes, 0, 0)
    Codec.setInt32(bytes, 8, this.size - RecordBatch.LOG_OVERHEAD_BYTES)
    Codec.setInt32(bytes, 12, -1)
    bytes[16] = RecordBatch.MAGIC
    Codec.setInt16(bytes, 21, 0)
    Codec.setInt32(bytes, 23, this.count - 1)
    Codec.setInt64(bytes, 27, this.firstTimestamp)
    Codec.setInt64(bytes, 35, this.maxTimestamp)
    Codec.setInt64(bytes, 43, producer.producerId)
    Codec.setInt16(bytes, 51, producer.producerEpoch)
    Codec.setInt32(bytes, 53, producer.baseSequence)
    Codec.setInt32(bytes, 57, this.count)
    Codec.setInt32(bytes, 17, crc32c(bytes.subarray(CRC_START)))
    built.add(bytes)
    RecordBatch.trust(bytes)
    return bytes
  }

  /** After `build`: the working buffer when the batch was copied out of it, for the next builder. */
  spare(): Uint8Array | undefined {
    const spare = this.spareBuffer
    this.spareBuffer = undefined
    return spare
  }

  private reserve(extra: number): void {
    const need = this.size + extra
    if (need <= this.buffer.length) return
    const doubled = Math.min(this.buffer.length * 2, this.growthLimitBytes)
    const grown = new Uint8Array(Math.max(need, doubled))
    grown.set(this.buffer.subarray(0, this.size))
    this.buffer = grown
  }
}

/**
 * Starts a batch with room for `capacityBytes`, doubling up to `growthLimitBytes` as records come;
 * in `scratch` (a previous builder's `spare`) when it is large enough.
 */
export const make = (capacityBytes: number, growthLimitBytes: number, scratch?: Uint8Array): Builder =>
  new Builder(capacityBytes, growthLimitBytes, scratch)

/** Batches built in this process and not claimed yet. */
const built = new WeakSet<Uint8Array>()

/**
 * True once for a batch `build` returned, false for anything else (and for that batch after):
 * the claimer may keep it and patch its header instead of copying it (see
 * `PartitionLog.AppendOptions.transfer`). Its builder never writes it again, and whoever else
 * holds it only reads it — a producer retrying sends it again, and the next leader, unable to
 * claim it, copies it. In process only: a batch that crossed a wire is a new array.
 */
export const claim = (bytes: Uint8Array): boolean => built.delete(bytes)
