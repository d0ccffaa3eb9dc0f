/**
 * One TCP connection between two nodes, from the first byte to the close: the handshake, then
 * envelopes both ways. Outbound frames wait in a queue bounded in bytes (senders wait up to
 * `sendTimeoutMs` for room); a writer drains it in batches through `MsgPack.pack` into the
 * socket, waiting for each write to flush, so a peer that stops reading stops the writer and fills
 * the queue instead of memory. Inbound, reading pauses once `maxInboundBytes` wait unprocessed,
 * and more than `maxFrameBytes` without a complete frame ends the connection.
 *
 * @internal
 */
import { MsgPack, Socket } from "@effect/platform"
import { Envelope, type NodeId as NodeIds, type Transport } from "@fiberlog/core"
import { Cause, Channel, Chunk, Deferred, Effect, Either, Exit, FiberId, Stream } from "effect"
import type { Duplex } from "node:stream"
import {
  type ConnectionError,
  ConnectionClosed,
  ConnectFailed,
  FrameTooLarge,
  HandshakeTimeout,
  MalformedFrame,
  SendTimeout,
  TlsFailed
} from "./errors.js"
import * as Handshake from "./handshake.js"
import { decodeEnvelope, decodeHandshake, detach, flattenBatch, type HandshakeFrame } from "./wire.js"

type NodeId = NodeIds.NodeId

/** The limits of one connection. */
export interface Limits {
  readonly maxFrameBytes: number
  readonly maxQueuedBytes: number
  readonly maxBatchBytes: number
  readonly maxInboundBytes: number
  readonly sendTimeoutMs: number
  readonly handshakeTimeoutMs: number
}

/** Why a link stopped taking frames. */
export class LinkClosed {
  readonly _tag = "LinkClosed"
}

/** One connection: its queues, its state, and the effect that runs it. */
export class Link {
  /** The peer, once the handshake named it (at once for a dialled link). */
  peer: NodeId | undefined
  open = false
  closed = false
  /** Bytes (upper bound) of envelopes queued and not yet taken by the writer. */
  queuedBytes = 0
  /** Bytes read from the socket and not yet taken by the decoder. */
  inboundBytes = 0
  /** The socket, once opened (to pause and resume reading). */
  duplex: Duplex | undefined
  /** Completes when the handshake opens the link, or fails with why it never did. */
  readonly opened = Deferred.unsafeMake<NodeId, ConnectionError>(FiberId.none)
  /** Completes with why the link ended. */
  readonly ended = Deferred.unsafeMake<ConnectionError>(FiberId.none)

  private readonly control: Array<HandshakeFrame> = []
  private readonly data: Array<unknown> = []
  private readonly sizes: Array<number> = []
  private readonly wake = Effect.unsafeMakeLatch(false)
  private readonly space = Effect.unsafeMakeLatch(true)
  private paused = false
  /** Reads taken off the socket and not yet handed to the decoder. */
  private held: Array<Uint8Array> = []
  private heldBytes = 0
  private pendingFrameBytes = 0
  /** Completed once the frame queued by `fail` is taken, then once the batch after it is asked for. */
  private flushWaiter: Deferred.Deferred<void> | undefined
  private inFlight: Deferred.Deferred<void> | undefined
  private abortWith: ConnectionError | undefined
  private readonly aborted = Deferred.unsafeMake<never, ConnectionError>(FiberId.none)

  constructor(
    readonly config: Handshake.Config,
    readonly limits: Limits,
    readonly handler: Transport.Handler,
    private state: Handshake.State,
    /** Called as the handshake completes, before any envelope is read. */
    private readonly onOpened: (link: Link) => void
  ) {}

  /** Queues the dialer's first frame. */
  start(hello: HandshakeFrame): void {
    this.sendControl(hello)
  }

  /** Queues an envelope of at most `bytes` encoded bytes, waiting up to `sendTimeoutMs` for room. */
  enqueue(frame: unknown, bytes: number): Effect.Effect<void, SendTimeout | LinkClosed> {
    return Effect.suspend((): Effect.Effect<void, SendTimeout | LinkClosed> => {
      if (this.closed) return Effect.fail(new LinkClosed())
      if (this.queuedBytes === 0 || this.queuedBytes + bytes <= this.limits.maxQueuedBytes) {
        this.data.push(frame)
        this.sizes.push(bytes)
        this.queuedBytes += bytes
        this.wake.unsafeOpen()
        return Effect.void
      }
      this.space.unsafeClose()
      return this.space.await.pipe(
        Effect.timeoutFail({
          duration: this.limits.sendTimeoutMs,
          onTimeout: () =>
            new SendTimeout({
              peer: `${this.peer}`,
              queuedBytes: this.queuedBytes,
              maxQueuedBytes: this.limits.maxQueuedBytes,
              timeoutMs: this.limits.sendTimeoutMs
            })
        }),
        Effect.zipRight(this.enqueue(frame, bytes))
      )
    })
  }

  /** Ends the link with `error` (the running effect stops and the socket is destroyed). */
  abort(error: ConnectionError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.abortWith ??= error
      return Effect.asVoid(Deferred.fail(this.aborted, error))
    })
  }

  /** Queues a handshake frame (sent before any envelope). */
  private sendControl(frame: HandshakeFrame) {
    this.control.push(frame)
    this.wake.unsafeOpen()
  }

  /** The writer's next batch: handshake frames first, envelopes once open, at most `maxBatchBytes`. */
  private readonly takeBatch: Effect.Effect<Chunk.Chunk<unknown>> = Effect.suspend(() => {
    if (this.inFlight !== undefined) {
      // The writer asks for a batch only once the previous one is written.
      Deferred.unsafeDone(this.inFlight, Exit.void)
      this.inFlight = undefined
    }
    if (this.control.length > 0) {
      this.inFlight = this.flushWaiter
      this.flushWaiter = undefined
      return Effect.succeed(Chunk.unsafeFromArray(this.control.splice(0)))
    }
    if (this.open && this.data.length > 0) {
      let count = 0
      let bytes = 0
      while (count < this.data.length && (count === 0 || bytes + this.sizes[count]! <= this.limits.maxBatchBytes)) {
        bytes += this.sizes[count]!
        count++
      }
      const batch = this.data.splice(0, count)
      this.sizes.splice(0, count)
      this.queuedBytes -= bytes
      this.space.unsafeOpen()
      return Effect.succeed(Chunk.unsafeFromArray(batch))
    }
    this.wake.unsafeClose()
    return Effect.zipRight(this.wake.await, this.takeBatch)
  })

  /**
   * Takes one read off the socket: holds it for the decoder and counts it; pauses reading past
   * `maxInboundBytes`. What reaches the mailbox is only the count: `guard` hands the held bytes over.
   */
  private readonly onData = (data: Uint8Array | string): number => {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
    this.held.push(bytes)
    this.heldBytes += bytes.length
    this.inboundBytes += bytes.length
    if (!this.paused && this.inboundBytes > this.limits.maxInboundBytes && this.duplex !== undefined) {
      this.paused = true
      this.duplex.pause()
    }
    return bytes.length
  }

  /**
   * Hands the held reads to the decoder as one buffer: at once at a frame's start or once as many
   * bytes wait as the decoder already holds of an incomplete frame, else after one more event-loop
   * turn (whose reads join them). `MsgPack.unpack` copies its incomplete frame with every buffer it
   * gets: one buffer per turn instead of one per 64 KiB read cuts that copying of a large frame by
   * the reads per turn. Resumes reading, and enforces `maxFrameBytes`.
   */
  private readonly guard = (_reads: Chunk.Chunk<number>): Effect.Effect<Chunk.Chunk<Uint8Array>, FrameTooLarge> =>
    Effect.suspend(() => {
      if (this.heldBytes === 0) return Effect.succeed(Chunk.empty())
      // Inside a large frame, let one event-loop turn's reads join the held ones first.
      if (!releaseReads(this.pendingFrameBytes, this.heldBytes)) return Effect.zipRight(nextTurn, this.release())
      return this.release()
    })

  private release(): Effect.Effect<Chunk.Chunk<Uint8Array>, FrameTooLarge> {
    const bytes = this.heldBytes
    const buffer = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, bytes)
    this.held = []
    this.heldBytes = 0
    this.inboundBytes -= bytes
    if (this.paused && this.inboundBytes <= this.limits.maxInboundBytes / 2) {
      this.paused = false
      this.duplex?.resume()
    }
    this.pendingFrameBytes += bytes
    // A read completing a frame may carry the start of the next: allow one read beyond the limit.
    if (this.pendingFrameBytes > this.limits.maxFrameBytes + bytes) {
      return Effect.fail(new FrameTooLarge({ bytes: this.pendingFrameBytes, maxBytes: this.limits.maxFrameBytes }))
    }
    return Effect.succeed(Chunk.of(buffer))
  }

  /** Handles the frames of one read, in order. */
  private readonly receive = (items: Chunk.Chunk<unknown>): Effect.Effect<void, ConnectionError> =>
    Effect.suspend(() => {
      // `MsgPack.unpack` writes an empty chunk for a read that completed no frame.
      if (Chunk.isEmpty(items)) return Effect.void
      this.pendingFrameBytes = 0
      const frames = flattenBatch(items)
      let index = 0
      const loop: Effect.Effect<void, ConnectionError> = Effect.suspend(() => {
        while (index < frames.length) {
          const frame = frames[index++]
          if (!this.open) return Effect.zipRight(this.onHandshake(frame), loop)
          const delivered = this.onEnvelope(frame)
          if (delivered !== undefined) return Effect.zipRight(delivered, loop)
        }
        return Effect.void
      })
      return loop
    })

  private onHandshake(item: unknown): Effect.Effect<void, ConnectionError> {
    const decoded = decodeHandshake(item)
    if (Either.isLeft(decoded)) {
      return this.fail(new MalformedFrame({ detail: `not a handshake frame: ${decoded.left.message}` }), {
        _tag: "Refused",
        reason: "protocol",
        detail: "expected a handshake frame"
      })
    }
    const next = Handshake.step(this.config, this.state, decoded.right)
    switch (next._tag) {
      case "Continue":
        this.state = next.next
        this.sendControl(next.send)
        return Effect.void
      case "Open":
        if (next.send !== undefined) this.sendControl(next.send)
        this.peer = next.peer
        this.open = true
        this.onOpened(this)
        this.wake.unsafeOpen()
        return Effect.asVoid(Deferred.succeed(this.opened, next.peer))
      case "Fail":
        return this.fail(next.error, next.send)
    }
  }

  /** Sends the refusal, if any, waits until it is written, then fails. */
  private fail(error: ConnectionError, refusal: HandshakeFrame | undefined): Effect.Effect<never, ConnectionError> {
    if (refusal === undefined) return Effect.fail(error)
    const flushed = Deferred.unsafeMake<void>(FiberId.none)
    this.flushWaiter = flushed
    this.sendControl(refusal)
    return Effect.zipRight(Deferred.await(flushed), Effect.fail(error))
  }

  /** Delivers one envelope; `undefined` when there is nothing to wait for. */
  private onEnvelope(item: unknown): Effect.Effect<void, ConnectionError> | undefined {
    const decoded = decodeEnvelope(item)
    if (Either.isLeft(decoded)) {
      return Effect.fail(new MalformedFrame({ detail: `not an envelope: ${decoded.left.message}` }))
    }
    const envelope = decoded.right
    if (envelope.from !== this.peer || envelope.to !== this.config.self) {
      return Effect.fail(
        new MalformedFrame({ detail: `envelope ${envelope.from} -> ${envelope.to} on the link ${this.peer} -> ${this.config.self}` })
      )
    }
    const payload = detach(envelope.payload)
    if (Either.isLeft(payload)) return Effect.fail(new MalformedFrame({ detail: payload.left }))
    return this.handler.deliver(Envelope.make({ ...envelope, payload: payload.right }))
  }

  /**
   * Runs the link over `socket` until it ends, then completes `ended` (and `opened`, if the
   * handshake never finished) with the reason. Never fails.
   */
  run(socket: Socket.Socket): Effect.Effect<ConnectionError> {
    const wire = Channel.mapOutEffect(Socket.toChannelMap(socket, this.onData), this.guard)
    const pipeline = Stream.repeatEffectChunk(this.takeBatch).pipe(
      Stream.pipeThroughChannel(MsgPack.duplex(wire)),
      Stream.mapChunksEffect((items) => Effect.as(this.receive(items), Chunk.empty<never>())),
      Stream.runDrain,
      Effect.zipRight(Effect.fail(new ConnectionClosed({ detail: "end of stream" }))),
      Effect.mapError(toConnectionError)
    )
    const deadline = Effect.sleep(this.limits.handshakeTimeoutMs).pipe(
      Effect.zipRight(
        Effect.suspend(() =>
          this.open ? Effect.never : Effect.fail(new HandshakeTimeout({ timeoutMs: this.limits.handshakeTimeoutMs }))
        )
      )
    )
    return Effect.raceFirst(pipeline, Effect.raceFirst(deadline, Deferred.await(this.aborted))).pipe(
      Effect.flip,
      Effect.map((error) => this.abortWith ?? error),
      Effect.onExit((exit) =>
        Effect.suspend(() => {
          this.closed = true
          this.space.unsafeOpen()
          const reason = Exit.isSuccess(exit) ? exit.value : new ConnectionClosed({ detail: Cause.pretty(exit.cause) })
          return Effect.zipRight(Deferred.fail(this.opened, reason), Deferred.succeed(this.ended, reason))
        })
      )
    )
  }
}

/**
 * Whether to hand `heldBytes` of reads to the decoder, which holds `pendingBytes` of an
 * incomplete frame: at a frame's start, or once the held bytes at least double what it holds.
 */
export const releaseReads = (pendingBytes: number, heldBytes: number): boolean =>
  pendingBytes === 0 || heldBytes >= pendingBytes

/** Completes after the event loop's next I/O poll (reads arriving meanwhile are taken first). */
const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Maps what a connection can fail with to its typed error. */
const toConnectionError = (error: unknown): ConnectionError => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    switch ((error as { _tag: string })._tag) {
      case "HandshakeRefused":
      case "HandshakeTimeout":
      case "MalformedFrame":
      case "FrameTooLarge":
      case "TlsFailed":
      case "ConnectFailed":
      case "ConnectionClosed":
      case "SendTimeout":
        return error as ConnectionError
      case "MsgPackError":
        return new MalformedFrame({ detail: "not MessagePack" })
    }
  }
  if (Socket.isSocketError(error)) {
    if (error.reason === "Open") {
      const cause = (error as Socket.SocketGenericError).cause
      if (cause instanceof TlsFailed || cause instanceof ConnectFailed) return cause
      return new ConnectFailed({ peer: "?", detail: String(cause) })
    }
    return new ConnectionClosed({ detail: error.message })
  }
  return new ConnectionClosed({ detail: String(error) })
}
