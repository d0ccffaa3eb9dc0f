/**
 * Which partition a record goes to. Explicit partition first; keyed records by Kafka's Java
 * client murmur2 (`toPositive(murmur2(key)) % numPartitions`, so keys land where real Kafka
 * puts them); keyless records round-robin per topic (the default, the seed's rule) or sticky
 * (one partition until its batch is full or sent, then another); or a custom function.
 * Pure: the caller keeps the {@link State} and supplies random ints (from Effect's `Random`).
 */

const seed = 0x9747b28c
const m = 0x5bd1e995
const r = 24

/** Kafka's `Utils.murmur2`: 32-bit murmur2 with Kafka's seed; a signed int32 like Java's. */
export const murmur2 = (data: Uint8Array): number => {
  const length = data.length
  let h = (seed ^ length) | 0
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> r
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const index = length4 * 4
  const rest = length & 3
  if (rest === 3) h ^= data[index + 2]! << 16
  if (rest >= 2) h ^= data[index + 1]! << 8
  if (rest >= 1) {
    h ^= data[index]!
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's `Utils.toPositive`: clear the sign bit (not `Math.abs`, which fails on int32 min). */
export const toPositive = (n: number): number => n & 0x7fffffff

/** The partition of a keyed record: `toPositive(murmur2(key)) % numPartitions`, over all partitions. */
export const partitionForKey = (key: Uint8Array, numPartitions: number): number =>
  toPositive(murmur2(key)) % numPartitions

/** Per-topic keyless state: the round-robin counter and the current sticky partition. */
export interface State {
  readonly counters: ReadonlyMap<string, number>
  readonly sticky: ReadonlyMap<string, number>
}

/** No records partitioned yet. */
export const initial: State = { counters: new Map(), sticky: new Map() }

/** Next keyless partition round-robin for the topic (Kafka's `RoundRobinPartitioner`). */
export const roundRobin = (state: State, topic: string, numPartitions: number): readonly [number, State] => {
  const counter = state.counters.get(topic) ?? 0
  const counters = new Map(state.counters).set(topic, (counter + 1) | 0)
  return [toPositive(counter) % numPartitions, { ...state, counters }]
}

/** The topic's sticky partition, choosing one from `randomInt` if there is none yet (or it is out of range). */
export const sticky = (
  state: State,
  topic: string,
  numPartitions: number,
  randomInt: number
): readonly [number, State] => {
  const current = state.sticky.get(topic)
  if (current !== undefined && current < numPartitions) return [current, state]
  const chosen = toPositive(randomInt) % numPartitions
  return [chosen, { ...state, sticky: new Map(state.sticky).set(topic, chosen) }]
}

/**
 * The batch for `previousPartition` is full or was sent: stick to another partition, chosen
 * from `randomInt` among the others (Kafka's `StickyPartitionCache.nextPartition`). A no-op if
 * the topic already moved away from `previousPartition`.
 */
export const onNewBatch = (
  state: State,
  topic: string,
  numPartitions: number,
  previousPartition: number,
  randomInt: number
): State => {
  const current = state.sticky.get(topic)
  if (current !== undefined && current !== previousPartition) return state
  const next = numPartitions <= 1
    ? 0
    : (previousPartition + 1 + (toPositive(randomInt) % (numPartitions - 1))) % numPartitions
  return { ...state, sticky: new Map(state.sticky).set(topic, next) }
}

/** What a partitioner sees of a record. */
export interface Input {
  readonly topic: string
  readonly key: Uint8Array | undefined
  readonly numPartitions: number
  /** An explicit partition from the record: used as is (the broker rejects unknown ones). */
  readonly partition?: number | undefined
}

/** A user-supplied partitioner; must return a partition in `[0, numPartitions)`. */
export type Custom = (input: Input) => number

/** How to pick partitions: Kafka's default rules with a keyless mode, or a custom function. */
export type Strategy =
  | { readonly _tag: "Default"; readonly keyless: "round-robin" | "sticky" }
  | { readonly _tag: "Custom"; readonly partition: Custom }

/** The default: murmur2 for keys, round-robin without. */
export const defaultStrategy: Strategy = { _tag: "Default", keyless: "round-robin" }

/** Choose the partition of one record. `randomInt` is only used by sticky. */
export const choose = (
  strategy: Strategy,
  state: State,
  input: Input,
  randomInt: number
): readonly [number, State] => {
  if (input.partition !== undefined) return [input.partition, state]
  if (strategy._tag === "Custom") return [strategy.partition(input), state]
  if (input.key !== undefined) return [partitionForKey(input.key, input.numPartitions), state]
  return strategy.keyless === "sticky"
    ? sticky(state, input.topic, input.numPartitions, randomInt)
    : roundRobin(state, input.topic, input.numPartitions)
}
