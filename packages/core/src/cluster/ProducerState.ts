/**
 * Idempotent-producer bookkeeping for one partition (Kafka's `ProducerStateManager`): per
 * producer id, its epoch and the last {@link maxBatchesPerProducer} batches it appended.
 * `check` decides what to do with an incoming batch; `onAppend` records one that was appended.
 * The state is rebuildable from the batch headers in the log with {@link fromBatches}.
 *
 * Rules: a retried batch (same epoch, same first and last sequence as a retained batch) is a
 * `Duplicate` and gets its original offsets back; an older epoch is fenced
 * (`InvalidProducerEpoch`); a newer epoch, and an unknown producer, must start at sequence 0;
 * otherwise the batch must follow the last one exactly (`OutOfOrderSequence`). Sequences wrap
 * from int32 max to 0 like Kafka's.
 *
 * Unlike Kafka, an unknown producer with a non-zero sequence is refused; Kafka accepts it
 * because retention may have deleted the producer's batches. Here that case needs the producer
 * to bump its epoch (documented limitation until producer-state snapshots exist).
 */
import { Data, Either } from "effect"
import { InvalidProducerEpoch, OutOfOrderSequence } from "./Errors.js"

/** Batches remembered per producer for duplicate detection (Kafka's 5, = max in-flight). */
export const maxBatchesPerProducer = 5

/** Largest sequence number; the next one is 0. */
export const maxSequence = 2_147_483_647

/** Producer id of batches written without idempotence. */
export const noProducerId = -1

/** One appended batch of a producer. */
export interface BatchMetadata {
  readonly firstSeq: number
  readonly lastSeq: number
  readonly baseOffset: number
  readonly lastOffset: number
}

/** A producer's epoch and its retained batches, oldest first. */
export interface ProducerEntry {
  readonly producerId: number
  readonly producerEpoch: number
  readonly batches: ReadonlyArray<BatchMetadata>
}

/** All producers of a partition. */
export type ProducerState = ReadonlyMap<number, ProducerEntry>

/** No producers seen. */
export const empty: ProducerState = new Map()

/** An incoming idempotent batch's producer fields. */
export interface BatchInfo {
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
  readonly recordCount: number
}

/** What to do with an incoming batch. */
export type CheckResult = Data.TaggedEnum<{
  /** New and in order: append it, then call `onAppend`. */
  Append: {}
  /** Already appended: reply success with these offsets, append nothing. */
  Duplicate: { readonly baseOffset: number; readonly lastOffset: number }
}>
/** Constructors and matchers for {@link CheckResult}. */
export const CheckResult = Data.taggedEnum<CheckResult>()

/** `sequence + increment`, wrapping past int32 max to 0 (Kafka's `incrementSequence`). */
export const incrementSequence = (sequence: number, increment: number): number =>
  sequence > maxSequence - increment ? increment - (maxSequence - sequence) - 1 : sequence + increment

/** The batch's last sequence. */
export const lastSequence = (batch: BatchInfo): number => incrementSequence(batch.baseSequence, batch.recordCount - 1)

const inSequence = (lastSeq: number, nextSeq: number): boolean =>
  nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === maxSequence)

/** Decide on an incoming idempotent batch (`producerId` >= 0). */
export const check = (
  state: ProducerState,
  batch: BatchInfo
): Either.Either<CheckResult, OutOfOrderSequence | InvalidProducerEpoch> => {
  const entry = state.get(batch.producerId)
  const outOfOrder = (expectedSequence: number) =>
    Either.left(
      new OutOfOrderSequence({
        producerId: batch.producerId,
        producerEpoch: batch.producerEpoch,
        expectedSequence,
        receivedSequence: batch.baseSequence
      })
    )
  if (entry === undefined) return batch.baseSequence === 0 ? Either.right(CheckResult.Append()) : outOfOrder(0)
  if (batch.producerEpoch < entry.producerEpoch) {
    return Either.left(
      new InvalidProducerEpoch({
        producerId: batch.producerId,
        producerEpoch: batch.producerEpoch,
        currentProducerEpoch: entry.producerEpoch
      })
    )
  }
  if (batch.producerEpoch > entry.producerEpoch) {
    return batch.baseSequence === 0 ? Either.right(CheckResult.Append()) : outOfOrder(0)
  }
  const lastSeq = lastSequence(batch)
  const duplicate = entry.batches.find((b) => b.firstSeq === batch.baseSequence && b.lastSeq === lastSeq)
  if (duplicate !== undefined) {
    return Either.right(CheckResult.Duplicate({ baseOffset: duplicate.baseOffset, lastOffset: duplicate.lastOffset }))
  }
  const last = entry.batches[entry.batches.length - 1]
  if (last === undefined) return batch.baseSequence === 0 ? Either.right(CheckResult.Append()) : outOfOrder(0)
  return inSequence(last.lastSeq, batch.baseSequence)
    ? Either.right(CheckResult.Append())
    : outOfOrder(incrementSequence(last.lastSeq, 1))
}

const appendInto = (
  map: Map<number, ProducerEntry>,
  batch: BatchInfo & { readonly baseOffset: number }
): Map<number, ProducerEntry> => {
  const entry = map.get(batch.producerId)
  const kept = entry === undefined || entry.producerEpoch !== batch.producerEpoch ? [] : entry.batches
  const appended: BatchMetadata = {
    firstSeq: batch.baseSequence,
    lastSeq: lastSequence(batch),
    baseOffset: batch.baseOffset,
    lastOffset: batch.baseOffset + batch.recordCount - 1
  }
  return map.set(batch.producerId, {
    producerId: batch.producerId,
    producerEpoch: batch.producerEpoch,
    batches: [...kept, appended].slice(-maxBatchesPerProducer)
  })
}

/** Record an appended batch at `baseOffset`; a new epoch forgets the old epoch's batches. */
export const onAppend = (state: ProducerState, batch: BatchInfo & { readonly baseOffset: number }): ProducerState =>
  appendInto(new Map(state), batch)

/** The producer fields of a batch header in the log. */
export interface BatchHeader {
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
  readonly baseOffset: number
  readonly lastOffset: number
}

/**
 * Rebuild the state from the log's batch headers in offset order (e.g. after a restart or on
 * becoming leader); batches without a producer id are skipped.
 */
export const fromBatches = (headers: Iterable<BatchHeader>): ProducerState => {
  const state = new Map<number, ProducerEntry>()
  for (const h of headers) {
    if (h.producerId !== noProducerId) appendInto(state, { ...h, recordCount: h.lastOffset - h.baseOffset + 1 })
  }
  return state
}
