import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import * as ControllerState from "../../src/cluster/ControllerState.js"
import * as Decisions from "../../src/cluster/Decisions.js"
import * as MetadataRecord from "../../src/cluster/MetadataRecord.js"

type State = ControllerState.ControllerState
type Records = ReadonlyArray<MetadataRecord.MetadataRecord>

// Random controller workloads: every op goes through a decision; rejected ops append nothing.
const brokerId = fc.integer({ min: 1, max: 5 })
const topicName = fc.constantFrom("a", "b", "c")
const op = fc.oneof(
  fc.record({ op: fc.constant("register" as const), id: brokerId }),
  fc.record({ op: fc.constant("heartbeat" as const), id: brokerId }),
  fc.record({ op: fc.constant("fence" as const), id: brokerId }),
  fc.record({ op: fc.constant("heartbeat" as const), id: brokerId }),
  fc.record({ op: fc.constant("fence" as const), id: brokerId }),
  fc.record({
    op: fc.constant("create" as const),
    name: topicName,
    partitions: fc.integer({ min: 1, max: 4 }),
    rf: fc.integer({ min: 1, max: 3 }),
    unclean: fc.boolean(),
    start: fc.nat(10)
  }),
  fc.record({ op: fc.constant("delete" as const), name: topicName }),
  fc.record({ op: fc.constant("shrink" as const), name: topicName, partition: fc.nat(3), drop: fc.nat(2) }),
  fc.record({ op: fc.constant("expand" as const), name: topicName, partition: fc.nat(3) }),
  fc.record({ op: fc.constant("allocate" as const), id: brokerId, size: fc.integer({ min: 1, max: 50 }) })
)
type Op = typeof op extends fc.Arbitrary<infer A> ? A : never

const decide = (state: State, o: Op): Records => {
  const orNothing = <E>(d: Either.Either<Records, E>): Records => Either.getOrElse(d, () => [])
  const epoch = (id: number) => state.brokers.get(id)?.brokerEpoch ?? 0
  const alter = (name: string, partition: number, isr: (p: NonNullable<ReturnType<typeof ControllerState.partitionOf>>) => ReadonlyArray<number>) => {
    const p = ControllerState.partitionOf(state, { topic: name, partition })
    if (p === undefined || p.leader < 0) return []
    return orNothing(Decisions.alterPartition(state, {
      topic: name,
      partition,
      brokerId: p.leader,
      brokerEpoch: epoch(p.leader),
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: isr(p)
    }))
  }
  switch (o.op) {
    case "register":
      return orNothing(Decisions.registerBroker(state, { brokerId: o.id, nodeId: `n${o.id}` }))
    case "heartbeat":
      return orNothing(Decisions.heartbeat(state, { brokerId: o.id, brokerEpoch: epoch(o.id) }))
    case "fence":
      return Decisions.fenceBroker(state, o.id)
    case "create":
      return orNothing(Decisions.createTopic(state, {
        name: o.name,
        partitions: o.partitions,
        replicationFactor: o.rf,
        config: { uncleanLeaderElection: o.unclean },
        placement: { startIndex: o.start, replicaShift: o.start }
      }))
    case "delete":
      return orNothing(Decisions.deleteTopic(state, o.name))
    case "shrink":
      return alter(o.name, o.partition, (p) => p.isr.filter((id, i) => id === p.leader || i !== o.drop))
    case "expand":
      return alter(
        o.name,
        o.partition,
        (p) => p.replicas.filter((id) => p.isr.includes(id) || ControllerState.isLive(state, id))
      )
    case "allocate":
      return orNothing(Decisions.allocateProducerIds(state, { brokerId: o.id, brokerEpoch: epoch(o.id), blockSize: o.size }))
  }
}

const checkInvariants = (before: State, after: State) => {
  for (const topic of after.topics.values()) {
    expect(topic.partitions.length).toBe(topic.partitionCount)
    for (const p of topic.partitions) {
      expect(new Set(p.replicas).size).toBe(p.replicas.length)
      expect(p.isr.length).toBeGreaterThan(0)
      expect(new Set(p.isr).size).toBe(p.isr.length)
      for (const id of p.isr) expect(p.replicas).toContain(id)
      if (p.leader >= 0) {
        expect(p.isr).toContain(p.leader)
        expect(ControllerState.isLive(after, p.leader)).toBe(true)
      } else if (!topic.config.uncleanLeaderElection) {
        // offline only when no ISR member is live: elections never leave a usable member idle
        expect(p.isr.some((id) => ControllerState.isLive(after, id))).toBe(false)
      }
    }
  }
  expect(after.nextProducerId).toBeGreaterThanOrEqual(before.nextProducerId)
  expect(after.lastBrokerEpoch).toBeGreaterThanOrEqual(before.lastBrokerEpoch)
}

// Each record, applied alone: epochs move as the rules say and clean elections stay in the ISR.
const checkTransition = (before: State, record: MetadataRecord.MetadataRecord, after: State) => {
  if (record._tag !== "PartitionChanged") return
  const old = ControllerState.partitionOf(before, record)!
  const p = ControllerState.partitionOf(after, record)!
  expect(p.partitionEpoch).toBe(old.partitionEpoch + 1)
  expect(p.leaderEpoch).toBe(old.leaderEpoch + (p.leader !== old.leader ? 1 : 0))
  const unclean = after.topics.get(record.topic)!.config.uncleanLeaderElection
  if (!unclean && p.leader >= 0) expect(old.isr).toContain(p.leader)
  if (!unclean) for (const id of p.isr) expect(old.isr.includes(id) || p.leader === old.leader).toBe(true)
}

const encodeLog = Schema.encodeSync(Schema.Array(MetadataRecord.MetadataRecord))
const decodeLog = Schema.decodeUnknownSync(Schema.Array(MetadataRecord.MetadataRecord))

describe("ControllerState", () => {
  it("starts empty", () => {
    expect(ControllerState.empty.brokers.size + ControllerState.empty.topics.size).toBe(0)
    expect(ControllerState.replay([])).toEqual(ControllerState.empty)
  })

  it("records for unknown topics or old broker registrations are no-ops", () => {
    const state = ControllerState.applyAll(ControllerState.empty, [
      new MetadataRecord.RegisterBroker({ brokerId: 1, nodeId: "n1", brokerEpoch: 5 }),
      new MetadataRecord.BrokerUnfenced({ brokerId: 1, brokerEpoch: 4 }),
      new MetadataRecord.PartitionChanged({ topic: "x", partition: 0, leader: 1, isr: [1], leaderEpoch: 1, partitionEpoch: 1 })
    ])
    expect(state.brokers.get(1)!.fenced).toBe(true)
    expect(state.topics.size).toBe(0)
    expect(state.appliedRecords).toBe(3)
  })

  it.prop("decisions keep the invariants; replaying the (encoded) log rebuilds the same state", [
    fc.integer({ min: 1, max: 5 }),
    fc.array(op, { minLength: 20, maxLength: 80 })
  ], ([brokers, ops]) => {
    let state = ControllerState.empty
    const log: Array<MetadataRecord.MetadataRecord> = []
    const registrations = Array.from({ length: brokers }, (_, i) => ({ op: "register" as const, id: i + 1 }))
    for (const o of [...registrations, ...ops]) {
      const records = decide(state, o)
      let next = state
      for (const record of records) {
        const applied = ControllerState.apply(next, record)
        checkTransition(next, record, applied)
        next = applied
      }
      checkInvariants(state, next)
      log.push(...records)
      state = next
    }
    expect(ControllerState.replay(log)).toEqual(state)
    const wire = JSON.parse(JSON.stringify(encodeLog(log)))
    expect(ControllerState.replay(decodeLog(wire))).toEqual(state)
  }, { fastCheck: { numRuns: 150 } })
})
