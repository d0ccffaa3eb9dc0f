/**
 * The controller: the role ZooKeeper plays in classic Kafka and the KRaft controller in new
 * Kafka. It registers brokers and tracks their liveness, creates and deletes topics, elects
 * leaders from the ISR, changes ISRs at the leaders' request, and pushes metadata to brokers.
 *
 * Its state is the pure reducer `ControllerState.apply` over `MetadataRecord`s; every decision
 * (`Decisions.*`) yields records that are appended to the metadata log before they are applied,
 * so a restarted controller replays the log and recovers everything — and a Raft quorum could
 * replicate that log later without touching the decisions.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Either, Random, Schema, type Scope } from "effect"
import * as Actor from "../actor/Actor.js"
import * as Address from "../actor/Address.js"
import * as PartitionLog from "../log/PartitionLog.js"
import * as Record from "../log/Record.js"
import * as RecordBatch from "../log/RecordBatch.js"
import * as NodeId from "../transport/NodeId.js"
import * as ControllerProtocol from "./ControllerProtocol.js"
import * as ControllerState from "./ControllerState.js"
import * as Decisions from "./Decisions.js"
import * as Periodic from "./internal/periodic.js"
import * as Liveness from "./Liveness.js"
import * as MetadataRecord from "./MetadataRecord.js"

/** Options of the controller actor. */
export interface Options {
  /** The node the controller runs on (reported to clients). */
  readonly nodeId: string
  /** The metadata log: survives controller restarts (a `FileLog` in production). */
  readonly log: PartitionLog.PartitionLog
  /** A broker with no heartbeat for this long is fenced and loses its leaderships (Kafka: 9 s). */
  readonly sessionTimeoutMs?: number
  /** How often liveness is checked. */
  readonly livenessCheckIntervalMs?: number
  /**
   * Told every metadata the controller holds: once when it starts (what the log replayed), then
   * after each change it commits, in order, with what it pushes to brokers. For an embedding
   * process that watches the cluster from outside the network (the testkit's election observer).
   */
  readonly onMetadata?: (metadata: ControllerProtocol.ClusterMetadata) => Effect.Effect<void>
}

/** Default broker session timeout. */
export const defaultSessionTimeoutMs = 9_000

interface State {
  readonly metadata: ControllerState.ControllerState
  readonly heartbeats: Liveness.Heartbeats
  /** The clock the controller started on, read in place by the handlers that answer at once. */
  readonly clock: Clock.Clock
}

const RecordJson = Schema.parseJson(MetadataRecord.MetadataRecord)
const encodeRecord = Schema.encodeSync(RecordJson)
const decodeRecord = Schema.decodeUnknownSync(RecordJson)
const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Reads every record of the metadata log, in order. */
export const readAll = (log: PartitionLog.PartitionLog): Effect.Effect<ReadonlyArray<MetadataRecord.MetadataRecord>> =>
  Effect.gen(function*() {
    const records: Array<MetadataRecord.MetadataRecord> = []
    let offset = yield* log.logStartOffset
    const end = yield* log.logEndOffset
    while (offset < end) {
      const read = yield* Effect.orDie(log.read(offset, PartitionLog.DEFAULT_MAX_READ_BYTES))
      for (const batch of read.batches) {
        const decoded = RecordBatch.decodeRecords(batch)
        if (Either.isLeft(decoded)) return yield* Effect.die(decoded.left)
        for (const record of decoded.right) {
          if (record.offset >= offset) records.push(decodeRecord(text.decode(record.value!)))
        }
        offset = RecordBatch.lastOffset(batch) + 1
      }
    }
    return records
  })

/**
 * Snapshots already built, by state: the reducer makes a new state for every change, so one state
 * has one snapshot, built once however often brokers and clients pull it.
 */
const snapshots = new WeakMap<ControllerState.ControllerState, ControllerProtocol.ClusterMetadata>()

/** The metadata snapshot clients and brokers see. */
export const snapshot = (nodeId: string, state: ControllerState.ControllerState): ControllerProtocol.ClusterMetadata => {
  const known = snapshots.get(state)
  if (known !== undefined && known.controllerNodeId === nodeId) return known
  const built = new ControllerProtocol.ClusterMetadata({
    version: state.appliedRecords,
    controllerNodeId: nodeId,
    brokers: [...state.brokers.values()].map((b) => ({ brokerId: b.brokerId, nodeId: b.nodeId, fenced: b.fenced })),
    topics: [...state.topics.values()].map((t) => ({ name: t.name, config: t.config, partitions: t.partitions }))
  }, true) // copied from the controller's typed state (built from validated requests and records): no validation
  snapshots.set(state, built)
  return built
}

/** The controller's behavior. */
export const behavior = (options: Options) => {
  const sessionTimeoutMs = options.sessionTimeoutMs ?? defaultSessionTimeoutMs
  const intervalMs = options.livenessCheckIntervalMs ?? Math.max(1, Math.floor(sessionTimeoutMs / 6))
  const log = options.log

  /** Appends `records` to the metadata log, applies them, and pushes the new metadata to brokers. */
  const commit = (
    ctx: Actor.Context<ControllerProtocol.ControllerProtocol>,
    state: State,
    records: ReadonlyArray<MetadataRecord.MetadataRecord>
  ): Effect.Effect<State> =>
    Effect.gen(function*() {
      if (records.length === 0) return state
      const now = yield* Clock.currentTimeMillis
      const batch = RecordBatch.encode({
        records: records.map((r) => Record.make({ value: utf8.encode(encodeRecord(r)), timestamp: now }))
      })
      yield* Effect.orDie(log.append(batch))
      const metadata = ControllerState.applyAll(state.metadata, records)
      const update = new ControllerProtocol.MetadataUpdate({ metadata: snapshot(options.nodeId, metadata) }, true)
      if (options.onMetadata !== undefined) yield* options.onMetadata(update.metadata)
      yield* Effect.forEach(
        metadata.brokers.values(),
        (broker) =>
          Effect.ignore(
            ctx.node.ref(
              Address.make(NodeId.make(broker.nodeId), ControllerProtocol.brokerPath),
              ControllerProtocol.BrokerProtocol
            ).tell(update)
          ),
        { discard: true }
      )
      return { ...state, metadata }
    })

  return Actor.behavior({
    protocol: ControllerProtocol.ControllerProtocol,
    init: (ctx): Effect.Effect<State, never, Scope.Scope> =>
      Effect.gen(function*() {
        const metadata = ControllerState.replay(yield* readAll(log))
        if (options.onMetadata !== undefined) yield* options.onMetadata(snapshot(options.nodeId, metadata))
        const clock = yield* Effect.clock
        const now = clock.unsafeCurrentTimeMillis()
        const check = new ControllerProtocol.CheckLiveness()
        yield* Effect.forkScoped(Periodic.every(intervalMs, Effect.ignore(ctx.self.tell(check))))
        return { metadata, heartbeats: Liveness.start(metadata, now), clock }
      }),
    handlers: {
      RegisterBroker: (state, req, ctx) =>
        Effect.gen(function*() {
          const records = yield* Decisions.registerBroker(state.metadata, req)
          const next = yield* commit(ctx, state, records)
          const now = yield* Clock.currentTimeMillis
          const brokerEpoch = next.metadata.brokers.get(req.brokerId)!.brokerEpoch
          return [{ brokerEpoch }, { ...next, heartbeats: Liveness.recordHeartbeat(next.heartbeats, req.brokerId, now) }] as const
        }),
      BrokerHeartbeat: (state, req, ctx) => {
        const decided = Decisions.heartbeat(state.metadata, req)
        // The usual heartbeat changes no metadata: answered as a plain success (no generator, no
        // commit), which the actor runtime takes without running an effect.
        if (Either.isRight(decided) && decided.right.length === 0) {
          const now = state.clock.unsafeCurrentTimeMillis()
          return Effect.succeed([
            { metadataVersion: state.metadata.appliedRecords },
            { ...state, heartbeats: Liveness.recordHeartbeat(state.heartbeats, req.brokerId, now) }
          ] as const)
        }
        return Effect.gen(function*() {
          const records = yield* decided
          const next = yield* commit(ctx, state, records)
          const now = yield* Clock.currentTimeMillis
          return [
            { metadataVersion: next.metadata.appliedRecords },
            { ...next, heartbeats: Liveness.recordHeartbeat(next.heartbeats, req.brokerId, now) }
          ] as const
        })
      },
      CreateTopic: (state, req, ctx) =>
        Effect.gen(function*() {
          const placement = {
            startIndex: yield* Random.nextIntBetween(0, 1 << 16),
            replicaShift: yield* Random.nextIntBetween(0, 1 << 16)
          }
          const topicId = `${req.name}-${(yield* Random.nextIntBetween(0, 2 ** 31 - 1)).toString(36)}`
          const records = yield* Decisions.createTopic(state.metadata, {
            name: req.name,
            partitions: req.partitions,
            replicationFactor: req.replicationFactor,
            placement,
            topicId,
            ...(req.config === undefined ? {} : { config: req.config })
          })
          const next = yield* commit(ctx, state, records)
          const topic = next.metadata.topics.get(req.name)!
          return [{ name: topic.name, config: topic.config, partitions: topic.partitions }, next] as const
        }),
      DeleteTopic: (state, req, ctx) =>
        Effect.gen(function*() {
          const records = yield* Decisions.deleteTopic(state.metadata, req.name)
          return [undefined, yield* commit(ctx, state, records)] as const
        }),
      GetMetadata: (state) => Effect.succeed([snapshot(options.nodeId, state.metadata), state] as const),
      AlterPartition: (state, req, ctx) =>
        Effect.gen(function*() {
          const records = yield* Decisions.alterPartition(state.metadata, req)
          const next = yield* commit(ctx, state, records)
          return [ControllerState.partitionOf(next.metadata, req)!, next] as const
        }),
      AllocateProducerIds: (state, req, ctx) =>
        Effect.gen(function*() {
          const first = state.metadata.nextProducerId
          const records = yield* Decisions.allocateProducerIds(state.metadata, req)
          return [{ firstProducerId: first, blockSize: req.blockSize }, yield* commit(ctx, state, records)] as const
        }),
      CheckLiveness: (state, _, ctx) => {
        const now = state.clock.unsafeCurrentTimeMillis()
        const expired = Liveness.expired(state.metadata, state.heartbeats, now, sessionTimeoutMs)
        // Usually nobody expired: the state as it is, without an effect.
        if (expired.length === 0) return Effect.succeed(state)
        return Effect.zipRight(
          Effect.logInfo(`controller: fencing brokers ${expired.join(", ")} (no heartbeat for ${sessionTimeoutMs} ms)`),
          commit(ctx, state, Decisions.fenceBrokers(state.metadata, expired))
        )
      }
    }
  })
}
