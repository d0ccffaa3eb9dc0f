/**
 * The controller's state as a pure reducer over metadata records: `apply(state, record)`.
 * Replaying the metadata log from `empty` rebuilds the state exactly, which is all a restarted
 * (or, later, a Raft-replicated) controller needs. Decisions live in `Decisions.ts`.
 *
 * Broker liveness timing (last heartbeat times) is deliberately NOT part of this state: it is
 * local to the active controller (see `Liveness.ts`); only its outcome — `BrokerFenced` — is
 * replicated. A new controller starts every broker's session afresh.
 */
import type { BrokerId, PartitionState, TopicConfig, TopicPartition } from "./Metadata.js"
import type { MetadataRecord } from "./MetadataRecord.js"

/** A registered broker: its transport address, current registration epoch, and whether it is fenced. */
export interface BrokerRegistration {
  readonly brokerId: BrokerId
  readonly nodeId: string
  readonly brokerEpoch: number
  readonly fenced: boolean
}

/** A topic with its config and partitions (index = partition number). */
export interface TopicState {
  readonly name: string
  readonly topicId: string
  readonly config: TopicConfig
  readonly partitionCount: number
  readonly partitions: ReadonlyArray<PartitionState>
}

/** Everything the controller knows. Immutable: `apply` returns a new value. */
export interface ControllerState {
  readonly brokers: ReadonlyMap<BrokerId, BrokerRegistration>
  readonly topics: ReadonlyMap<string, TopicState>
  /** Highest broker epoch handed out; the next registration gets a higher one. */
  readonly lastBrokerEpoch: number
  /** First producer id not yet allocated to anyone. */
  readonly nextProducerId: number
  /** Records applied so far (the metadata log end offset). */
  readonly appliedRecords: number
}

/** The state of an empty metadata log. */
export const empty: ControllerState = {
  brokers: new Map(),
  topics: new Map(),
  lastBrokerEpoch: 0,
  nextProducerId: 0,
  appliedRecords: 0
}

const setMap = <K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> => new Map(map).set(key, value)

const withBroker = (state: ControllerState, brokerId: BrokerId, brokerEpoch: number, fenced: boolean) => {
  const broker = state.brokers.get(brokerId)
  // A fence/unfence for an older registration is a no-op: the newer registration wins.
  if (broker === undefined || broker.brokerEpoch !== brokerEpoch) return state
  return { ...state, brokers: setMap(state.brokers, brokerId, { ...broker, fenced }) }
}

const withPartition = (state: ControllerState, partition: PartitionState): ControllerState => {
  const topic = state.topics.get(partition.topic)
  if (topic === undefined || partition.partition < 0 || partition.partition >= topic.partitionCount) return state
  const partitions = topic.partitions.slice()
  partitions[partition.partition] = partition
  return { ...state, topics: setMap(state.topics, topic.name, { ...topic, partitions }) }
}

const applyRecord = (state: ControllerState, record: MetadataRecord): ControllerState => {
  switch (record._tag) {
    case "RegisterBroker":
      return {
        ...state,
        lastBrokerEpoch: Math.max(state.lastBrokerEpoch, record.brokerEpoch),
        brokers: setMap(state.brokers, record.brokerId, {
          brokerId: record.brokerId,
          nodeId: record.nodeId,
          brokerEpoch: record.brokerEpoch,
          fenced: true
        })
      }
    case "BrokerFenced":
      return withBroker(state, record.brokerId, record.brokerEpoch, true)
    case "BrokerUnfenced":
      return withBroker(state, record.brokerId, record.brokerEpoch, false)
    case "TopicCreated":
      return {
        ...state,
        topics: setMap(state.topics, record.name, {
          name: record.name,
          topicId: record.topicId,
          config: record.config,
          partitionCount: record.partitions,
          partitions: []
        })
      }
    case "PartitionCreated":
      return withPartition(state, {
        topic: record.topic,
        partition: record.partition,
        replicas: record.replicas,
        isr: record.isr,
        leader: record.leader,
        leaderEpoch: record.leaderEpoch,
        partitionEpoch: record.partitionEpoch
      })
    case "PartitionChanged": {
      const current = partitionOf(state, record)
      if (current === undefined) return state
      return withPartition(state, {
        ...current,
        leader: record.leader,
        isr: record.isr,
        leaderEpoch: record.leaderEpoch,
        partitionEpoch: record.partitionEpoch
      })
    }
    case "TopicDeleted": {
      const topic = state.topics.get(record.name)
      if (topic === undefined || topic.topicId !== record.topicId) return state
      const topics = new Map(state.topics)
      topics.delete(record.name)
      return { ...state, topics }
    }
    case "ProducerIdsAllocated":
      return {
        ...state,
        nextProducerId: Math.max(state.nextProducerId, record.firstProducerId + record.blockSize)
      }
  }
}

/**
 * Apply one record. Total: a record that refers to an unknown topic, partition or an older
 * broker registration is a no-op (decisions never emit one; see the replay tests).
 */
export const apply = (state: ControllerState, record: MetadataRecord): ControllerState => ({
  ...applyRecord(state, record),
  appliedRecords: state.appliedRecords + 1
})

/** Apply records in order. */
export const applyAll = (state: ControllerState, records: Iterable<MetadataRecord>): ControllerState => {
  let next = state
  for (const record of records) next = apply(next, record)
  return next
}

/** Rebuild the state from a whole metadata log. */
export const replay = (records: Iterable<MetadataRecord>): ControllerState => applyAll(empty, records)

/** A partition's state, if the topic and partition exist. */
export const partitionOf = (state: ControllerState, tp: TopicPartition): PartitionState | undefined =>
  state.topics.get(tp.topic)?.partitions[tp.partition]

/** Whether the broker is registered and not fenced. */
export const isLive = (state: ControllerState, brokerId: BrokerId): boolean => {
  const broker = state.brokers.get(brokerId)
  return broker !== undefined && !broker.fenced
}

/** Ids of registered, unfenced brokers, ascending. */
export const liveBrokers = (state: ControllerState): ReadonlyArray<BrokerId> =>
  [...state.brokers.values()].filter((b) => !b.fenced).map((b) => b.brokerId).sort((a, b) => a - b)

/** Every partition of every topic (topic insertion order, then partition order). */
export const allPartitions = (state: ControllerState): ReadonlyArray<PartitionState> =>
  [...state.topics.values()].flatMap((t) => t.partitions)

/** Partitions the broker hosts a replica of: what a broker needs pushed to it. */
export const partitionsOfBroker = (state: ControllerState, brokerId: BrokerId): ReadonlyArray<PartitionState> =>
  allPartitions(state).filter((p) => p.replicas.includes(brokerId))

/** Partitions without a leader (leader = -1). */
export const offlinePartitions = (state: ControllerState): ReadonlyArray<PartitionState> =>
  allPartitions(state).filter((p) => p.leader < 0)
