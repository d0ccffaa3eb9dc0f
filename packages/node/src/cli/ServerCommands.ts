/**
 * `fiberlog controller` and `fiberlog broker`: run a server until interrupted (SIGINT / SIGTERM
 * close its logs cleanly and release the data directory's lock; SIGKILL is what `FileLog`'s
 * recovery is for, and the lock it leaves is taken over). Once listening, each prints one line
 * `fiberlog <node-id> listening on <host:port>` on stdout (followed by `, advertised as
 * <host:port>` when `--advertise` differs). TLS comes from `--tls-cert` / `--tls-key` /
 * `--tls-ca` (see `common.ts`), and `--tls-require-client-cert` for mutual TLS.
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

const advertise = Options.text("advertise").pipe(
  Options.withFallbackConfig(Config.string("FIBERLOG_ADVERTISE")),
  Options.optional,
  Options.withDescription("host:port other nodes and clients are told to reach this server at (default: --listen)")
)

const dataDir = Options.directory("data-dir").pipe(
  Options.withFallbackConfig(Config.string("FIBERLOG_DATA_DIR")),
  Options.optional,
  Options.withDescription("where logs are kept (FileLog; locked by <dir>/.lock while in use); without it they live in memory")
)

/** The server options every server shares beside the network's. */
const serverNetwork = { ...Common.network, tlsRequireClientCert: Common.tlsRequireClientCert, advertise }

/** Parses `--advertise`: a real port (others cannot dial port 0). */
const advertised = (input: Option.Option<string>) =>
  Option.match(input, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Effect.filterOrFail(
        Common.address(text),
        (address) => address.port !== 0,
        () => new Common.CliError({ message: `--advertise ${text}: the port must be the one others dial, not 0` })
      )
  })

const optionalInt = (name: string, env: string, description: string) =>
  Options.integer(name).pipe(Options.withFallbackConfig(Config.integer(env)), Options.optional, Options.withDescription(description))

const ms = <A>(value: Option.Option<A>): A | undefined => Option.getOrUndefined(value)

/** The line a server prints once it listens (launchers wait for its start). */
export const readyLine = (nodeId: string, address: string, advertisedAs?: string) =>
  `fiberlog ${nodeId} listening on ${address}${advertisedAs === undefined || advertisedAs === address ? "" : `, advertised as ${advertisedAs}`}`

const ready = (running: Server.Running) =>
  Console.log(readyLine(running.node.id, Server.formatAddress(running.address), Server.formatAddress(running.advertised)))

/** `fiberlog controller`. */
export const controller = Command.make("controller", {
  ...serverNetwork,
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
      advertise: yield* advertised(options.advertise),
      dataDir: ms(options.dataDir),
      sessionTimeoutMs: ms(options.sessionTimeoutMs),
      offsetsTopicPartitions: ms(options.offsetsTopicPartitions),
      offsetsTopicReplicationFactor: ms(options.offsetsTopicReplicationFactor)
    })
    yield* ready(running)
    return yield* Effect.never
  })))).pipe(Command.withDescription("run the controller (broker registry, topics, leader election)"))

/** `fiberlog broker`. */
export const broker = Command.make("broker", {
  ...serverNetwork,
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
      advertise: yield* advertised(options.advertise),
      controller: yield* Common.address(options.controller),
      peers: yield* Common.peers(options.peers),
      dataDir: ms(options.dataDir),
      heartbeatIntervalMs: ms(options.heartbeatIntervalMs),
      replicaLagTimeMs: ms(options.replicaLagTimeMs),
      fetchMaxWaitMs: ms(options.fetchMaxWaitMs),
      flushIntervalMs: ms(options.flushIntervalMs)
    })
    yield* ready(running)
    return yield* Effect.never
  })))).pipe(Command.withDescription("run a broker (partition replicas and group coordinators)"))
