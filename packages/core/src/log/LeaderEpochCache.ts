/**
 * The leader-epoch cache: which leader epoch started at which offset, as Kafka's
 * `LeaderEpochFileCache`. Pure functions over an immutable, sorted list of entries, so the
 * KIP-101 / KIP-279 answers are unit-testable without a log.
 *
 * Invariant: entries are strictly increasing in both `epoch` and `startOffset`.
 */

/** One epoch and the first offset written in it. */
export interface Entry {
  readonly epoch: number
  readonly startOffset: number
}

/** The cache: entries sorted by epoch (and start offset). */
export type LeaderEpochCache = ReadonlyArray<Entry>

/** The "no epoch / no offset" answer, -1 as on the wire. */
export const UNDEFINED = -1

/** The answer to OffsetsForLeaderEpoch: the epoch found and where it ends. */
export interface EpochEndOffset {
  readonly leaderEpoch: number
  readonly endOffset: number
}

/** An empty cache. */
export const empty: LeaderEpochCache = []

/** The latest epoch, or `UNDEFINED` when nothing is known. */
export const latestEpoch = (cache: LeaderEpochCache): number =>
  cache.length === 0 ? UNDEFINED : cache[cache.length - 1]!.epoch

/**
 * Records that `epoch` starts at `startOffset`. As Kafka: ignored when it repeats the latest
 * entry (or a later start for the same epoch); otherwise every entry with an epoch >= `epoch`
 * or a start offset >= `startOffset` is dropped first, keeping both orders strictly increasing.
 */
export const assign = (cache: LeaderEpochCache, epoch: number, startOffset: number): LeaderEpochCache => {
  if (epoch < 0 || startOffset < 0) return cache
  const last = cache[cache.length - 1]
  if (last !== undefined && last.epoch === epoch && startOffset >= last.startOffset) return cache
  const kept = cache.filter((e) => e.epoch < epoch && e.startOffset < startOffset)
  return [...kept, { epoch, startOffset }]
}

/**
 * OffsetsForLeaderEpoch (KIP-101, with KIP-279's epoch in the answer):
 * - `requestedEpoch` is the latest epoch: `{ latest, logEndOffset }`;
 * - otherwise, with `higher` the first entry whose epoch is > `requestedEpoch`:
 *   none (the epoch is newer than anything known, or the cache is empty): `{ -1, -1 }`;
 *   some known epoch <= requested (`floor`): `{ floor.epoch, higher.startOffset }`;
 *   requested is older than every known epoch: `{ requestedEpoch, higher.startOffset }`
 *   (that data is gone; the follower truncates to where the leader's history begins).
 */
export const endOffsetFor = (cache: LeaderEpochCache, requestedEpoch: number, logEndOffset: number): EpochEndOffset => {
  if (requestedEpoch === UNDEFINED || cache.length === 0) return { leaderEpoch: UNDEFINED, endOffset: UNDEFINED }
  if (latestEpoch(cache) === requestedEpoch) return { leaderEpoch: requestedEpoch, endOffset: logEndOffset }
  const higherIndex = cache.findIndex((e) => e.epoch > requestedEpoch)
  if (higherIndex === -1) return { leaderEpoch: UNDEFINED, endOffset: UNDEFINED }
  const higher = cache[higherIndex]!
  if (higherIndex === 0) return { leaderEpoch: requestedEpoch, endOffset: higher.startOffset }
  return { leaderEpoch: cache[higherIndex - 1]!.epoch, endOffset: higher.startOffset }
}

/** After a truncation to `endOffset`: drops epochs that start at or after it. */
export const truncateFromEnd = (cache: LeaderEpochCache, endOffset: number): LeaderEpochCache =>
  cache.filter((e) => e.startOffset < endOffset)

/**
 * After the log start moved to `startOffset`: drops epochs that ended before it and moves the
 * start of the epoch covering it up to `startOffset`.
 */
export const truncateFromStart = (cache: LeaderEpochCache, startOffset: number): LeaderEpochCache => {
  let covering = -1
  for (let i = 0; i < cache.length; i++) if (cache[i]!.startOffset <= startOffset) covering = i
  if (covering <= 0 && (covering === -1 || cache[0]!.startOffset === startOffset)) return cache
  return [{ epoch: cache[covering]!.epoch, startOffset }, ...cache.slice(covering + 1)]
}

/** Text form for a checkpoint file: one `epoch startOffset` line per entry. */
export const serialize = (cache: LeaderEpochCache): string => cache.map((e) => `${e.epoch} ${e.startOffset}\n`).join("")

/** Parses `serialize` output; malformed lines are skipped and the order invariant re-applied. */
export const parse = (text: string): LeaderEpochCache => {
  let cache: LeaderEpochCache = empty
  for (const line of text.split("\n")) {
    const [epoch, start] = line.trim().split(" ").map(Number)
    if (Number.isInteger(epoch) && Number.isInteger(start)) cache = assign(cache, epoch!, start!)
  }
  return cache
}
