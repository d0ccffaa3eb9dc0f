/**
 * Leader election and ISR reconciliation for one partition, as pure functions. The controller
 * runs {@link reconcile} on every partition a broker hosts whenever that broker is fenced or
 * unfenced.
 *
 * Rules (Kafka's):
 * - Fenced brokers leave the ISR, but the ISR never becomes empty: if every member is down it
 *   is kept as is, so whichever member returns first can lead without losing committed data.
 * - A live leader that is still in the ISR stays leader (no needless epoch bumps).
 * - Otherwise the new leader is the first replica, in assignment order (preferred first), that
 *   is live and in the ISR.
 * - If there is none: with unclean election enabled, the first live replica outside the ISR
 *   leads and the ISR becomes just it (acked data may be lost, by design); else the partition
 *   goes offline (leader -1) and loses nothing.
 * - A leader change bumps `leaderEpoch`; any change bumps `partitionEpoch`.
 */
import type { BrokerId, PartitionState } from "./Metadata.js"
import { NoLeader } from "./Metadata.js"

/** The outcome of electing a leader from a partition's replicas. */
export interface ElectionResult {
  readonly leader: BrokerId | typeof NoLeader
  readonly isr: ReadonlyArray<BrokerId>
  /** True when the leader came from outside the ISR. */
  readonly unclean: boolean
}

/** The live ISR (or the whole ISR if none of it is live: it never shrinks to empty). */
export const liveIsr = (isr: ReadonlyArray<BrokerId>, isLive: (id: BrokerId) => boolean): ReadonlyArray<BrokerId> => {
  const live = isr.filter(isLive)
  return live.length === 0 ? isr : live
}

/** Pick a leader: first live ISR member in `replicas` order, else (if allowed) the first live replica. */
export const electLeader = (
  replicas: ReadonlyArray<BrokerId>,
  isr: ReadonlyArray<BrokerId>,
  isLive: (id: BrokerId) => boolean,
  uncleanLeaderElection: boolean
): ElectionResult => {
  const clean = replicas.find((r) => isLive(r) && isr.includes(r))
  if (clean !== undefined) return { leader: clean, isr, unclean: false }
  if (uncleanLeaderElection) {
    const anyLive = replicas.find(isLive)
    if (anyLive !== undefined) return { leader: anyLive, isr: [anyLive], unclean: true }
  }
  return { leader: NoLeader, isr, unclean: false }
}

const sameMembers = (a: ReadonlyArray<BrokerId>, b: ReadonlyArray<BrokerId>): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/**
 * The partition after the brokers' liveness changed, or `undefined` when nothing changes.
 * Removes dead brokers from the ISR (never to empty) and re-elects if the leader is gone.
 */
export const reconcile = (
  partition: PartitionState,
  isLive: (id: BrokerId) => boolean,
  uncleanLeaderElection: boolean
): PartitionState | undefined => {
  const isr = liveIsr(partition.isr, isLive)
  const leaderOk = partition.leader !== NoLeader && isLive(partition.leader) && isr.includes(partition.leader)
  const elected = leaderOk
    ? { leader: partition.leader, isr }
    : electLeader(partition.replicas, isr, isLive, uncleanLeaderElection)
  const leaderChanged = elected.leader !== partition.leader
  if (!leaderChanged && sameMembers(elected.isr, partition.isr)) return undefined
  return {
    ...partition,
    leader: elected.leader,
    isr: elected.isr,
    leaderEpoch: leaderChanged ? partition.leaderEpoch + 1 : partition.leaderEpoch,
    partitionEpoch: partition.partitionEpoch + 1
  }
}
