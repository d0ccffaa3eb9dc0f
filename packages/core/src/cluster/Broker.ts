/**
 * A broker: registers with the controller and heartbeats, hosts one supervised `Replica` child
 * per partition replica it is assigned, passes the controller's metadata on to them, answers
 * clients' metadata requests from its cache and forwards admin requests to the controller.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Ref, Schedule, type Scope } from "effect"
import * as Actor from "../actor/Actor.js"
import type * as Address from "../actor/Address.js"
import { ActorUnavailable, AskTimeout, MailboxFull, MessageNotSerializable } from "../actor/ActorError.js"
import * as Supervision from "../actor/Supervision.js"
import * as ControllerProtocol from "./ControllerProtocol.js"
import * as Errors from "./Errors.js"
import * as Periodic from "./internal/periodic.js"
import type { LogStore } from "./LogStore.js"
import * as Replica from "./Replica.js"
import * as P from "./ReplicaProtocol.js"

/** Options of a broker. */
export interface Options {
  readonly brokerId: number
  readonly controller: Address.Address
  /** Where the partition logs live; each is opened with its topic's config (retention, cleanup, segments). */
  readonly logs: LogStore
  /** Heartbeat period (Kafka: 2 s); the controller's session timeout should be several of these. */
  readonly heartbeatIntervalMs?: number
  readonly replicaLagTimeMs?: number
  readonly fetchMaxWaitMs?: number
  readonly fetchMaxBytes?: number
  readonly fetchBackoffMs?: number
  /** Timeout of requests to the controller. */
  readonly controllerTimeoutMs?: number
  /** Producer ids taken from the controller at once. */
  readonly producerIdBlockSize?: number
  /** Other actors the broker hosts (the server layer plugs group coordinators in here). */
  readonly extensions?: ReadonlyArray<Extension>
}

/**
 * Something a broker hosts beside its replicas, so `cluster/` need not import what lives above
 * it: started in the broker's init (it may spawn children), then given every metadata snapshot.
 */
export type Extension = (
  ctx: Actor.Context<ControllerProtocol.BrokerProtocol>,
  host: { readonly brokerId: number; readonly logs: LogStore }
) => Effect.Effect<(metadata: ControllerProtocol.ClusterMetadata) => Effect.Effect<void>, never, Scope.Scope>

interface ReplicaEntry {
  readonly ref: Actor.ActorRef<P.ReplicaProtocol>
}

interface State {
  readonly brokerEpoch: Effect.Effect<number>
  /** The metadata version last applied (read by the heartbeat fiber). */
  readonly seenVersion: { current: number }
  metadata: ControllerProtocol.ClusterMetadata
  readonly replicas: Map<string, ReplicaEntry>
  producerIds: { next: number; end: number }
  readonly listeners: ReadonlyArray<(metadata: ControllerProtocol.ClusterMetadata) => Effect.Effect<void>>
}

const isDeliveryError = (error: unknown) =>
  error instanceof AskTimeout || error instanceof ActorUnavailable || error instanceof MailboxFull ||
  error instanceof MessageNotSerializable

/** Maps a failure to reach the controller to `ControllerNotAvailable`, keeping the request's own errors. */
const viaController = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.mapError(effect, (error) =>
    isDeliveryError(error)
      ? new Errors.ControllerNotAvailable({ message: (error as { message: string }).message })
      : error as Exclude<E, AskTimeout | ActorUnavailable | MailboxFull | MessageNotSerializable>)

/** The broker's behavior. */
export const behavior = (options: Options) => {
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000
  const controllerTimeoutMs = options.controllerTimeoutMs ?? 5_000
  const replicaOptions = {
    replicaLagTimeMs: options.replicaLagTimeMs ?? 10_000,
    fetchMaxWaitMs: options.fetchMaxWaitMs ?? 500,
    fetchMaxBytes: options.fetchMaxBytes ?? 4 * 1024 * 1024,
    fetchBackoffMs: options.fetchBackoffMs ?? 100
  }
  const controllerOf = (ctx: Actor.Context<ControllerProtocol.BrokerProtocol>) =>
    ctx.node.ref(options.controller, ControllerProtocol.ControllerProtocol)
  return Actor.behavior({
    protocol: ControllerProtocol.BrokerProtocol,
    init: (ctx): Effect.Effect<State, never, Scope.Scope> =>
      Effect.gen(function*() {
        const controller = controllerOf(ctx)
        const brokerEpoch = yield* Ref.make(-1)
        const register = controller.ask(
          new ControllerProtocol.RegisterBroker({ brokerId: options.brokerId, nodeId: ctx.node.id }),
          { timeoutMs: controllerTimeoutMs }
        ).pipe(
          Effect.tap(({ brokerEpoch: epoch }) => Ref.set(brokerEpoch, epoch)),
          Effect.retry(Schedule.exponential(Duration.millis(100)).pipe(Schedule.union(Schedule.spaced(Duration.seconds(2)))))
        )
        yield* Effect.orDie(register)
        // Heartbeats run beside the mailbox; a stale epoch (we were fenced) means register again.
        // A broker that is behind the controller's metadata (a push lost to a partition) pulls it.
        const seenVersion = { current: -1 }
        const catchUp = (metadataVersion: number) =>
          metadataVersion <= seenVersion.current
            ? Effect.void
            : controller.ask(new ControllerProtocol.GetMetadata(), { timeoutMs: controllerTimeoutMs }).pipe(
              // The controller's typed answer: no validation of the whole metadata again.
              Effect.flatMap((metadata) => ctx.self.tell(new ControllerProtocol.MetadataUpdate({ metadata }, true)))
            )
        // A heartbeat lost to a partition must not hold up the next one for a whole controller
        // timeout: once the link heals, the broker learns within about two intervals that it was
        // fenced (and stops acting on stale leadership).
        const heartbeatTimeoutMs = Math.min(controllerTimeoutMs, Math.max(heartbeatIntervalMs, 100))
        // The request of the current epoch, made once per epoch (a request is immutable data).
        let beat: ControllerProtocol.BrokerHeartbeat | undefined
        const beatOf = (epoch: number) =>
          beat !== undefined && beat.brokerEpoch === epoch
            ? beat
            : (beat = new ControllerProtocol.BrokerHeartbeat({ brokerId: options.brokerId, brokerEpoch: epoch }, true))
        // A plain chain (no generator): it runs every heartbeat interval.
        const heartbeat = Effect.flatMap(Ref.get(brokerEpoch), (epoch) =>
          controller.ask(beatOf(epoch), { timeoutMs: heartbeatTimeoutMs }).pipe(
            Effect.flatMap(({ metadataVersion }) => catchUp(metadataVersion)),
            // Fenced meanwhile: register again and take the metadata at once.
            Effect.catchTag("StaleBrokerEpoch", () => Effect.zipRight(register, catchUp(Number.MAX_SAFE_INTEGER))),
            Effect.ignore
          ))
        yield* Effect.forkScoped(Periodic.every(heartbeatIntervalMs, heartbeat))
        const host = { brokerId: options.brokerId, logs: options.logs }
        const listeners = yield* Effect.forEach(options.extensions ?? [], (extension) => extension(ctx, host))
        return {
          seenVersion,
          listeners,
          metadata: ControllerProtocol.noMetadata(options.controller.node),
          replicas: new Map(),
          producerIds: { next: 0, end: 0 },
          brokerEpoch: Ref.get(brokerEpoch)
        }
      }),
    handlers: {
      MetadataUpdate: (state, msg, ctx) =>
        Effect.gen(function*() {
          if (msg.metadata.version < state.metadata.version) return state
          state.metadata = msg.metadata
          state.seenVersion.current = msg.metadata.version
          const nodes = msg.metadata.brokers.map((b) => ({ brokerId: b.brokerId, nodeId: b.nodeId }))
          const assigned = new Set<string>()
          for (const topic of msg.metadata.topics) {
            for (const partition of topic.partitions) {
              if (!partition.replicas.includes(options.brokerId)) continue
              const name = P.replicaName(topic.name, partition.partition)
              assigned.add(name)
              let entry = state.replicas.get(name)
              if (entry === undefined) {
                const log = yield* options.logs.open(topic.name, partition.partition, topic.config)
                const ref = yield* Effect.orDie(ctx.spawn(
                  name,
                  Replica.behavior({
                    brokerId: options.brokerId,
                    topic: topic.name,
                    partition: partition.partition,
                    log,
                    brokerEpoch: state.brokerEpoch,
                    controller: options.controller,
                    ...replicaOptions
                  }),
                  { supervision: Supervision.restart({ maxRestarts: 10, withinMs: 60_000 }) }
                ))
                entry = { ref }
                state.replicas.set(name, entry)
              }
              // Parts of metadata already checked (decoded, or built by the controller): no validation again.
              yield* Effect.ignore(entry.ref.tell(new P.UpdatePartition({ state: partition, config: topic.config, nodes }, true)))
            }
          }
          for (const [name, entry] of state.replicas) {
            if (assigned.has(name)) continue
            yield* ctx.node.stop(entry.ref)
            state.replicas.delete(name)
            const [topic, partition] = [name.slice(0, name.lastIndexOf(":")), Number(name.slice(name.lastIndexOf(":") + 1))]
            if (!msg.metadata.topics.some((t) => t.name === topic)) yield* options.logs.drop(topic, partition)
          }
          for (const listener of state.listeners) yield* listener(msg.metadata)
          return state
        }),
      GetMetadata: (state) => Effect.succeed([state.metadata, state] as const),
      // Admin writes go to the controller, answered off the broker's fiber.
      CreateTopic: (state, req, ctx) =>
        Effect.succeed([Actor.later(viaController(controllerOf(ctx).ask(req, { timeoutMs: controllerTimeoutMs }))), state] as const),
      DeleteTopic: (state, req, ctx) =>
        Effect.succeed([Actor.later(viaController(controllerOf(ctx).ask(req, { timeoutMs: controllerTimeoutMs }))), state] as const),
      InitProducerId: (state, _, ctx) =>
        Effect.gen(function*() {
          if (state.producerIds.next >= state.producerIds.end) {
            const controller = controllerOf(ctx)
            const block = yield* viaController(controller.ask(
              new ControllerProtocol.AllocateProducerIds({
                brokerId: options.brokerId,
                brokerEpoch: yield* state.brokerEpoch,
                blockSize: options.producerIdBlockSize ?? 1_000
              }),
              { timeoutMs: controllerTimeoutMs }
            )).pipe(
              Effect.mapError((error) =>
                error._tag === "ControllerNotAvailable" ? error : new Errors.ControllerNotAvailable({ message: error._tag })
              )
            )
            state.producerIds = { next: block.firstProducerId, end: block.firstProducerId + block.blockSize }
          }
          const producerId = state.producerIds.next++
          return [{ producerId, producerEpoch: 0 }, state] as const
        })
    }
  })
}
