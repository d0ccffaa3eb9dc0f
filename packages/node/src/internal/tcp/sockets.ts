/**
 * Opening sockets: dialled (`net` or `tls`) and accepted (plain, or wrapped in a server-side
 * `tls.TLSSocket`), each as an `@effect/platform` `Socket` over the Node stream, so the rest of the
 * transport never sees the difference.
 *
 * @internal
 */
import { Socket } from "@effect/platform"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect } from "effect"
import * as Net from "node:net"
import type { Duplex } from "node:stream"
import * as Tls from "node:tls"
import { ConnectFailed, TlsFailed } from "./errors.js"

/** TLS material, loaded once. */
export interface TlsContext {
  readonly server: Tls.SecureContext
  readonly client: Tls.ConnectionOptions
  readonly requireClientCert: boolean
}

/** Where a node listens. */
export interface Address {
  readonly host: string
  readonly port: number
}

const connectCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"])

const openError = (cause: unknown) => new Socket.SocketGenericError({ reason: "Open", cause })

const ignore = () => {}

/** Destroys a socket now, whatever is buffered. */
const destroy = (conn: Duplex) => Effect.sync(() => conn.destroy())

/**
 * A socket dialled to `address`; `onOpen` receives the Node stream (to pause and resume reading).
 * The connection opens when the socket runs.
 */
export const dial = (
  peer: string,
  address: Address,
  tls: TlsContext | undefined,
  onOpen: (conn: Duplex) => void
): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(
    Effect.acquireRelease(
      Effect.async<Duplex, Socket.SocketError>((resume) => {
        let settled = false
        const conn: Net.Socket = tls === undefined
          ? Net.createConnection({ host: address.host, port: address.port, noDelay: true })
          : Tls.connect({ ...tls.client, host: address.host, port: address.port })
        conn.on("error", ignore)
        onOpen(conn)
        const settle = (effect: Effect.Effect<Duplex, Socket.SocketError>) => {
          if (settled) return
          settled = true
          resume(effect)
        }
        conn.once(tls === undefined ? "connect" : "secureConnect", () => {
          conn.setNoDelay(true)
          settle(Effect.succeed(conn))
        })
        conn.once("error", (error: NodeJS.ErrnoException) => {
          const detail = `${address.host}:${address.port}: ${error.message}`
          settle(Effect.fail(openError(
            tls !== undefined && !connectCodes.has(error.code ?? "")
              ? new TlsFailed({ detail })
              : new ConnectFailed({ peer, detail })
          )))
        })
        conn.once("close", () => settle(Effect.fail(openError(new ConnectFailed({ peer, detail: "closed while opening" })))))
        return Effect.sync(() => conn.destroy())
      }),
      destroy
    )
  )

/** A socket over an accepted connection, after the TLS handshake when `tls` is set. */
export const accept = (
  raw: Net.Socket,
  tls: TlsContext | undefined,
  onOpen: (conn: Duplex) => void
): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(
    Effect.acquireRelease(
      Effect.async<Duplex, Socket.SocketError>((resume) => {
        raw.on("error", ignore)
        raw.setNoDelay(true)
        if (tls === undefined) {
          onOpen(raw)
          return resume(raw.closed ? Effect.fail(openError(new ConnectFailed({ peer: "?", detail: "closed" }))) : Effect.succeed(raw))
        }
        let settled = false
        const settle = (effect: Effect.Effect<Duplex, Socket.SocketError>) => {
          if (settled) return
          settled = true
          resume(effect)
        }
        const secure = new Tls.TLSSocket(raw, {
          isServer: true,
          secureContext: tls.server,
          requestCert: tls.requireClientCert,
          rejectUnauthorized: tls.requireClientCert
        })
        secure.on("error", ignore)
        onOpen(secure)
        secure.once("secure", () => settle(Effect.succeed(secure)))
        secure.once("error", (error) => settle(Effect.fail(openError(new TlsFailed({ detail: error.message })))))
        secure.once("close", () => settle(Effect.fail(openError(new TlsFailed({ detail: "closed during the TLS handshake" })))))
        return Effect.sync(() => {
          secure.destroy()
          raw.destroy()
        })
      }),
      (conn) => Effect.sync(() => {
        conn.destroy()
        raw.destroy()
      })
    )
  )
