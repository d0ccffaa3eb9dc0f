/** The election observer's rule, on hand-made metadata: each new leader epoch against the ISR just before it. */
import { describe, expect, it } from "@effect/vitest"
import { ControllerProtocol, Metadata } from "@fiberlog/core"
import { Either } from "effect"
import * as internal from "../src/internal/workload.js"

const metadata = (version: number, leader: number, leaderEpoch: number, isr: ReadonlyArray<number>, unclean = false) =>
  new ControllerProtocol.ClusterMetadata({
    version,
    controllerNodeId: "controller",
    brokers: [],
    topics: [{
      name: "t",
      config: Either.getOrThrow(Metadata.makeTopicConfig({ uncleanLeaderElection: unclean }, 3)),
      partitions: [{ topic: "t", partition: 0, replicas: [1, 2, 3], isr, leader, leaderEpoch, partitionEpoch: version }]
    }]
  })

describe("election observer", () => {
  it("records each new leader epoch with the ISR just before it, and flags a leader from outside it", () => {
    const seen: internal.ElectionState = new Map()
    expect(internal.electionsIn(seen, metadata(1, 1, 0, [1, 2, 3]), "t")).toEqual([]) // the first sight is no election
    expect(internal.electionsIn(seen, metadata(2, 1, 0, [1, 3]), "t")).toEqual([]) // 2 leaves the ISR
    // A new epoch whose leader left the ISR before the election: outside it (unclean not allowed).
    expect(internal.electionsIn(seen, metadata(3, 2, 1, [2]), "t")).toEqual([
      { partition: 0, leader: 2, isr: [1, 3], epoch: 1, unclean: false }
    ])
    // No leader at all: nothing recorded, but the epoch is remembered.
    expect(internal.electionsIn(seen, metadata(4, -1, 2, [2]), "t")).toEqual([])
    expect(internal.electionsIn(seen, metadata(5, 2, 3, [2]), "t")).toEqual([
      { partition: 0, leader: 2, isr: [2], epoch: 3, unclean: false }
    ])
    expect(internal.electionsIn(seen, metadata(6, 2, 3, [2]), "other")).toEqual([])
  })

  it("marks an election from outside the ISR unclean when the topic allows it", () => {
    const seen: internal.ElectionState = new Map()
    internal.electionsIn(seen, metadata(1, 1, 0, [1], true), "t")
    expect(internal.electionsIn(seen, metadata(2, 3, 1, [3], true), "t")).toEqual([
      { partition: 0, leader: 3, isr: [1], epoch: 1, unclean: true }
    ])
  })
})
