/**
 * The server: a controller or a broker as its own process on the TCP network, and the client
 * connection that reaches them from bootstrap addresses. Node ids follow `EmbeddedCluster`
 * (`controller`, `broker-N`), so the same actors run here as in the embedded cluster.
 *
 * - `controller` runs the controller actor over a `FileLog` metadata log in its data directory
 *   (so a restarted controller replays its metadata), and creates the `__consumer_offsets` topic
 *   once enough brokers registered.
 * - `broker` runs a broker (replicas + group coordinators) over a `FileLogStore` in its data
 *   directory, or in memory without one. Killed and started again on the same directory, it
 *   recovers its logs, registers again and catches up from the leaders.
 * - Discovery: each server hosts a `directory` actor; brokers advertise their address to the
 *   controller and pull its table every `directoryRefreshMs`, so `--peers` is optional. Clients
 *   pull the table from their bootstrap servers. The address advertised is `advertise` when given
 *   (the one others can reach: a server listening on 0.0.0.0, or behind NAT), else the listening
 *   address.
 * - A data directory is locked (`<dataDir>/.lock`, holding the pid) while a server uses it: a
 *   second server on it fails with `DataDirLocked`; a lock left by a dead process is taken over.
 *
 * @since 0.1.0
 */
import type { FileSystem } from "@effect/platform"
import {
  Address,
  Broker,
  Controller,
  ControllerProtocol,
  GroupCoordinator,
  LogStore,
  MemoryLog,
  Node,
  NodeId,
  OffsetKey
} from "@fiberlog/core"
import { Data, Duration, Effect, Random, type Redacted, Schedule, type Scope } from "effect"
import * as FileLogStore from "./FileLogStore.js"
import * as Addresses from "./internal/server/addresses.js"
import * as DataDirLock from "./internal/server/dataDirLock.js"
import * as Directory from "./internal/server/directory.js"
import * as TcpNetwork from "./TcpNetwork.js"

export {
  brokerNodeId,
  controllerNodeId,
  format as formatAddress,
  InvalidAddress,
  parseAddress,
  parsePeers
} from "./internal/server/addresses.js"

export { DataDirLocked, DataDirLockFailed, lockFileName } from "./internal/server/dataDirLock.js"

/** Why a server did not start: its TLS files, or its data directory in use or unusable. */
export type ServerError = TcpNetwork.TlsConfigError | DataDirLock.DataDirLocked | DataDirLock.DataDirLockFailed

/** What every process of a cluster shares: its id, and optionally a secret and TLS. */
export interface Network {
  readonly clusterId: string
  readonly secret?: Redacted.Redacted<string> | undefined
  readonly tls?: TcpNetwork.TlsOptions | undefined
}

/** Options of a controller process. */
export interface ControllerOptions extends Network {
  readonly listen: TcpNetwork.Address
  /** The address brokers and clients are told (default: the listening address). */
  readonly advertise?: TcpNetwork.Address | undefined
  /** Holds the metadata log; without it, metadata lives in memory (lost on restart). */
  readonly dataDir?: string | undefined
  /** A broker with no heartbeat for this long is fenced (default 9 000, Kafka's). */
  readonly sessionTimeoutMs?: number | undefined
  /** Partitions of `__consumer_offsets` (default 10; 0: no groups). */
  readonly offsetsTopicPartitions?: number | undefined
  /** Its replication factor; it is created once this many brokers registered (default 3). */
  readonly offsetsTopicReplicationFactor?: number | undefined
}

/** Options of a broker process. */
export interface BrokerOptions extends Network {
  readonly brokerId: number
  readonly listen: TcpNetwork.Address
  /**
   * The address other nodes and clients are told, through the controller's directory (default:
   * the listening address, with the real port when listening on port 0).
   */
  readonly advertise?: TcpNetwork.Address | undefined
  /** The controller's address. */
  readonly controller: TcpNetwork.Address
  /** Holds the partition logs (`FileLog`); without it, logs live in memory. */
  readonly dataDir?: string | undefined
  /** Other nodes' addresses known up front (the rest come from the controller's directory). */
  readonly peers?: ReadonlyArray<readonly [string, TcpNetwork.Address]> | undefined
  readonly heartbeatIntervalMs?: number | undefined
  readonly replicaLagTimeMs?: number | undefined
  readonly fetchMaxWaitMs?: number | undefined
  /** fsync partition logs every this many ms (default: left to the OS and replication, as Kafka). */
  readonly flushIntervalMs?: number | undefined
  /** How often the address table is pulled from the controller (default 1 000). */
  readonly directoryRefreshMs?: number | undefined
}

/** A running server. */
export interface Running {
  readonly node: Node.Node
  /** The address it listens on (the real port when asked for port 0). */
  readonly address: TcpNetwork.Address
  /** The address other nodes and clients are told. */
  readonly advertised: TcpNetwork.Address
  readonly directory: TcpNetwork.Directory
}

/** Options of a client connection. */
export interface ClientOptions extends Network {
  /** Servers to start from, as `[nodeId, address]` (brokers, or the controller). At least one. */
  readonly bootstrap: ReadonlyArray<readonly [string, TcpNetwork.Address]>
  /** The client's node id prefix (a random suffix keeps ids unique). Default "client". */
  readonly clientId?: string | undefined
  /** How long to try the bootstrap servers (default 10 000). */
  readonly connectTimeoutMs?: number | undefined
  /** How often the address table is refreshed (default 2 000). */
  readonly directoryRefreshMs?: number | undefined
}

/** A client's connection: its node, and the broker node ids to give the clients as `bootstrap`. */
export interface Connection {
  readonly node: Node.Node
  readonly bootstrap: ReadonlyArray<string>
  readonly directory: TcpNetwork.Directory
}

const networkLayer = (options: Network, directory: TcpNetwork.Directory) =>
  TcpNetwork.layer({
    clusterId: options.clusterId,
    directory,
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.tls === undefined ? {} : { tls: options.tls })
  })

/** A node on the TCP network as `id` (listening when `directory` lists it); TLS files may fail. */
const makeNode = (options: Network, id: string, directory: TcpNetwork.Directory) =>
  Node.make({ id: NodeId.make(id) }).pipe(
    Effect.provide(networkLayer(options, directory)),
    Effect.catchTag("NodeIdInUse", (error) => Effect.die(error))
  )

/**
 * Joins the TCP network as `id`, listening on `listen` and telling others `advertise` (default:
 * the address actually bound).
 */
const join = (
  options: Network,
  id: string,
  listen: TcpNetwork.Address,
  advertise: TcpNetwork.Address | undefined,
  directory: TcpNetwork.Directory
) =>
  Effect.gen(function*() {
    directory.register(NodeId.make(id), listen)
    const node = yield* makeNode(options, id, directory)
    const address = directory.lookup(node.id) ?? listen
    const advertised = advertise ?? address
    yield* Effect.orDie(node.spawn(Directory.directoryPath, Directory.behavior(directory, id, advertised)))
    return { node, address, advertised, directory } satisfies Running
  })

/** Runs a controller until the scope closes. */
export const controller = (
  options: ControllerOptions
): Effect.Effect<Running, ServerError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    if (options.dataDir !== undefined) yield* DataDirLock.acquire(options.dataDir)
    const directory = TcpNetwork.directory()
    const running = yield* join(options, Addresses.controllerNodeId, options.listen, options.advertise, directory)
    const log = options.dataDir === undefined
      ? yield* MemoryLog.make()
      : yield* Effect.orDie(FileLogStore.metadataLog(options.dataDir, { flushIntervalRecords: 1 }))
    const ref = yield* Effect.orDie(running.node.spawn(
      ControllerProtocol.controllerPath,
      Controller.behavior({
        nodeId: Addresses.controllerNodeId,
        log,
        ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs })
      })
    ))
    const partitions = options.offsetsTopicPartitions ?? 10
    if (partitions > 0) {
      const replicationFactor = options.offsetsTopicReplicationFactor ?? 3
      const create = Effect.gen(function*() {
        const metadata = yield* ref.ask(new ControllerProtocol.GetMetadata())
        if (metadata.topics.some((t) => t.name === OffsetKey.topic)) return
        if (metadata.brokers.filter((b) => !b.fenced).length < replicationFactor) return yield* Effect.fail("wait" as const)
        yield* ref.ask(new ControllerProtocol.CreateTopic({
          name: OffsetKey.topic,
          partitions,
          replicationFactor,
          config: { cleanupPolicy: "compact" }
        }))
      })
      yield* create.pipe(
        Effect.catchTag("TopicAlreadyExists", () => Effect.void),
        Effect.retry(Schedule.spaced(Duration.millis(200))),
        Effect.ignore,
        Effect.forkScoped
      )
    }
    return running
  })

/** Runs a broker until the scope closes. */
export const broker = (
  options: BrokerOptions
): Effect.Effect<Running, ServerError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    if (options.dataDir !== undefined) yield* DataDirLock.acquire(options.dataDir)
    const id = Addresses.brokerNodeId(options.brokerId)
    const directory = TcpNetwork.directory(Object.fromEntries(options.peers ?? []))
    directory.register(NodeId.make(Addresses.controllerNodeId), options.controller)
    const logs: LogStore.LogStore = options.dataDir === undefined
      ? LogStore.memory()
      : yield* Effect.orDie(FileLogStore.make({
        dataDir: options.dataDir,
        ...(options.flushIntervalMs === undefined ? {} : { log: { flushIntervalMs: options.flushIntervalMs } })
      }))
    const running = yield* join(options, id, options.listen, options.advertise, directory)
    yield* Directory.sync({
      node: running.node,
      directory,
      advertise: running.advertised,
      upstream: [Addresses.controllerNodeId],
      intervalMs: options.directoryRefreshMs ?? 1_000
    })
    yield* Effect.orDie(running.node.spawn(
      ControllerProtocol.brokerPath,
      Broker.behavior({
        brokerId: options.brokerId,
        controller: Address.make(NodeId.make(Addresses.controllerNodeId), ControllerProtocol.controllerPath),
        logs,
        ...(options.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: options.heartbeatIntervalMs }),
        ...(options.replicaLagTimeMs === undefined ? {} : { replicaLagTimeMs: options.replicaLagTimeMs }),
        ...(options.fetchMaxWaitMs === undefined ? {} : { fetchMaxWaitMs: options.fetchMaxWaitMs }),
        extensions: [GroupCoordinator.extension()]
      })
    ))
    return running
  })

/**
 * Connects a client (dial-only: it is in no one's directory, and replies come back on the
 * connections it opens). Pulls the address table from the first bootstrap server that answers,
 * and keeps it fresh; `bootstrap` lists the brokers it learnt.
 */
export const connect = (
  options: ClientOptions
): Effect.Effect<Connection, NoServerReachableError | TcpNetwork.TlsConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const directory = TcpNetwork.directory(Object.fromEntries(options.bootstrap))
    const suffix = (yield* Random.nextIntBetween(0, 2 ** 31 - 1)).toString(36)
    const node = yield* makeNode(options, `${options.clientId ?? "client"}-${suffix}`, directory)
    const upstream = options.bootstrap.map(([id]) => id)
    const timeoutMs = options.connectTimeoutMs ?? 10_000
    const found = yield* Directory.pull(node, directory, upstream, Math.min(2_000, timeoutMs)).pipe(
      Effect.filterOrFail((ok) => ok),
      Effect.retry(Schedule.spaced(Duration.millis(100))),
      Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => undefined }),
      Effect.option
    )
    if (found._tag === "None") {
      return yield* Effect.fail(new NoServerReachableError({ bootstrap: options.bootstrap.map(([id, a]) => `${id}=${Addresses.format(a)}`) }))
    }
    yield* Directory.sync({ node, directory, upstream, intervalMs: options.directoryRefreshMs ?? 2_000 })
    const brokers = directory.entries().map(([id]) => id).filter((id) => id.startsWith("broker-"))
    const bootstrap = [...new Set([...upstream.filter((id) => id.startsWith("broker-")), ...brokers])]
    return { node, bootstrap, directory } satisfies Connection
  })

/** No bootstrap server answered within the connect timeout. */
export class NoServerReachableError extends Data.TaggedError("NoServerReachableError")<{
  readonly bootstrap: ReadonlyArray<string>
}> {
  override get message() {
    return `no server answered at ${this.bootstrap.join(", ")}`
  }
}
