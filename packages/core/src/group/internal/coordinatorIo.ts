/**
 * The coordinator's storage I/O: writing commits to `__consumer_offsets` through the local leader
 * replica (acks=all) and reading an offsets partition back when this broker starts leading it.
 */
import { Duration, Effect, Either, Schedule } from "effect"
import type * as Actor from "../../actor/Actor.js"
import type { LogStore } from "../../cluster/LogStore.js"
import * as P from "../../cluster/ReplicaProtocol.js"
import * as Record from "../../log/Record.js"
import * as RecordBatch from "../../log/RecordBatch.js"
import type { CommittedOffset } from "../GroupState.js"
import * as OffsetKey from "../OffsetKey.js"

/** The batch holding one group's commit: one record per partition, keyed for compaction. */
export const commitBatch = (groupId: string, offsets: ReadonlyArray<CommittedOffset>): Uint8Array =>
  RecordBatch.encode({
    records: offsets.map((o) =>
      Record.make({
        key: OffsetKey.encodeKey(new OffsetKey.OffsetKey({ groupId, topic: o.topic, partition: o.partition })),
        value: OffsetKey.encodeValue(
          new OffsetKey.OffsetValue({
            offset: o.offset,
            metadata: o.metadata,
            commitTimestampMs: o.commitTimestampMs,
            ...(o.leaderEpoch === undefined ? {} : { leaderEpoch: o.leaderEpoch })
          })
        ),
        timestamp: o.commitTimestampMs
      })
    )
  })

/** The batch holding a group's metadata (its generation), keyed for compaction. */
export const groupBatch = (groupId: string, metadata: OffsetKey.GroupMetadata, timestampMs: number): Uint8Array =>
  RecordBatch.encode({
    records: [Record.make({ key: OffsetKey.encodeGroupKey(groupId), value: OffsetKey.encodeGroupValue(metadata), timestamp: timestampMs })]
  })

/** Writes a commit to the local leader of `partition` with acks=all; succeeds with whether it was acknowledged. */
export const persist = (
  node: Actor.NodeLike,
  partition: number,
  batch: Uint8Array,
  timeoutMs: number
): Effect.Effect<boolean> =>
  node.ref(P.replicaPath(OffsetKey.topic, partition), P.ReplicaProtocol).ask(
    new P.Produce({ topic: OffsetKey.topic, partition, acks: -1, timeoutMs, batch }),
    { timeoutMs: timeoutMs + 1_000 }
  ).pipe(Effect.as(true), Effect.orElseSucceed(() => false))

/** A raw `__consumer_offsets` record: key bytes and value bytes (`null` for a tombstone). */
export interface RawRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

/** Most log bytes read per step while loading. */
const loadReadBytes = 1 << 20

/**
 * Waits until the local replica of `partition` leads at `leaderEpoch` or later (it is told
 * before the coordinator, but runs on its own fiber), then reads its log from start to end.
 * After that moment only this coordinator appends to it.
 */
export const load = (
  node: Actor.NodeLike,
  logs: LogStore,
  partition: number,
  leaderEpoch: number
): Effect.Effect<ReadonlyArray<RawRecord>, unknown> =>
  Effect.gen(function*() {
    const replica = node.ref(P.replicaPath(OffsetKey.topic, partition), P.ReplicaProtocol)
    yield* replica.ask(new P.Describe(), { timeoutMs: 1_000 }).pipe(
      Effect.filterOrFail((d) => d.role === "leader" && d.leaderEpoch >= leaderEpoch),
      Effect.retry(Schedule.spaced(Duration.millis(20)).pipe(Schedule.intersect(Schedule.recurs(500))))
    )
    const log = yield* logs.open(OffsetKey.topic, partition)
    const out: Array<RawRecord> = []
    let offset = yield* log.logStartOffset
    const end = yield* log.logEndOffset
    while (offset < end) {
      const read = yield* log.read(offset, loadReadBytes)
      if (read.batches.length === 0) break
      for (const batch of read.batches) {
        const records = RecordBatch.decodeRecords(batch)
        if (Either.isRight(records)) {
          for (const r of records.right) if (r.key !== null && r.offset < end) out.push({ key: r.key, value: r.value })
        }
        offset = RecordBatch.lastOffset(batch) + 1
      }
    }
    return out
  })
