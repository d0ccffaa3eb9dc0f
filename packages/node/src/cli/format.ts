/**
 * How the command line prints partitions, records and groups. Pure.
 *
 * @since 0.1.0
 */
import type { Consumer, Metadata } from "@fiberlog/core"
import { Either, Schema } from "effect"

const text = new TextDecoder()

/** One line per partition: leader, epoch, replicas, ISR, and offsets when known. */
export const partitions = (
  states: ReadonlyArray<Metadata.PartitionState>,
  offsets: ReadonlyArray<{ readonly partition: number; readonly earliest: number; readonly latest: number }> = []
): ReadonlyArray<string> =>
  states.map((p) => {
    const o = offsets.find((x) => x.partition === p.partition)
    const range = o === undefined ? "" : ` offsets ${o.earliest}..${o.latest}`
    const leader = p.leader < 0 ? "none" : `${p.leader}`
    return `  partition ${p.partition}: leader ${leader} epoch ${p.leaderEpoch} replicas [${p.replicas.join(",")}] isr [${p.isr.join(",")}]${range}`
  })

/** A record's value as text (`null` for a tombstone), with `partition:offset<TAB>` when asked. */
export const record = (r: Consumer.ConsumerRecord, withOffsets: boolean): string => {
  const value = r.value === null ? "null" : text.decode(r.value)
  return withOffsets ? `${r.partition}:${r.offset}\t${value}` : value
}

const AssignmentJson = Schema.parseJson(Schema.Struct({
  partitions: Schema.Array(Schema.Tuple(Schema.String, Schema.Int))
}))

/** A consumer member's assignment bytes as `topic-partition` names (empty if not the consumer protocol). */
export const assignment = (bytes: Uint8Array): ReadonlyArray<string> => {
  if (bytes.length === 0) return []
  const decoded = Schema.decodeUnknownEither(AssignmentJson)(text.decode(bytes))
  return Either.isLeft(decoded) ? [] : decoded.right.partitions.map(([topic, partition]) => `${topic}-${partition}`)
}

/** Lag of a committed offset against the high watermark (`-` without a commit). */
export const lag = (committed: number, highWatermark: number): string =>
  committed < 0 ? "-" : `${Math.max(0, highWatermark - committed)}`
