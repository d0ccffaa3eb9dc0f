/**
 * Options every `fiberlog` command shares, each with an environment fallback
 * (`FIBERLOG_CLUSTER_ID`, `FIBERLOG_SECRET_FILE`, `FIBERLOG_TLS_CERT`, `FIBERLOG_TLS_KEY`,
 * `FIBERLOG_TLS_CA`, `FIBERLOG_BOOTSTRAP`), and the parsing of addresses into typed values.
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

const pemFile = (name: string, env: string, description: string) =>
  Options.file(name).pipe(Options.withFallbackConfig(Config.string(env)), Options.optional, Options.withDescription(description))

/** `--tls-cert`: this node's certificate (PEM). With `--tls-key`, every connection is TLS. */
export const tlsCert = pemFile(
  "tls-cert",
  "FIBERLOG_TLS_CERT",
  "PEM certificate this node presents (TLS on every connection; needs --tls-key; clients too)"
)

/** `--tls-key`: the private key of `--tls-cert` (PEM). */
export const tlsKey = pemFile("tls-key", "FIBERLOG_TLS_KEY", "PEM private key of --tls-cert")

/** `--tls-ca`: the CA that signs the peers' certificates (PEM); default: the system's. */
export const tlsCa = pemFile("tls-ca", "FIBERLOG_TLS_CA", "PEM CA certificate peers are verified with (default: the system's CAs)")

/** `--tls-require-client-cert` (servers): accept only connections presenting a certificate the CA signed. */
export const tlsRequireClientCert = Options.boolean("tls-require-client-cert").pipe(
  Options.withFallbackConfig(Config.boolean("FIBERLOG_TLS_REQUIRE_CLIENT_CERT")),
  Options.withDescription("mutual TLS: refuse connections without a client certificate signed by --tls-ca")
)

/** The network settings shared by servers and clients. */
export const network = { clusterId, secretFile, tlsCert, tlsKey, tlsCa }

/** The network settings as parsed. */
export interface NetworkSettings {
  readonly clusterId: string
  readonly secretFile: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKey: Option.Option<string>
  readonly tlsCa: Option.Option<string>
  /** Servers only. */
  readonly tlsRequireClientCert?: boolean | undefined
}

const readable = (path: string, what: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.access(path, { readable: true }).pipe(
      Effect.mapError((error) => new CliError({ message: `cannot read the ${what} ${path}: ${error.message}` }))
    ))

/**
 * The TLS settings: none, or a certificate and its key (every node presents one, clients too, as
 * the TCP network both dials and listens with the same material), optionally a CA. Each file must
 * be readable.
 */
export const readTls = (
  options: NetworkSettings
): Effect.Effect<TcpNetwork.TlsOptions | undefined, CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const cert = Option.getOrUndefined(options.tlsCert)
    const key = Option.getOrUndefined(options.tlsKey)
    const ca = Option.getOrUndefined(options.tlsCa)
    if (cert === undefined && key === undefined) {
      if (ca !== undefined) return yield* new CliError({ message: "--tls-ca needs --tls-cert and --tls-key" })
      if (options.tlsRequireClientCert === true) {
        return yield* new CliError({ message: "--tls-require-client-cert needs --tls-cert, --tls-key and --tls-ca" })
      }
      return undefined
    }
    if (cert === undefined || key === undefined) {
      return yield* new CliError({ message: "--tls-cert and --tls-key go together (FIBERLOG_TLS_CERT, FIBERLOG_TLS_KEY)" })
    }
    yield* readable(cert, "TLS certificate")
    yield* readable(key, "TLS key")
    if (ca !== undefined) yield* readable(ca, "TLS CA certificate")
    return {
      certPath: cert,
      keyPath: key,
      ...(ca === undefined ? {} : { caPath: ca }),
      ...(options.tlsRequireClientCert === true ? { requireClientCert: true } : {})
    }
  })

/** Reads the network settings: the secret's first line, redacted, and the TLS files. */
export const readNetwork = (options: NetworkSettings): Effect.Effect<Server.Network, CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const tls = yield* readTls(options)
    const base = { clusterId: options.clusterId, ...(tls === undefined ? {} : { tls }) }
    if (Option.isNone(options.secretFile)) return base
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(options.secretFile.value).pipe(
      Effect.mapError((error) => new CliError({ message: `cannot read the secret file: ${error.message}` }))
    )
    const secret = text.split(/\r?\n/)[0]!.trim()
    if (secret.length === 0) return yield* Effect.fail(new CliError({ message: "the secret file is empty" }))
    return { ...base, secret: Redacted.make(secret) }
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
export const connect = (options: NetworkSettings & {
  readonly bootstrap: string
}): Effect.Effect<Server.Connection, CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const list = yield* peers(options.bootstrap)
    if (list.length === 0) return yield* Effect.fail(new CliError({ message: "--bootstrap lists no server" }))
    const settings = yield* readNetwork(options)
    return yield* Server.connect({ ...settings, bootstrap: list, clientId: "cli" }).pipe(
      Effect.mapError((error) => new CliError({ message: describe(error) }))
    )
  })

/** A failure's message, for the user (a tagged error without one: its tag, path and detail). */
export const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" && error.message.length > 0
    ? error.message
    : typeof error === "object" && error !== null && "_tag" in error
    ? [
      String(error._tag),
      ..."path" in error && typeof error.path === "string" ? [error.path] : [],
      ..."detail" in error && typeof error.detail === "string" ? [error.detail] : []
    ].join(": ")
    : String(error)

/** Maps every failure of a command to a `CliError` carrying its message. */
export const report = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, CliError, R> =>
  Effect.mapError(effect, (error) => error instanceof CliError ? error : new CliError({ message: describe(error) }))
