/**
 * Typed failures of the log layer. Callers `catchTag` them; nothing here throws.
 */
import { Data } from "effect"

/** A batch failed its CRC, length or format checks (Kafka's CORRUPT_MESSAGE). */
export class CorruptRecord extends Data.TaggedError("CorruptRecord")<{
  readonly reason: string
  readonly position?: number
}> {}

/** A read or lookup asked for an offset outside `[logStartOffset, logEndOffset]`. */
export class OffsetOutOfRange extends Data.TaggedError("OffsetOutOfRange")<{
  readonly offset: number
  readonly logStartOffset: number
  readonly logEndOffset: number
}> {}

/** A follower append whose base offset does not continue at the log end offset. */
export class NonContiguousOffset extends Data.TaggedError("NonContiguousOffset")<{
  readonly expectedOffset: number
  readonly actualOffset: number
}> {}

/** The log was used after `close`. */
export class LogClosed extends Data.TaggedError("LogClosed")<{}> {}

/** The storage underneath failed (disk full, permission, I/O error). */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** Every failure a `PartitionLog` operation may report. */
export type LogError = CorruptRecord | OffsetOutOfRange | NonContiguousOffset | LogClosed | StorageError
