/** Shared property configurations for the testkit's own tests. */
import * as Nemesis from "../src/Nemesis.js"
import type * as Property from "../src/Property.js"
import type * as Workload from "../src/Workload.js"

export const brokers = 3
/**
 * Follower long polls wait up to 2 s (appends and high-watermark moves wake them anyway; only idle
 * partitions re-poll); a caught-up follower stays in the ISR whatever the wait.
 */
export const cluster = { brokers, sessionTimeoutMs: 3_000, replicaLagTimeMs: 2_000, fetchMaxWaitMs: 2_000 } as const

/** Two partitions, RF 3, two producers and one consumer. */
export const workload = (
  config: Workload.Spec["config"],
  producer: Pick<Workload.ProducerSpec, "acks" | "idempotent" | "retries">
): Workload.Spec => ({
  topic: "jepsen",
  partitions: 2,
  replicationFactor: 3,
  config,
  producers: [
    { name: "p0", intervalMs: 150, ...producer },
    { name: "p1", intervalMs: 150, ...producer }
  ],
  consumers: 1,
  fetchMaxWaitMs: 2_000
})

export const safeCheckers: ReadonlyArray<Property.CheckName> = [
  "lost-write",
  "duplicate",
  "inconsistent-offsets",
  "nonmonotonic-poll",
  "unseen",
  "leader-not-from-isr",
  "liveness",
  "actor-failed"
]

/** Property (a): acks=all, minISR=2, clean election, idempotent producers; every fault kind. */
export const safe = (runs: number, seed = 7): Property.Options => ({
  seed,
  runs,
  cluster,
  durationMs: 30_000,
  settleMs: 10_000,
  workload: workload({ minInsyncReplicas: 2 }, { acks: -1, idempotent: true }),
  schedule: Nemesis.schedule({
    brokers,
    partitions: 2,
    durationMs: 30_000,
    kinds: ["crash", "crash-leader", "isolate", "split", "split-leader", "pause", "slow"],
    minFaults: 3,
    maxFaults: 6
  }),
  checkers: safeCheckers
})

/** The checkers of property (d): group semantics, plus the producer-side ones that still apply. */
export const groupCheckers: ReadonlyArray<Property.CheckName> = [
  "exclusivity",
  "commit-regression",
  "nonmonotonic-poll",
  "lost-write",
  "duplicate",
  "inconsistent-offsets",
  "leader-not-from-isr",
  "actor-failed"
]

/**
 * Property (d): a 3-member consumer group (committing after every batch) reads a 4-partition topic
 * that two idempotent acks=all producers write, while members crash or are cut off and brokers
 * (group coordinator and partition leaders among them) crash, are split off or pause.
 */
export const groups = (runs: number, seed = 11): Property.Options => ({
  seed,
  runs,
  cluster: {
    ...cluster,
    offsetsTopicPartitions: 2,
    groupConfig: { minSessionTimeoutMs: 1_000, initialRebalanceDelayMs: 500 }
  },
  durationMs: 30_000,
  settleMs: 10_000,
  workload: {
    ...workload({ minInsyncReplicas: 2 }, { acks: -1, idempotent: true }),
    partitions: 4,
    consumers: 0,
    groups: [{ group: "g", members: 3 }]
  },
  schedule: Nemesis.schedule({
    brokers,
    partitions: 4,
    members: 3,
    durationMs: 30_000,
    kinds: ["crash-member", "isolate-member", "crash", "isolate", "split", "pause", "slow"],
    minFaults: 3,
    maxFaults: 6
  }),
  checkers: groupCheckers
})
