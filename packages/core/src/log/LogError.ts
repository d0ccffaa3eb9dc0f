/**
 * Typed failures of the log layer. Callers `catchTag` them; nothing here throws.
 */
import { Data } from "effect"

/** A batch failed its CRC, length or format checks (Kafka's CORRUPT_MESSAGE). */
export class CorruptRecord extends Data.TaggedError("CorruptRecord")<{
  readonly reason: string
  readonly position?: number
}> {
  override get message() {
    return this.position === undefined ? `corrupt batch: ${this.reason}` : `corrupt batch at position ${this.position}: ${this.reason}`
  }
}

/** A read or lookup asked for an offset outside `[logStartOffset, logEndOffset]`. */
export class OffsetOutOfRange extends Data.TaggedError("OffsetOutOfRange")<{
  readonly offset: number
  readonly logStartOffset: number
  readonly logEndOffset: number
}> {
  override get message() {
    return `offset ${this.offset} is outside the log [${this.logStartOffset}, ${this.logEndOffset}]`
  }
}

/** A follower append whose base offset does not continue at the log end offset. */
export class NonContiguousOffset extends Data.TaggedError("NonContiguousOffset")<{
  readonly expectedOffset: number
  readonly actualOffset: number
}> {
  override get message() {
    return `a follower batch must begin at the log end ${this.expectedOffset}; this one begins at ${this.actualOffset}`
  }
}

/** The log was used after `close`. */
export class LogClosed extends Data.TaggedError("LogClosed")<{}> {
  override get message() {
    return "the log is closed"
  }
}

/** The storage underneath failed (disk full, permission, I/O error). */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `storage failed in ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** Every failure a `PartitionLog` operation may report. */
export type LogError = CorruptRecord | OffsetOutOfRange | NonContiguousOffset | LogClosed | StorageError
