/**
 * `fiberlog controller` and `fiberlog broker`: run a server until interrupted (SIGINT / SIGTERM
 * close its logs cleanly; SIGKILL is what `FileLog`'s recovery is for). Once listening, each
 * prints one line `fiberlog <node-id> listening on <host:port>` on stdout.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Config, Console, Effect, Option } from "effect"
import * as Server from "../Server.js"
import * as Common from "./common.js"

const listen = (fallback: string) =>
  Options.text("listen").pipe(
    Options.withFallbackConfig(Config.string("FIBERLOG_LISTEN")),
    Options.withDefault(fallback),
    Options.withDescription("host:port to listen on")
  )

const dataDir = Options.directory("data-dir").pipe(
  Options.withFallbackConfig(Config.string("FIBERLOG_DATA_DIR")),
  Options.optional,
  Options.withDescription("where logs are kept (FileLog); without it they live in memory")
)

const optionalInt = (name: string, env: string, description: string) =>
  Options.integer(name).pipe(Options.withFallbackConfig(Config.integer(env)), Options.optional, Options.withDescription(description))

const ms = <A>(value: Option.Option<A>): A | undefined => Option.getOrUndefined(value)

/** The line a server prints once it listens (launchers wait for it). */
export const readyLine = (nodeId: string, address: string) => `fiberlog ${nodeId} listening on ${address}`

/** `fiberlog controller`. */
export const controller = Command.make("controller", {
  ...Common.network,
  listen: listen("127.0.0.1:9100"),
  dataDir,
  sessionTimeoutMs: optionalInt("session-timeout-ms", "FIBERLOG_SESSION_TIMEOUT_MS", "fence a broker silent this long (default 9000)"),
  offsetsTopicPartitions: optionalInt(
    "offsets-topic-partitions",
    "FIBERLOG_OFFSETS_TOPIC_PARTITIONS",
    "partitions of __consumer_offsets (default 10; 0: no consumer groups)"
  ),
  offsetsTopicReplicationFactor: optionalInt(
    "offsets-topic-replication-factor",
    "FIBERLOG_OFFSETS_TOPIC_REPLICATION_FACTOR",
    "replication factor of __consumer_offsets, created once this many brokers registered (default 3)"
  )
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const network = yield* Common.readNetwork(options)
    const running = yield* Server.controller({
      ...network,
      listen: yield* Common.address(options.listen),
      dataDir: ms(options.dataDir),
      sessionTimeoutMs: ms(options.sessionTimeoutMs),
      offsetsTopicPartitions: ms(options.offsetsTopicPartitions),
      offsetsTopicReplicationFactor: ms(options.offsetsTopicReplicationFactor)
    })
    yield* Console.log(readyLine(running.node.id, Server.formatAddress(running.address)))
    return yield* Effect.never
  })))).pipe(Command.withDescription("run the controller (broker registry, topics, leader election)"))

/** `fiberlog broker`. */
export const broker = Command.make("broker", {
  ...Common.network,
  id: Options.integer("id").pipe(Options.withFallbackConfig(Config.integer("FIBERLOG_BROKER_ID")), Options.withDescription("broker id (node id broker-<id>)")),
  listen: listen("127.0.0.1:9101"),
  controller: Options.text("controller").pipe(
    Options.withFallbackConfig(Config.string("FIBERLOG_CONTROLLER")),
    Options.withDefault("127.0.0.1:9100"),
    Options.withDescription("the controller's host:port")
  ),
  peers: Options.text("peers").pipe(
    Options.withFallbackConfig(Config.string("FIBERLOG_PEERS")),
    Options.withDefault(""),
    Options.withDescription("other brokers known up front: 2=host:port,... (the rest come from the controller)")
  ),
  dataDir,
  heartbeatIntervalMs: optionalInt("heartbeat-interval-ms", "FIBERLOG_HEARTBEAT_INTERVAL_MS", "heartbeat period (default 1000)"),
  replicaLagTimeMs: optionalInt("replica-lag-time-ms", "FIBERLOG_REPLICA_LAG_TIME_MS", "a follower behind this long leaves the ISR (default 10000)"),
  fetchMaxWaitMs: optionalInt("fetch-max-wait-ms", "FIBERLOG_FETCH_MAX_WAIT_MS", "followers' long-poll wait (default 500)"),
  flushIntervalMs: optionalInt("flush-interval-ms", "FIBERLOG_FLUSH_INTERVAL_MS", "fsync logs this often (default: left to the OS)")
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const network = yield* Common.readNetwork(options)
    const running = yield* Server.broker({
      ...network,
      brokerId: options.id,
      listen: yield* Common.address(options.listen),
      controller: yield* Common.address(options.controller),
      peers: yield* Common.peers(options.peers),
      dataDir: ms(options.dataDir),
      heartbeatIntervalMs: ms(options.heartbeatIntervalMs),
      replicaLagTimeMs: ms(options.replicaLagTimeMs),
      fetchMaxWaitMs: ms(options.fetchMaxWaitMs),
      flushIntervalMs: ms(options.flushIntervalMs)
    })
    yield* Console.log(readyLine(running.node.id, Server.formatAddress(running.address)))
    return yield* Effect.never
  })))).pipe(Command.withDescription("run a broker (partition replicas and group coordinators)"))
