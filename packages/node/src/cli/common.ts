/**
 * Options every `fiberlog` command shares, each with an environment fallback
 * (`FIBERLOG_CLUSTER_ID`, `FIBERLOG_SECRET_FILE`, `FIBERLOG_BOOTSTRAP`), and the parsing of
 * addresses into typed values.
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Either, Option, Redacted, type Scope } from "effect"
import * as Server from "../Server.js"
import type * as TcpNetwork from "../TcpNetwork.js"

/** A command line value that does not make sense. */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

/** `--cluster-id` (default `fiberlog`). */
export const clusterId = Options.text("cluster-id").pipe(
  Options.withFallbackConfig(Config.string("FIBERLOG_CLUSTER_ID")),
  Options.withDefault("fiberlog"),
  Options.withDescription("cluster id; nodes of another cluster are refused at the handshake")
)

/** `--secret-file`: a file holding the shared secret (its first line). */
export const secretFile = Options.file("secret-file").pipe(
  Options.withFallbackConfig(Config.string("FIBERLOG_SECRET_FILE")),
  Options.optional,
  Options.withDescription("file holding the cluster's shared secret (HMAC challenge; never sent)")
)

/** The network settings shared by servers and clients. */
export const network = { clusterId, secretFile }

/** Reads the network settings: the secret's first line, redacted. */
export const readNetwork = (options: {
  readonly clusterId: string
  readonly secretFile: Option.Option<string>
}): Effect.Effect<Server.Network, CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (Option.isNone(options.secretFile)) return { clusterId: options.clusterId }
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(options.secretFile.value).pipe(
      Effect.mapError((error) => new CliError({ message: `cannot read the secret file: ${error.message}` }))
    )
    const secret = text.split(/\r?\n/)[0]!.trim()
    if (secret.length === 0) return yield* Effect.fail(new CliError({ message: "the secret file is empty" }))
    return { clusterId: options.clusterId, secret: Redacted.make(secret) }
  })

/** Parses `host:port`. */
export const address = (input: string): Effect.Effect<TcpNetwork.Address, CliError> =>
  Either.match(Server.parseAddress(input), {
    onLeft: (error) => Effect.fail(new CliError({ message: error.message })),
    onRight: Effect.succeed
  })

/** Parses `id=host:port,...`. */
export const peers = (input: string): Effect.Effect<ReadonlyArray<readonly [string, TcpNetwork.Address]>, CliError> =>
  Either.match(Server.parsePeers(input), {
    onLeft: (error) => Effect.fail(new CliError({ message: error.message })),
    onRight: Effect.succeed
  })

/** `--bootstrap`: `1=127.0.0.1:9101,controller=127.0.0.1:9100` (broker ids or node ids). */
export const bootstrap = Options.text("bootstrap").pipe(
  Options.withAlias("b"),
  Options.withFallbackConfig(Config.string("FIBERLOG_BOOTSTRAP")),
  Options.withDescription("servers to start from: id=host:port,... (a broker id such as 1, or controller)")
)

/** The options of every client command. */
export const client = { bootstrap, ...network }

/** Connects a client from the client options. */
export const connect = (options: {
  readonly bootstrap: string
  readonly clusterId: string
  readonly secretFile: Option.Option<string>
}): Effect.Effect<Server.Connection, CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const list = yield* peers(options.bootstrap)
    if (list.length === 0) return yield* Effect.fail(new CliError({ message: "--bootstrap lists no server" }))
    const settings = yield* readNetwork(options)
    return yield* Server.connect({ ...settings, bootstrap: list, clientId: "cli" }).pipe(
      Effect.mapError((error) => new CliError({ message: error.message }))
    )
  })

/** A failure's message, for the user. */
export const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" && error.message.length > 0
    ? error.message
    : typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : String(error)

/** Maps every failure of a command to a `CliError` carrying its message. */
export const report = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, CliError, R> =>
  Effect.mapError(effect, (error) => error instanceof CliError ? error : new CliError({ message: describe(error) }))
