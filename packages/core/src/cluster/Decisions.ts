/**
 * The controller's decisions: pure functions `(state, request) => Either<error, records>`.
 * The controller actor appends the records to the metadata log and then applies them with
 * `ControllerState.apply`; nothing here has effects, reads time or draws randomness (callers
 * pass `nowMs`, random start indexes and topic ids in).
 */
import { Either } from "effect"
import * as ControllerState from "./ControllerState.js"
import * as Election from "./Election.js"
import {
  FencedLeaderEpoch,
  IneligibleReplica,
  InvalidPartitions,
  InvalidReplicationFactor,
  InvalidRequest,
  InvalidUpdateVersion,
  NotLeader,
  StaleBrokerEpoch,
  TopicAlreadyExists,
  UnknownTopicOrPartition
} from "./Errors.js"
import type { InvalidConfig, InvalidTopic } from "./Errors.js"
import * as Metadata from "./Metadata.js"
import * as MetadataRecord from "./MetadataRecord.js"
import * as Placement from "./Placement.js"

type State = ControllerState.ControllerState
type Records = ReadonlyArray<MetadataRecord.MetadataRecord>

/** Limits the controller enforces on requests. */
export interface Limits {
  readonly maxPartitionsPerTopic: number
  readonly maxProducerIdBlockSize: number
}

/** Default limits. */
export const defaultLimits: Limits = { maxPartitionsPerTopic: 10_000, maxProducerIdBlockSize: 1_000_000 }

/** Reconcile every partition hosting `brokerId` after its liveness changed in `state`. */
const reconcileBroker = (state: State, brokerId: Metadata.BrokerId): Records => {
  const isLive = (id: Metadata.BrokerId) => ControllerState.isLive(state, id)
  const records: Array<MetadataRecord.MetadataRecord> = []
  for (const topic of state.topics.values()) {
    for (const partition of topic.partitions) {
      if (!partition.replicas.includes(brokerId)) continue
      const next = Election.reconcile(partition, isLive, topic.config.uncleanLeaderElection)
      if (next !== undefined) records.push(partitionChanged(next))
    }
  }
  return records
}

const partitionChanged = (p: Metadata.PartitionState) =>
  new MetadataRecord.PartitionChanged({
    topic: p.topic,
    partition: p.partition,
    leader: p.leader,
    isr: p.isr,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch
  })

/** Records fencing a live broker: `BrokerFenced`, then new leaders / smaller ISRs for its partitions. */
export const fenceBroker = (state: State, brokerId: Metadata.BrokerId): Records => {
  const broker = state.brokers.get(brokerId)
  if (broker === undefined || broker.fenced) return []
  const fenced = new MetadataRecord.BrokerFenced({ brokerId, brokerEpoch: broker.brokerEpoch })
  return [fenced, ...reconcileBroker(ControllerState.apply(state, fenced), brokerId)]
}

/** Records unfencing a fenced broker: `BrokerUnfenced`, then leaders for offline partitions it can lead. */
export const unfenceBroker = (state: State, brokerId: Metadata.BrokerId): Records => {
  const broker = state.brokers.get(brokerId)
  if (broker === undefined || !broker.fenced) return []
  const unfenced = new MetadataRecord.BrokerUnfenced({ brokerId, brokerEpoch: broker.brokerEpoch })
  return [unfenced, ...reconcileBroker(ControllerState.apply(state, unfenced), brokerId)]
}

/** Fence several brokers one after the other (e.g. all whose session expired, from `Liveness.expired`). */
export const fenceBrokers = (state: State, brokerIds: Iterable<Metadata.BrokerId>): Records => {
  const records: Array<MetadataRecord.MetadataRecord> = []
  let current = state
  for (const id of brokerIds) {
    const next = fenceBroker(current, id)
    records.push(...next)
    current = ControllerState.applyAll(current, next)
  }
  return records
}

/** A broker announcing itself at a transport address. */
export interface RegisterBrokerRequest {
  readonly brokerId: Metadata.BrokerId
  readonly nodeId: string
}

/**
 * Register (or re-register after a restart) a broker and make it live. A re-registration
 * first fences the old incarnation, so its leaderships move (a restarted broker lost its
 * in-memory state) and its epoch-stamped requests become stale. The new broker epoch is
 * `state.lastBrokerEpoch + 1`; read it from the state after applying.
 */
export const registerBroker = (state: State, request: RegisterBrokerRequest): Either.Either<Records, InvalidRequest> => {
  if (!Number.isSafeInteger(request.brokerId) || request.brokerId < 0) {
    return Either.left(new InvalidRequest({ message: `invalid broker id ${request.brokerId}` }))
  }
  const fenceOld = fenceBroker(state, request.brokerId)
  const register = new MetadataRecord.RegisterBroker({
    brokerId: request.brokerId,
    nodeId: request.nodeId,
    brokerEpoch: state.lastBrokerEpoch + 1
  })
  const registered = ControllerState.apply(ControllerState.applyAll(state, fenceOld), register)
  return Either.right([...fenceOld, register, ...unfenceBroker(registered, request.brokerId)])
}

/** A broker's periodic heartbeat, carrying the epoch of its registration. */
export interface HeartbeatRequest {
  readonly brokerId: Metadata.BrokerId
  readonly brokerEpoch: number
}

const checkBrokerEpoch = (
  state: State,
  brokerId: Metadata.BrokerId,
  brokerEpoch: number
): Either.Either<ControllerState.BrokerRegistration, StaleBrokerEpoch> => {
  const broker = state.brokers.get(brokerId)
  return broker !== undefined && broker.brokerEpoch === brokerEpoch
    ? Either.right(broker)
    : Either.left(
      new StaleBrokerEpoch({
        brokerId,
        brokerEpoch,
        ...(broker === undefined ? {} : { currentBrokerEpoch: broker.brokerEpoch })
      })
    )
}

/**
 * A heartbeat from the current registration. A fenced broker heartbeating again is unfenced
 * (it regained its session); a live one needs no records. The actor also records the time
 * with `Liveness.recordHeartbeat`.
 */
export const heartbeat = (state: State, request: HeartbeatRequest): Either.Either<Records, StaleBrokerEpoch> =>
  checkBrokerEpoch(state, request.brokerId, request.brokerEpoch).pipe(
    Either.map(() => unfenceBroker(state, request.brokerId))
  )

/** createTopic's arguments. `startIndex`/`replicaShift` should come from `Random`; `topicId` too. */
export interface CreateTopicRequest {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
  readonly config?: Metadata.TopicConfigInput
  readonly topicId?: string
  readonly placement?: Placement.PlacementStart
}

/** Errors createTopic can return. */
export type CreateTopicError =
  | InvalidTopic
  | TopicAlreadyExists
  | InvalidPartitions
  | InvalidReplicationFactor
  | InvalidConfig

/**
 * Create a topic: validate name, partition count, replication factor (at most the number of
 * live brokers) and config; place replicas round-robin over the live brokers; each partition
 * starts with ISR = replicas and its preferred replica as leader, epochs 0.
 */
export const createTopic = (
  state: State,
  request: CreateTopicRequest,
  limits: Limits = defaultLimits
): Either.Either<Records, CreateTopicError> =>
  Either.gen(function*() {
    const name = yield* Metadata.validateTopicName(request.name)
    if (state.topics.has(name)) return yield* Either.left(new TopicAlreadyExists({ topic: name }))
    const { partitions, replicationFactor } = request
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > limits.maxPartitionsPerTopic) {
      return yield* Either.left(new InvalidPartitions({ partitions, maxPartitions: limits.maxPartitionsPerTopic }))
    }
    const live = ControllerState.liveBrokers(state)
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > live.length) {
      return yield* Either.left(new InvalidReplicationFactor({ replicationFactor, liveBrokers: live.length }))
    }
    const config = yield* Metadata.makeTopicConfig(request.config, replicationFactor)
    const start = request.placement ?? { startIndex: state.topics.size, replicaShift: state.topics.size }
    const assignment = Placement.assignReplicas(live, partitions, replicationFactor, start)
    const topicId = request.topicId ?? `${name}-${state.appliedRecords}`
    return [
      new MetadataRecord.TopicCreated({ name, topicId, partitions, config }),
      ...assignment.map((replicas, partition) =>
        new MetadataRecord.PartitionCreated({
          topic: name,
          partition,
          replicas,
          isr: replicas,
          leader: replicas[0]!,
          leaderEpoch: 0,
          partitionEpoch: 0
        })
      )
    ]
  })

/** Delete a topic and all its partitions. */
export const deleteTopic = (state: State, name: string): Either.Either<Records, UnknownTopicOrPartition> => {
  const topic = state.topics.get(name)
  return topic === undefined
    ? Either.left(new UnknownTopicOrPartition({ topic: name }))
    : Either.right([new MetadataRecord.TopicDeleted({ name, topicId: topic.topicId })])
}

/** A leader's request to change its partition's ISR, stamped with what it last saw. */
export interface AlterPartitionRequest {
  readonly topic: string
  readonly partition: number
  readonly brokerId: Metadata.BrokerId
  readonly brokerEpoch: number
  readonly leaderEpoch: number
  readonly partitionEpoch: number
  readonly newIsr: ReadonlyArray<Metadata.BrokerId>
}

/** Errors alterPartition can return. */
export type AlterPartitionError =
  | UnknownTopicOrPartition
  | StaleBrokerEpoch
  | NotLeader
  | FencedLeaderEpoch
  | InvalidUpdateVersion
  | InvalidRequest
  | IneligibleReplica

/**
 * AlterPartition (KIP-497): only the current leader, at the current leader and partition
 * epochs, may change the ISR. The new ISR must contain the leader, only replicas, no
 * duplicates, and no fenced broker among the members it adds. Bumps `partitionEpoch`; an
 * unchanged ISR yields no records.
 */
export const alterPartition = (
  state: State,
  request: AlterPartitionRequest
): Either.Either<Records, AlterPartitionError> =>
  Either.gen(function*() {
    const { topic, partition: index } = request
    const partition = ControllerState.partitionOf(state, request)
    if (partition === undefined) return yield* Either.left(new UnknownTopicOrPartition({ topic, partition: index }))
    yield* checkBrokerEpoch(state, request.brokerId, request.brokerEpoch)
    if (request.brokerId !== partition.leader) {
      return yield* Either.left(
        new NotLeader({ topic, partition: index, leaderId: partition.leader, leaderEpoch: partition.leaderEpoch })
      )
    }
    if (request.leaderEpoch !== partition.leaderEpoch) {
      return yield* Either.left(
        new FencedLeaderEpoch({
          topic,
          partition: index,
          leaderEpoch: request.leaderEpoch,
          currentLeaderEpoch: partition.leaderEpoch
        })
      )
    }
    if (request.partitionEpoch !== partition.partitionEpoch) {
      return yield* Either.left(
        new InvalidUpdateVersion({
          topic,
          partition: index,
          partitionEpoch: request.partitionEpoch,
          currentPartitionEpoch: partition.partitionEpoch
        })
      )
    }
    const newIsr = request.newIsr
    if (new Set(newIsr).size !== newIsr.length || !newIsr.includes(partition.leader)) {
      return yield* Either.left(new InvalidRequest({ message: `new ISR [${newIsr}] has duplicates or lacks the leader` }))
    }
    for (const id of newIsr) {
      const reason = !partition.replicas.includes(id)
        ? "not a replica"
        : !partition.isr.includes(id) && !ControllerState.isLive(state, id)
        ? "fenced"
        : undefined
      if (reason !== undefined) {
        return yield* Either.left(new IneligibleReplica({ topic, partition: index, brokerId: id, message: reason }))
      }
    }
    const unchanged = newIsr.length === partition.isr.length && newIsr.every((id) => partition.isr.includes(id))
    if (unchanged) return []
    return [partitionChanged({ ...partition, isr: newIsr, partitionEpoch: partition.partitionEpoch + 1 })]
  })

/** A broker asking for a block of producer ids to hand out (KIP-730). */
export interface AllocateProducerIdsRequest {
  readonly brokerId: Metadata.BrokerId
  readonly brokerEpoch: number
  readonly blockSize: number
}

/** Allocate the next block of producer ids: blocks never overlap and ids only grow. */
export const allocateProducerIds = (
  state: State,
  request: AllocateProducerIdsRequest,
  limits: Limits = defaultLimits
): Either.Either<Records, StaleBrokerEpoch | InvalidRequest> =>
  Either.gen(function*() {
    yield* checkBrokerEpoch(state, request.brokerId, request.brokerEpoch)
    const { blockSize } = request
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > limits.maxProducerIdBlockSize) {
      return yield* Either.left(new InvalidRequest({ message: `producer id block size ${blockSize} out of range` }))
    }
    if (state.nextProducerId + blockSize > Number.MAX_SAFE_INTEGER) {
      return yield* Either.left(new InvalidRequest({ message: "producer ids exhausted" }))
    }
    return [
      new MetadataRecord.ProducerIdsAllocated({
        brokerId: request.brokerId,
        brokerEpoch: request.brokerEpoch,
        firstProducerId: state.nextProducerId,
        blockSize
      })
    ]
  })
