/**
 * The TCP network: core's `Network` over real sockets, for brokers in separate processes or
 * machines. Built on `@effect/platform`'s `Socket` / `SocketServer` (`NodeSocket`,
 * `NodeSocketServer`); every frame is one MessagePack value through `MsgPack`'s channels, and
 * binary payloads (record batches) travel as MessagePack `bin`, never as text.
 *
 * - Addressing: a `Directory` maps node ids to `{ host, port }`. A node listed there listens on
 *   its address when it joins (port 0 binds an ephemeral port and registers it back); a node not
 *   listed (a client) only dials. Peers are dialled lazily, on the first send.
 * - One connection serves both directions: replies to a client flow back on the connection it
 *   opened. When an established connection is lost, or a dial fails, the node is told
 *   (`peerDown`), so asks in flight fail at once.
 * - Every connection starts with a handshake (cluster id, node ids, protocol version), with
 *   optional mutual challenge/response authentication (HMAC-SHA256 over fresh nonces, the secret
 *   never sent) and optional TLS. A refused handshake, a frame that is not MessagePack, not a
 *   handshake frame or an `Envelope.Wire`, a frame over `maxFrameBytes`, or a timeout ends that
 *   connection with a typed `ConnectionError` (logged, or given to `onConnectionError`); the
 *   listener keeps serving the others.
 * - Limits: outbound, each connection queues at most `maxQueuedBytes` (an upper bound of the
 *   encoded size); a send that finds it full waits up to `sendTimeoutMs`, then the connection is
 *   closed as stuck (`SendTimeout`) and the send fails with `NodeUnreachable`. Inbound, reading
 *   pauses while `maxInboundBytes` of whole frames wait to be decoded, so a slow node pushes back
 *   on its senders (a frame still arriving is bounded by `maxFrameBytes` instead). The decoder is
 *   handed whole MessagePack values only (their ends found without decoding them), so a large
 *   frame is copied once, not once per read.
 * - Reconnection: after a failed dial, sends to that peer fail fast with `NodeUnreachable` until
 *   the `reconnect` schedule's next retry time; the next send after it dials again.
 *
 * @since 0.1.0
 */
import { Transport } from "@fiberlog/core"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { readFile } from "node:fs/promises"
import * as Tls from "node:tls"
import type { ConnectionError } from "./internal/tcp/errors.js"
import { TlsConfigError } from "./internal/tcp/errors.js"
import * as internal from "./internal/tcp/network.js"
import type * as Sockets from "./internal/tcp/sockets.js"

export {
  ConnectFailed,
  ConnectionClosed,
  type ConnectionError,
  FrameTooLarge,
  HandshakeRefused,
  HandshakeTimeout,
  ListenFailed,
  MalformedFrame,
  type RefusalReason,
  SendTimeout,
  TlsConfigError,
  TlsFailed
} from "./internal/tcp/errors.js"

/** The protocol version this build speaks in its handshake. */
export { protocolVersion } from "./internal/tcp/wire.js"

/** A listening address. */
export type Address = Sockets.Address

/** Where each node listens. Mutable: a node bound to port 0 registers its real port. */
export interface Directory extends internal.Directory {
  /** A snapshot of the entries. */
  readonly entries: () => ReadonlyArray<readonly [string, Address]>
}

/** Makes a directory from `{ nodeId: { host, port } }`. */
export const directory = (entries: Readonly<Record<string, Address>> = {}): Directory => {
  const map = new Map<string, Address>(Object.entries(entries))
  return {
    lookup: (node) => map.get(node),
    register: (node, address) => void map.set(node, address),
    entries: () => [...map.entries()]
  }
}

/** TLS from PEM files: the node's certificate and key, and the CA that signs its peers'. */
export interface TlsOptions {
  readonly certPath: string
  readonly keyPath: string
  /** CA to verify peers with; without it, the system's trusted CAs. */
  readonly caPath?: string | undefined
  /** Require and verify a client certificate on accepted connections (mutual TLS). Default false. */
  readonly requireClientCert?: boolean | undefined
}

/** Options of the TCP network. */
export interface Options {
  /** Nodes of another cluster are refused at the handshake. */
  readonly clusterId: string
  readonly directory: Directory
  /** Shared secret: peers must prove they hold it (challenge/response), and so must we. */
  readonly secret?: Redacted.Redacted<string> | undefined
  readonly tls?: TlsOptions | undefined
  /** Largest frame accepted or sent. Default 16 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** Outbound bytes queued per connection before sends wait. Default 16 MiB. */
  readonly maxQueuedBytes?: number | undefined
  /** Most bytes the writer packs into one write. Default 1 MiB. */
  readonly maxBatchBytes?: number | undefined
  /** Inbound bytes of whole frames read ahead of the decoder before reading pauses. Default 4 MiB. */
  readonly maxInboundBytes?: number | undefined
  /** How long a send waits for room in a full queue before the connection is closed. Default 5 s. */
  readonly sendTimeoutMs?: number | undefined
  /** Connect, TLS and handshake must complete within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number | undefined
  /** When to dial again after failed dials. Default exponential from 50 ms, capped at 5 s. */
  readonly reconnect?: Schedule.Schedule<unknown, unknown> | undefined
  /** Where connection errors go. Default: logged (closes at debug level, the rest as warnings). */
  readonly onConnectionError?:
    | ((error: ConnectionError, info: { readonly self: string; readonly peer: string | undefined }) => Effect.Effect<void>)
    | undefined
}

/** The defaults of the limits. */
export const defaults = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxBatchBytes: 1024 * 1024,
  maxInboundBytes: 4 * 1024 * 1024,
  sendTimeoutMs: 5_000,
  handshakeTimeoutMs: 10_000
} as const

const logError = (error: ConnectionError, info: { readonly self: string; readonly peer: string | undefined }) => {
  const text = `tcp ${info.self}${info.peer === undefined ? "" : ` <-> ${info.peer}`}: ${error.message}`
  return error._tag === "ConnectionClosed" ? Effect.logDebug(text) : Effect.logWarning(text)
}

const read = (path: string) =>
  Effect.tryPromise({ try: () => readFile(path), catch: (error) => new TlsConfigError({ path, detail: String(error) }) })

const loadTls = (options: TlsOptions): Effect.Effect<Sockets.TlsContext, TlsConfigError> =>
  Effect.gen(function*() {
    const cert = yield* read(options.certPath)
    const key = yield* read(options.keyPath)
    const ca = options.caPath === undefined ? undefined : yield* read(options.caPath)
    const server = yield* Effect.try({
      try: () => Tls.createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) }),
      catch: (error) => new TlsConfigError({ path: options.certPath, detail: String(error) })
    })
    return {
      server,
      client: { cert, key, ...(ca === undefined ? {} : { ca }) },
      requireClientCert: options.requireClientCert ?? false
    }
  })

/** Builds a TCP network. Fails only when the TLS files cannot be read. */
export const make = (options: Options): Effect.Effect<Transport.NetworkService, TlsConfigError> =>
  Effect.gen(function*() {
    const tls = options.tls === undefined ? undefined : yield* loadTls(options.tls)
    return internal.make({
      clusterId: options.clusterId,
      directory: options.directory,
      secret: options.secret === undefined ? undefined : new TextEncoder().encode(Redacted.value(options.secret)),
      tls,
      limits: {
        maxFrameBytes: options.maxFrameBytes ?? defaults.maxFrameBytes,
        maxQueuedBytes: options.maxQueuedBytes ?? defaults.maxQueuedBytes,
        maxBatchBytes: options.maxBatchBytes ?? defaults.maxBatchBytes,
        maxInboundBytes: options.maxInboundBytes ?? defaults.maxInboundBytes,
        sendTimeoutMs: options.sendTimeoutMs ?? defaults.sendTimeoutMs,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? defaults.handshakeTimeoutMs
      },
      reconnect: options.reconnect ??
        Schedule.exponential("50 millis").pipe(Schedule.union(Schedule.spaced("5 seconds"))),
      onConnectionError: options.onConnectionError ?? logError
    })
  })

/** The TCP network as core's `Network`. */
export const layer = (options: Options): Layer.Layer<Transport.Network, TlsConfigError> =>
  Layer.effect(Transport.Network, make(options))
