/**
 * The typed errors of the TCP network. Connection errors end one connection (they are logged, or
 * handed to `onConnectionError`); the listener keeps serving the others.
 *
 * @internal
 */
import { Data } from "effect"

/** Why a handshake was refused: the other side is in another cluster, speaks another version, is
 * not the node we dialled, or failed authentication; `protocol` is a frame out of order. */
export type RefusalReason = "cluster-id" | "version" | "node-id" | "auth" | "protocol"

/** A handshake was refused: by us (`side: "local"`) or by the peer (`side: "remote"`). */
export class HandshakeRefused extends Data.TaggedError("HandshakeRefused")<{
  readonly side: "local" | "remote"
  readonly reason: RefusalReason
  readonly detail: string
}> {
  override get message() {
    return `handshake refused (${this.side}, ${this.reason}): ${this.detail}`
  }
}

/** The handshake did not complete within `handshakeTimeoutMs`. */
export class HandshakeTimeout extends Data.TaggedError("HandshakeTimeout")<{
  readonly timeoutMs: number
}> {
  override get message() {
    return `handshake not completed within ${this.timeoutMs} ms`
  }
}

/** A frame that is not MessagePack, not a handshake frame or an `Envelope.Wire`, or not from the
 * authenticated peer. */
export class MalformedFrame extends Data.TaggedError("MalformedFrame")<{
  readonly detail: string
}> {
  override get message() {
    return `malformed frame: ${this.detail}`
  }
}

/** More than `maxBytes` arrived without completing one frame. */
export class FrameTooLarge extends Data.TaggedError("FrameTooLarge")<{
  readonly bytes: number
  readonly maxBytes: number
}> {
  override get message() {
    return `frame of at least ${this.bytes} bytes exceeds the maximum of ${this.maxBytes}`
  }
}

/** The TLS handshake failed (plaintext to a TLS listener, an untrusted certificate...). */
export class TlsFailed extends Data.TaggedError("TlsFailed")<{
  readonly detail: string
}> {
  override get message() {
    return `TLS failed: ${this.detail}`
  }
}

/** Dialling a peer failed (refused, unreachable, no address in the directory). */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly peer: string
  readonly detail: string
}> {
  override get message() {
    return `cannot connect to ${this.peer}: ${this.detail}`
  }
}

/** The connection closed or failed (read/write error, end of stream). */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{
  readonly detail: string
}> {
  override get message() {
    return `connection closed: ${this.detail}`
  }
}

/** The outbound queue to a peer stayed full for `timeoutMs`: the peer stopped reading. The
 * connection is closed and the send fails with `NodeUnreachable`. */
export class SendTimeout extends Data.TaggedError("SendTimeout")<{
  readonly peer: string
  readonly queuedBytes: number
  readonly maxQueuedBytes: number
  readonly timeoutMs: number
}> {
  override get message() {
    return `outbound queue to ${this.peer} full (${this.queuedBytes}/${this.maxQueuedBytes} bytes) for ${this.timeoutMs} ms`
  }
}

/** Everything that can end one connection. */
export type ConnectionError =
  | HandshakeRefused
  | HandshakeTimeout
  | MalformedFrame
  | FrameTooLarge
  | TlsFailed
  | ConnectFailed
  | ConnectionClosed
  | SendTimeout

/** The listener could not bind its address (a defect of `connect`: the node cannot join). */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly address: string
  readonly detail: string
}> {}

/** A TLS certificate, key or CA file could not be read. */
export class TlsConfigError extends Data.TaggedError("TlsConfigError")<{
  readonly path: string
  readonly detail: string
}> {}
