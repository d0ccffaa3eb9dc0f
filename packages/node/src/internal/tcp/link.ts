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
import { FrameScanner } from "./scanner.js"
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
  /**
   * Bytes read from the socket and not yet taken by the decoder, but for an incomplete value at
   * their end (bounded by `maxFrameBytes`, so a frame larger than `maxInboundBytes` still arrives).
   */
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
  /** Where the held reads' whole values end; lost (reads go on as they come) if it meets the unknown. */
  private readonly scanner = new FrameScanner()
  /** Bytes fed to the scanner before the first held read. */
  private heldFrom = 0
  /** Bytes of the last read (a read completing a frame may carry the start of the next). */
  private lastRead = 0
  /** Items the decoder should make of the whole values handed to it (-1: none handed over). */
  private expectedItems = -1
  /** The scanner's item count at the first held read. */
  private itemsFrom = 0
  /**
   * Two buffers, used in turn, where the whole values of several reads are put together for the
   * decoder: reused, because fresh memory costs a page fault per 4 KiB on first touch (a buffer of
   * a few MB is new memory every time), more than copying it. What is decoded from one is copied
   * out (each binary at its size) before the link reads on; two in turn, so that should the
   * decoder ever keep an incomplete value's view of one, it copies it out with the next buffer
   * before that one is written again. Each up to twice `maxInboundBytes`.
   */
  private readonly scratch: Array<Uint8Array | undefined> = [undefined, undefined]
  private nextScratch = 0
  /** Set while values decoded from a scratch buffer have not been copied out yet. */
  private fromScratch = false
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
    this.lastRead = bytes.length
    if (this.scanner.lost) {
      this.inboundBytes += bytes.length
    } else {
      this.scanner.feed(bytes)
      // Only whole values wait for the decoder; an incomplete one is bounded by `maxFrameBytes`.
      this.inboundBytes = this.scanner.lost ? this.heldBytes : this.scanner.boundary - this.heldFrom
    }
    if (!this.paused && this.inboundBytes > this.limits.maxInboundBytes && this.duplex !== undefined) {
      this.paused = true
      this.duplex.pause()
    }
    return bytes.length
  }

  /**
   * Hands held reads to the decoder as one buffer. With the scanner: the whole values among them,
   * as soon as there are any (values of several reads are put together once, in a reused `scratch`
   * buffer), keeping an incomplete one back. `MsgPack.unpack` given an incomplete frame copies it, into
   * fresh memory, with every buffer it gets after; so it never gets one. Without the scanner (lost):
   * all of them, at once at a frame's start or once as many bytes wait as the decoder already holds
   * of an incomplete frame, else after one more event-loop turn (whose reads join them), which
   * cuts that copying by the reads per turn. Resumes reading, and enforces `maxFrameBytes`.
   */
  private readonly guard = (_reads: Chunk.Chunk<number>): Effect.Effect<Chunk.Chunk<Uint8Array>, FrameTooLarge> =>
    Effect.suspend(() => {
      if (this.heldBytes === 0) return Effect.succeed(Chunk.empty())
      if (!this.scanner.lost) return this.releaseWhole()
      // Inside a large frame, let one event-loop turn's reads join the held ones first.
      if (!releaseReads(this.pendingFrameBytes, this.heldBytes)) return Effect.zipRight(nextTurn, this.release())
      return this.release()
    })

  /** Hands over the held reads up to the scanner's last boundary; holds the incomplete value after it. */
  private releaseWhole(): Effect.Effect<Chunk.Chunk<Uint8Array>, FrameTooLarge> {
    const whole = this.scanner.boundary - this.heldFrom
    const incomplete = this.heldBytes - whole
    // A read completing a frame may carry the start of the next: allow one read beyond the limit.
    if (incomplete > this.limits.maxFrameBytes + this.lastRead) {
      return Effect.fail(new FrameTooLarge({ bytes: incomplete, maxBytes: this.limits.maxFrameBytes }))
    }
    if (whole === 0) return Effect.succeed(Chunk.empty())
    let buffer: Uint8Array
    if (incomplete === 0) {
      buffer = this.held.length === 1 ? this.held[0]! : this.join(this.held, whole)
      this.held = []
    } else {
      // Split the held reads at the boundary: the whole values go, the rest stays held.
      const parts: Array<Uint8Array> = []
      let taken = 0
      let index = 0
      while (taken < whole) {
        const read = this.held[index]!
        if (taken + read.length <= whole) {
          parts.push(read)
          taken += read.length
          index++
        } else {
          const cut = whole - taken
          parts.push(read.subarray(0, cut))
          this.held[index] = read.subarray(cut)
          taken = whole
        }
      }
      this.held.splice(0, index)
      buffer = parts.length === 1 ? parts[0]! : this.join(parts, whole)
    }
    this.heldBytes -= whole
    this.heldFrom += whole
    this.expectedItems = this.scanner.items - this.itemsFrom
    this.itemsFrom = this.scanner.items
    this.inboundBytes = 0
    if (this.paused) {
      this.paused = false
      this.duplex?.resume()
    }
    return Effect.succeed(Chunk.of(buffer))
  }

  /** `parts` (of `bytes` in all) put together in the next scratch buffer (see `scratch`). */
  private join(parts: ReadonlyArray<Uint8Array>, bytes: number): Uint8Array {
    const limit = 2 * this.limits.maxInboundBytes
    if (bytes > limit) return Buffer.concat(parts, bytes)
    let buffer = this.scratch[this.nextScratch]
    if (buffer === undefined || buffer.length < bytes) {
      buffer = new Uint8Array(Math.min(limit, Math.max(bytes, 2 * (buffer?.length ?? 0))))
      this.scratch[this.nextScratch] = buffer
    }
    this.nextScratch ^= 1
    let at = 0
    for (const part of parts) {
      buffer.set(part, at)
      at += part.length
    }
    this.fromScratch = true
    return buffer.subarray(0, bytes)
  }

  /** Stops using the scanner: the held reads go to the decoder as `release` hands them. */
  private loseScanner(): void {
    this.scanner.lost = true
    this.inboundBytes = this.heldBytes
  }

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
      // Given whole values, the decoder makes as many items as the scanner counted; else the
      // scanner got this stream wrong: stop trusting it (the held reads then go on as they come,
      // so nothing waits for it).
      if (this.expectedItems >= 0 && Chunk.size(items) !== this.expectedItems) this.loseScanner()
      this.expectedItems = -1
      const fromScratch = this.fromScratch
      this.fromScratch = false
      // `MsgPack.unpack` writes an empty chunk for a read that completed no frame.
      if (Chunk.isEmpty(items)) return Effect.void
      this.pendingFrameBytes = 0
      const frames = flattenBatch(items)
      if (fromScratch) {
        // Own every binary now: the scratch buffer is written again two releases on.
        for (let i = 0; i < frames.length; i++) {
          const owned = detach(frames[i], 0, true)
          if (Either.isLeft(owned)) return Effect.fail(new MalformedFrame({ detail: owned.left }))
          frames[i] = owned.right
        }
      }
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
