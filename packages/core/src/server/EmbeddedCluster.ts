/**
 * An embedded cluster: a controller and N brokers, each on its own `Node`, in one process on the
 * `Network` in context (in-process by default; the testkit's simulated network in fault tests).
 * What `npm start`, the examples and the testkit build on. Brokers can be crashed (their node's
 * scope closes; their in-memory logs keep everything, or only what was flushed) and restarted.
 *
 * @since 0.1.0
 */
import { Duration, Effect, ExecutionStrategy, Exit, Schedule, type Schema, Scope, type Stream, SubscriptionRef } from "effect"
import type * as Actor from "../actor/Actor.js"
import type { AskTimeout, DeliveryError } from "../actor/ActorError.js"
import * as Address from "../actor/Address.js"
import * as Node from "../actor/Node.js"
import * as Broker from "../cluster/Broker.js"
import * as Controller from "../cluster/Controller.js"
import * as ControllerProtocol from "../cluster/ControllerProtocol.js"
import * as LogStore from "../cluster/LogStore.js"
import * as P from "../cluster/ReplicaProtocol.js"
import * as GroupCoordinator from "../group/GroupCoordinator.js"
import type * as GroupState from "../group/GroupState.js"
import * as OffsetKey from "../group/OffsetKey.js"
import * as MemoryLog from "../log/MemoryLog.js"
import type * as PartitionLog from "../log/PartitionLog.js"
import * as RecordBatch from "../log/RecordBatch.js"
import * as NodeId from "../transport/NodeId.js"
import type * as Transport from "../transport/Transport.js"

/** Options of an embedded cluster. Times are in virtual or real ms, as the Clock in context says. */
export interface Options {
  readonly brokers?: number
  readonly sessionTimeoutMs?: number
  readonly heartbeatIntervalMs?: number
  readonly replicaLagTimeMs?: number
  readonly fetchMaxWaitMs?: number
  /** Passed to every broker's in-memory logs: move the flushed mark every N records. */
  readonly flushIntervalRecords?: number
  /** Partitions of the internal `__consumer_offsets` topic, created at start (default 10; 0: none, no groups). */
  readonly offsetsTopicPartitions?: number
  /** Settings of every consumer group (e.g. `initialRebalanceDelayMs: 0` for tests). */
  readonly groupConfig?: Partial<GroupState.Config>
}

/** A broker's node id in an embedded cluster. */
export const brokerNodeId = (brokerId: number): NodeId.NodeId => NodeId.make(`broker-${brokerId}`)

/** The controller's node id in an embedded cluster. */
export const controllerNodeId: NodeId.NodeId = NodeId.make("controller")

/** A running embedded cluster. */
export interface EmbeddedCluster {
  readonly brokerIds: ReadonlyArray<number>
  /** Broker node ids, for clients to bootstrap from. */
  readonly bootstrap: ReadonlyArray<NodeId.NodeId>
  readonly controller: Address.Address
  /** A ref to the controller from the given node. */
  readonly controllerRef: (from: Node.Node) => Actor.ActorRef<ControllerProtocol.ControllerProtocol>
  /** Stops a broker as a crash would: its node leaves the network at once. */
  readonly crash: (brokerId: number, options?: { readonly loseUnflushed?: boolean }) => Effect.Effect<void>
  /** Starts a crashed broker again on the same logs. */
  readonly restart: (brokerId: number) => Effect.Effect<void>
  readonly isRunning: (brokerId: number) => boolean
  /** The controller's current metadata. */
  readonly metadata: Effect.Effect<ControllerProtocol.ClusterMetadata, AskTimeout | DeliveryError>
  /**
   * Every metadata the controller commits, in order, starting with the current one: a view from
   * inside the process, past any network fault and with no message sent (the testkit's election
   * observer sees each leader epoch this way, however short-lived).
   */
  readonly metadataChanges: Stream.Stream<ControllerProtocol.ClusterMetadata>
  /** A partition replica's state on one broker (role, epoch, ISR, high watermark, log end). */
  readonly describeReplica: (brokerId: number, topic: string, partition: number) => Effect.Effect<Schema.WithResult.Success<P.Describe>, AskTimeout | DeliveryError>
  /**
   * A broker's log of a partition, opened from its store (for tests: inspect it, or move its start
   * with `deleteBefore` as retention on disk would). Writing to it bypasses the replica.
   */
  readonly log: (brokerId: number, topic: string, partition: number) => Effect.Effect<PartitionLog.PartitionLog>
  /** The records a broker holds for a partition, as batches (for checks). */
  readonly readLog: (brokerId: number, topic: string, partition: number) => Effect.Effect<ReadonlyArray<Uint8Array>>
  /** A client node on the cluster's network (lives as long as the caller's scope). */
  readonly clientNode: (name: string) => Effect.Effect<Node.Node, Transport.NodeIdInUse, Scope.Scope>
  /** The node hosting the controller (for asks from tests). */
  readonly controllerNode: Node.Node
}

/** Starts a controller and `brokers` brokers; they stop when the scope closes. */
export const make = (
  options: Options = {}
): Effect.Effect<EmbeddedCluster, Transport.NodeIdInUse, Transport.Network | Scope.Scope> =>
  Effect.gen(function*() {
    const count = options.brokers ?? 3
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 6_000
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(1, Math.floor(sessionTimeoutMs / 4))
    const outer = yield* Effect.scope
    const context = yield* Effect.context<Transport.Network>()

    const controllerNode = yield* Node.make({ id: controllerNodeId })
    const metadataLog = yield* MemoryLog.make()
    const latest = yield* SubscriptionRef.make(ControllerProtocol.noMetadata(controllerNodeId))
    const controllerRef = yield* Effect.orDie(controllerNode.spawn(
      ControllerProtocol.controllerPath,
      Controller.behavior({
        nodeId: controllerNodeId,
        log: metadataLog,
        sessionTimeoutMs,
        onMetadata: (metadata) => SubscriptionRef.set(latest, metadata)
      })
    ))
    const controller = controllerRef.address

    const brokerIds = Array.from({ length: count }, (_, i) => i + 1)
    const stores = new Map(brokerIds.map((id) => [id, LogStore.memory(
      options.flushIntervalRecords === undefined ? {} : { flushIntervalRecords: options.flushIntervalRecords }
    )]))
    const running = new Map<number, { scope: Scope.CloseableScope; node: Node.Node }>()

    const start = (brokerId: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
        const node = yield* Node.make({ id: brokerNodeId(brokerId) }).pipe(Scope.extend(scope), Effect.provide(context))
        running.set(brokerId, { scope, node })
        yield* Effect.orDie(node.spawn(
          ControllerProtocol.brokerPath,
          Broker.behavior({
            brokerId,
            controller,
            logs: stores.get(brokerId)!,
            heartbeatIntervalMs,
            ...(options.replicaLagTimeMs === undefined ? {} : { replicaLagTimeMs: options.replicaLagTimeMs }),
            ...(options.fetchMaxWaitMs === undefined ? {} : { fetchMaxWaitMs: options.fetchMaxWaitMs }),
            extensions: [GroupCoordinator.extension(options.groupConfig === undefined ? {} : { groupConfig: options.groupConfig })]
          })
        ).pipe(Effect.provide(context)))
      })

    yield* Effect.forEach(brokerIds, (id) => Effect.orDie(start(id)), { discard: true })

    // The offsets topic (compacted, RF = min(3, brokers)), created once enough brokers registered.
    const offsetsTopicPartitions = options.offsetsTopicPartitions ?? 10
    if (offsetsTopicPartitions > 0) {
      const create = controllerRef.ask(new ControllerProtocol.CreateTopic({
        name: OffsetKey.topic,
        partitions: offsetsTopicPartitions,
        replicationFactor: Math.min(3, count),
        config: { cleanupPolicy: "compact" }
      })).pipe(Effect.catchTag("TopicAlreadyExists", () => Effect.void))
      yield* create.pipe(
        Effect.retry(Schedule.spaced(Duration.millis(50)).pipe(Schedule.intersect(Schedule.recurs(1_000)))),
        Effect.ignore,
        Effect.forkIn(outer)
      )
    }

    const logOf = (brokerId: number, topic: string, partition: number) => stores.get(brokerId)!.open(topic, partition)

    const replicaRef = (brokerId: number, topic: string, partition: number) =>
      controllerNode.ref(Address.make(brokerNodeId(brokerId), P.replicaPath(topic, partition)), P.ReplicaProtocol)

    const cluster: EmbeddedCluster = {
      brokerIds,
      bootstrap: brokerIds.map(brokerNodeId),
      controller,
      controllerRef: (from) => from.ref(controller, ControllerProtocol.ControllerProtocol),
      crash: (brokerId, crashOptions) =>
        Effect.gen(function*() {
          const entry = running.get(brokerId)
          if (entry === undefined) return
          running.delete(brokerId)
          yield* Scope.close(entry.scope, Exit.void)
          yield* stores.get(brokerId)!.crash({ loseUnflushed: crashOptions?.loseUnflushed ?? false })
        }),
      restart: (brokerId) => running.has(brokerId) ? Effect.void : Effect.orDie(start(brokerId)),
      isRunning: (brokerId) => running.has(brokerId),
      metadata: controllerRef.ask(new ControllerProtocol.GetMetadata()),
      metadataChanges: latest.changes,
      describeReplica: (brokerId, topic, partition) => replicaRef(brokerId, topic, partition).ask(new P.Describe()),
      log: logOf,
      readLog: (brokerId, topic, partition) =>
        Effect.gen(function*() {
          const log = yield* logOf(brokerId, topic, partition)
          const batches: Array<Uint8Array> = []
          let offset = yield* log.logStartOffset
          const end = yield* log.logEndOffset
          while (offset < end) {
            const read = yield* Effect.orDie(log.read(offset, 1 << 20))
            if (read.batches.length === 0) break
            for (const batch of read.batches) batches.push(batch)
            const last = read.batches[read.batches.length - 1]!
            offset = RecordBatch.lastOffset(last) + 1
          }
          return batches
        }),
      clientNode: (name) => Node.make({ id: NodeId.make(name) }).pipe(Effect.provide(context)),
      controllerNode
    }
    return cluster
  })
