import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import * as ControllerState from "../../src/cluster/ControllerState.js"
import * as Decisions from "../../src/cluster/Decisions.js"
import * as Liveness from "../../src/cluster/Liveness.js"
import type * as MetadataRecord from "../../src/cluster/MetadataRecord.js"

type State = ControllerState.ControllerState
type Decision<E> = Either.Either<ReadonlyArray<MetadataRecord.MetadataRecord>, E>

const run = <E>(state: State, decision: Decision<E>): State =>
  ControllerState.applyAll(state, Either.getOrThrow(decision))
const errorTag = <E extends { _tag: string }>(decision: Decision<E>): string =>
  Option.getOrThrow(Either.getLeft(decision))._tag
const tp = (topic: string, partition: number) => ({ topic, partition })
const part = (state: State, topic: string, partition: number) => ControllerState.partitionOf(state, tp(topic, partition))!

const cluster = (brokers: number): State => {
  let state = ControllerState.empty
  for (let id = 1; id <= brokers; id++) {
    state = run(state, Decisions.registerBroker(state, { brokerId: id, nodeId: `node-${id}` }))
  }
  return state
}
const withTopic = (state: State, config: Decisions.CreateTopicRequest["config"] = {}, rf = 3, partitions = 3) =>
  run(state, Decisions.createTopic(state, { name: "t", partitions, replicationFactor: rf, config }))
const epochOf = (state: State, id: number) => state.brokers.get(id)!.brokerEpoch

describe("Decisions: brokers", () => {
  it("registration makes brokers live with increasing epochs", () => {
    const state = cluster(3)
    expect(ControllerState.liveBrokers(state)).toEqual([1, 2, 3])
    expect([1, 2, 3].map((id) => epochOf(state, id))).toEqual([1, 2, 3])
    expect(state.brokers.get(2)!.nodeId).toBe("node-2")
  })

  it("heartbeat with a stale epoch is refused; a fenced broker's heartbeat unfences it", () => {
    let state = cluster(2)
    expect(errorTag(Decisions.heartbeat(state, { brokerId: 1, brokerEpoch: 99 }))).toBe("StaleBrokerEpoch")
    expect(errorTag(Decisions.heartbeat(state, { brokerId: 7, brokerEpoch: 1 }))).toBe("StaleBrokerEpoch")
    expect(Decisions.heartbeat(state, { brokerId: 1, brokerEpoch: 1 })).toEqual(Either.right([]))
    state = ControllerState.applyAll(state, Decisions.fenceBroker(state, 1))
    expect(ControllerState.liveBrokers(state)).toEqual([2])
    state = run(state, Decisions.heartbeat(state, { brokerId: 1, brokerEpoch: 1 }))
    expect(ControllerState.liveBrokers(state)).toEqual([1, 2])
  })

  it("session timeout: expired brokers are found from heartbeats kept outside the state", () => {
    const state = cluster(3)
    let beats = Liveness.start(state, 0)
    beats = Liveness.recordHeartbeat(beats, 1, 5_000)
    beats = Liveness.recordHeartbeat(beats, 2, 9_000)
    expect(Liveness.expired(state, beats, 10_000, 4_000)).toEqual([1, 3])
    const fenced = ControllerState.applyAll(state, Decisions.fenceBrokers(state, [1, 3]))
    expect(ControllerState.liveBrokers(fenced)).toEqual([2])
    expect(Liveness.expired(fenced, beats, 10_000, 4_000)).toEqual([])
  })

  it("re-registration fences the old incarnation first, so its leadership moves", () => {
    let state = withTopic(cluster(3), { minInsyncReplicas: 2 })
    const led = ControllerState.allPartitions(state).filter((p) => p.leader === 1)
    expect(led.length).toBe(1)
    const records = Either.getOrThrow(Decisions.registerBroker(state, { brokerId: 1, nodeId: "node-1b" }))
    expect(records.map((r) => r._tag).slice(0, 2)).toEqual(["BrokerFenced", "PartitionChanged"])
    state = ControllerState.applyAll(state, records)
    const after = part(state, "t", led[0]!.partition)
    expect(after.leader).not.toBe(1)
    expect(after.leaderEpoch).toBe(1)
    expect(state.brokers.get(1)).toEqual({ brokerId: 1, nodeId: "node-1b", brokerEpoch: 4, fenced: false })
    expect(errorTag(Decisions.heartbeat(state, { brokerId: 1, brokerEpoch: 1 }))).toBe("StaleBrokerEpoch")
  })
})

describe("Decisions: topics", () => {
  it("createTopic places replicas round-robin, ISR = replicas, preferred leader, epochs 0", () => {
    const state = withTopic(cluster(3), { minInsyncReplicas: 2 })
    const partitions = ControllerState.allPartitions(state)
    expect(partitions.length).toBe(3)
    expect(new Set(partitions.map((p) => p.leader)).size).toBe(3)
    for (const p of partitions) {
      expect(new Set(p.replicas).size).toBe(3)
      expect(p.isr).toEqual(p.replicas)
      expect(p.leader).toBe(p.replicas[0])
      expect([p.leaderEpoch, p.partitionEpoch]).toEqual([0, 0])
    }
    expect(state.topics.get("t")!.config.minInsyncReplicas).toBe(2)
  })

  it("createTopic places only on live brokers and validates", () => {
    let state = cluster(4)
    state = ControllerState.applyAll(state, Decisions.fenceBroker(state, 2))
    const placed = withTopic(state, {}, 3, 8)
    for (const p of ControllerState.allPartitions(placed)) expect(p.replicas).not.toContain(2)
    const req = { name: "t", partitions: 3, replicationFactor: 3 }
    expect(errorTag(Decisions.createTopic(placed, req))).toBe("TopicAlreadyExists")
    expect(errorTag(Decisions.createTopic(state, { ...req, replicationFactor: 4 }))).toBe("InvalidReplicationFactor")
    expect(errorTag(Decisions.createTopic(state, { ...req, replicationFactor: 0 }))).toBe("InvalidReplicationFactor")
    expect(errorTag(Decisions.createTopic(state, { ...req, partitions: 0 }))).toBe("InvalidPartitions")
    expect(errorTag(Decisions.createTopic(state, { ...req, partitions: 10_001 }))).toBe("InvalidPartitions")
    expect(errorTag(Decisions.createTopic(state, { ...req, config: { minInsyncReplicas: 4 } }))).toBe("InvalidConfig")
    expect(errorTag(Decisions.createTopic(state, { ...req, name: "bad name" }))).toBe("InvalidTopic")
  })

  it("deleteTopic removes it; unknown topics are reported", () => {
    const state = withTopic(cluster(3))
    const deleted = run(state, Decisions.deleteTopic(state, "t"))
    expect(deleted.topics.has("t")).toBe(false)
    expect(errorTag(Decisions.deleteTopic(deleted, "t"))).toBe("UnknownTopicOrPartition")
    // the name can be reused, with a new topic id
    const again = withTopic(deleted)
    expect(again.topics.get("t")!.topicId).not.toBe(state.topics.get("t")!.topicId)
  })
})

describe("Decisions: leader election", () => {
  it("fencing a leader elects the next ISR member and bumps the leader epoch", () => {
    let state = withTopic(cluster(3), { minInsyncReplicas: 2 })
    const before = ControllerState.allPartitions(state)
    state = ControllerState.applyAll(state, Decisions.fenceBroker(state, 2))
    for (const p of before) {
      const after = part(state, "t", p.partition)
      expect(after.isr).not.toContain(2)
      expect(after.partitionEpoch).toBe(1)
      if (p.leader === 2) {
        expect(after.leader).toBe(p.replicas.find((r) => r !== 2))
        expect(after.leaderEpoch).toBe(1)
      } else {
        expect([after.leader, after.leaderEpoch]).toEqual([p.leader, 0])
      }
    }
  })

  it("unclean off, whole ISR down: offline and nothing lost; the last ISR member comes back as leader", () => {
    let state = withTopic(cluster(3), {}, 3, 1)
    state = ControllerState.applyAll(state, Decisions.fenceBrokers(state, [1, 2, 3]))
    const offline = part(state, "t", 0)
    expect(offline.leader).toBe(-1)
    expect(offline.isr.length).toBe(1)
    const last = offline.isr[0]!
    // a replica outside the ISR returning does not lead
    const other = [1, 2, 3].find((id) => id !== last)!
    state = run(state, Decisions.heartbeat(state, { brokerId: other, brokerEpoch: epochOf(state, other) }))
    expect(part(state, "t", 0).leader).toBe(-1)
    state = run(state, Decisions.heartbeat(state, { brokerId: last, brokerEpoch: epochOf(state, last) }))
    expect(part(state, "t", 0)).toMatchObject({ leader: last, isr: [last] })
    expect(part(state, "t", 0).leaderEpoch).toBe(offline.leaderEpoch + 1)
  })

  it("unclean on: a live replica outside the ISR takes over", () => {
    let state = withTopic(cluster(2), { uncleanLeaderElection: true }, 2, 1)
    const p = part(state, "t", 0)
    const [leader, follower] = p.replicas as [number, number]
    state = run(state, Decisions.alterPartition(state, {
      ...tp("t", 0),
      brokerId: leader,
      brokerEpoch: epochOf(state, leader),
      leaderEpoch: 0,
      partitionEpoch: 0,
      newIsr: [leader]
    }))
    state = ControllerState.applyAll(state, Decisions.fenceBroker(state, leader))
    expect(part(state, "t", 0)).toMatchObject({ leader: follower, isr: [follower], leaderEpoch: 1 })
  })
})

describe("Decisions: alterPartition", () => {
  const setup = () => {
    const state = withTopic(cluster(3), { minInsyncReplicas: 2 }, 3, 1)
    const p = part(state, "t", 0)
    const base: Decisions.AlterPartitionRequest = {
      ...tp("t", 0),
      brokerId: p.leader,
      brokerEpoch: epochOf(state, p.leader),
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: p.replicas.slice(0, 2)
    }
    return { state, p, base }
  }

  it("the leader shrinks and expands the ISR; each change bumps the partition epoch only", () => {
    const { base, p, state } = setup()
    const shrunk = run(state, Decisions.alterPartition(state, base))
    expect(part(shrunk, "t", 0)).toMatchObject({ isr: p.replicas.slice(0, 2), partitionEpoch: 1, leaderEpoch: 0 })
    const grown = run(shrunk, Decisions.alterPartition(shrunk, { ...base, partitionEpoch: 1, newIsr: p.replicas }))
    expect(part(grown, "t", 0)).toMatchObject({ isr: p.replicas, partitionEpoch: 2 })
    expect(Decisions.alterPartition(grown, { ...base, partitionEpoch: 2, newIsr: p.replicas })).toEqual(Either.right([]))
  })

  it("stale or wrong requests are rejected with typed errors", () => {
    const { base, p, state } = setup()
    const shrunk = run(state, Decisions.alterPartition(state, base))
    expect(errorTag(Decisions.alterPartition(shrunk, base))).toBe("InvalidUpdateVersion")
    expect(errorTag(Decisions.alterPartition(state, { ...base, leaderEpoch: 5 }))).toBe("FencedLeaderEpoch")
    expect(errorTag(Decisions.alterPartition(state, { ...base, brokerEpoch: 77 }))).toBe("StaleBrokerEpoch")
    const follower = p.replicas[1]!
    expect(errorTag(Decisions.alterPartition(state, {
      ...base,
      brokerId: follower,
      brokerEpoch: epochOf(state, follower)
    }))).toBe("NotLeader")
    expect(errorTag(Decisions.alterPartition(state, { ...base, partition: 9 }))).toBe("UnknownTopicOrPartition")
    expect(errorTag(Decisions.alterPartition(state, { ...base, newIsr: [p.leader, 42] }))).toBe("IneligibleReplica")
    expect(errorTag(Decisions.alterPartition(state, { ...base, newIsr: [p.replicas[1]!] }))).toBe("InvalidRequest")
    expect(errorTag(Decisions.alterPartition(state, { ...base, newIsr: [p.leader, p.leader] }))).toBe("InvalidRequest")
    // adding a fenced broker back is refused
    const fenced = ControllerState.applyAll(shrunk, Decisions.fenceBroker(shrunk, p.replicas[2]!))
    expect(errorTag(Decisions.alterPartition(fenced, { ...base, partitionEpoch: 1, newIsr: p.replicas })))
      .toBe("IneligibleReplica")
  })
})

describe("Decisions: producer ids", () => {
  it("blocks are monotonic and never overlap", () => {
    let state = cluster(2)
    const blocks: Array<[number, number]> = []
    for (const id of [1, 2, 1]) {
      const records = Either.getOrThrow(Decisions.allocateProducerIds(state, {
        brokerId: id,
        brokerEpoch: epochOf(state, id),
        blockSize: 1000
      }))
      const record = records[0] as MetadataRecord.ProducerIdsAllocated
      blocks.push([record.firstProducerId, record.blockSize])
      state = ControllerState.applyAll(state, records)
    }
    expect(blocks).toEqual([[0, 1000], [1000, 1000], [2000, 1000]])
    expect(errorTag(Decisions.allocateProducerIds(state, { brokerId: 1, brokerEpoch: 0, blockSize: 1 })))
      .toBe("StaleBrokerEpoch")
    expect(errorTag(Decisions.allocateProducerIds(state, { brokerId: 1, brokerEpoch: 1, blockSize: 0 })))
      .toBe("InvalidRequest")
  })
})
