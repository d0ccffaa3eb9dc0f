/**
 * Replica placement for new topics: Kafka's rack-unaware round-robin
 * (`AdminUtils.assignReplicasToBrokersRackUnaware`). The first replica of partition `p` goes to
 * broker `(startIndex + p) % n`; the followers follow at a shift that grows each time the
 * partitions wrap around the brokers, so leaders and followers both spread evenly and no
 * partition has two replicas on one broker.
 */
import type { BrokerId } from "./Metadata.js"

/** Where to start; Kafka draws both at random per topic (the actor passes values from `Random`). */
export interface PlacementStart {
  readonly startIndex: number
  readonly replicaShift: number
}

const mod = (a: number, n: number): number => ((a % n) + n) % n

const followerIndex = (firstIndex: number, shift: number, replica: number, brokerCount: number): number =>
  (firstIndex + 1 + mod(shift + replica, brokerCount - 1)) % brokerCount

/**
 * Assign `replicationFactor` distinct brokers to each of `partitions` partitions. The result's
 * index is the partition; each list starts with the preferred leader. The caller checks
 * `1 <= replicationFactor <= brokers.length`; brokers are used in ascending id order.
 */
export const assignReplicas = (
  brokers: ReadonlyArray<BrokerId>,
  partitions: number,
  replicationFactor: number,
  start: PlacementStart
): ReadonlyArray<ReadonlyArray<BrokerId>> => {
  const sorted = [...brokers].sort((a, b) => a - b)
  const n = sorted.length
  const startIndex = mod(start.startIndex, n)
  let shift = mod(start.replicaShift, n)
  const result: Array<ReadonlyArray<BrokerId>> = []
  for (let p = 0; p < partitions; p++) {
    if (p > 0 && p % n === 0) shift += 1
    const firstIndex = (p + startIndex) % n
    const replicas = [sorted[firstIndex]!]
    for (let j = 0; j < replicationFactor - 1; j++) replicas.push(sorted[followerIndex(firstIndex, shift, j, n)]!)
    result.push(replicas)
  }
  return result
}
