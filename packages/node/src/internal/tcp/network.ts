/**
 * The TCP network's machinery: one endpoint per joined node, holding its listener, its links by
 * peer, the dials in progress and the reconnection backoff per peer.
 *
 * A connection is shared both ways: whoever dialled it, envelopes to the peer at its other end use
 * it. So a node that does not listen (a client, absent from the directory) still gets its replies,
 * on the connection it opened. Two nodes dialling each other at once keep both connections; each
 * sends on the first that opened.
 *
 * @internal
 */
import type { Socket } from "@effect/platform"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { Envelope, type NodeId as NodeIds, Transport } from "@fiberlog/core"
import {
  Clock,
  Effect,
  Either,
  ExecutionStrategy,
  FiberSet,
  type Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  Scope
} from "effect"
import { randomBytes } from "node:crypto"
import { type ConnectionError, ListenFailed } from "./errors.js"
import * as Handshake from "./handshake.js"
import { Link, type Limits } from "./link.js"
import * as Sockets from "./sockets.js"
import { decodeEnvelope, measure, nonceBytes, protocolVersion } from "./wire.js"

type NodeId = NodeIds.NodeId

/** Maps node ids to listening addresses; `register` records a port bound as 0. */
export interface Directory {
  readonly lookup: (node: NodeId) => Sockets.Address | undefined
  readonly register: (node: NodeId, address: Sockets.Address) => void
}

/** What the endpoint reports about one connection's end. */
export interface ConnectionInfo {
  readonly self: NodeId
  readonly peer: NodeId | undefined
}

/** The network's settings, defaults applied. */
export interface Settings {
  readonly clusterId: string
  readonly directory: Directory
  readonly secret: Uint8Array | undefined
  readonly tls: Sockets.TlsContext | undefined
  readonly limits: Limits
  readonly reconnect: Schedule.Schedule<unknown, unknown>
  readonly onConnectionError: (error: ConnectionError, info: ConnectionInfo) => Effect.Effect<void>
}

/**
 * A fresh challenge. Handshake nonces must be unpredictable, so they come from `node:crypto`
 * rather than from Effect's (seedable) `Random`.
 */
const nonce = () => new Uint8Array(randomBytes(nonceBytes))

interface Backoff {
  readonly state: unknown
  readonly retryAtMs: number
}

/** Builds the network service. */
export const make = (settings: Settings): Transport.NetworkService => {
  const joined = new Set<NodeId>()
  return {
    connect: (self, handler) =>
      Effect.gen(function*() {
        if (joined.has(self)) return yield* Effect.fail(new Transport.NodeIdInUse({ node: self }))
        joined.add(self)
        yield* Effect.addFinalizer(() => Effect.sync(() => joined.delete(self)))
        const scope = yield* Effect.scope
        const config: Handshake.Config = { clusterId: settings.clusterId, self, secret: settings.secret, version: protocolVersion }
        const established = new Map<NodeId, Array<Link>>()
        const dialing = new Map<NodeId, Link>()
        const backoff = new Map<NodeId, Backoff>()
        let open = true

        // Closing runs in reverse: stop taking sends, destroy every connection, close the server
        // (still accepting, and at once destroying, connections that arrive meanwhile), stop it.
        const serverScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const address = settings.directory.lookup(self)
        const server = address === undefined ? undefined : yield* NodeSocketServer.make({ host: address.host, port: address.port }).pipe(
          Effect.mapError((error) => new ListenFailed({ address: `${address.host}:${address.port}`, detail: String(error.cause) })),
          Effect.orDie
        )
        const runFork = yield* FiberSet.makeRuntime<never, void, never>()
        yield* Effect.addFinalizer(() => Effect.sync(() => void (open = false)))

        const report = (error: ConnectionError, link: Link) =>
          settings.onConnectionError(error, { self, peer: link.peer })

        const onOpened = (link: Link) => {
          const peer = link.peer!
          const links = established.get(peer)
          if (links === undefined) established.set(peer, [link])
          else links.push(link)
          if (dialing.get(peer) === link) dialing.delete(peer)
          backoff.delete(peer)
        }

        const failedDial = (peer: NodeId) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const state = backoff.get(peer)?.state ?? settings.reconnect.initial
            const [next, , decision] = yield* settings.reconnect.step(now, undefined, state)
            const retryAtMs = ScheduleDecision.isDone(decision) ? now : ScheduleIntervals.start(decision.intervals)
            backoff.set(peer, { state: ScheduleDecision.isDone(decision) ? settings.reconnect.initial : next, retryAtMs })
          })

        /** Runs a link to its end, then forgets it and tells the node its peer is down. */
        const supervise = (link: Link, socket: Effect.Effect<Socket.Socket>) =>
          Effect.gen(function*() {
            const reason = yield* Effect.flatMap(socket, (socket) => link.run(socket))
            const peer = link.peer
            if (link.open && peer !== undefined) {
              const links = established.get(peer)?.filter((other) => other !== link) ?? []
              if (links.length === 0) established.delete(peer)
              else established.set(peer, links)
            } else if (peer !== undefined && dialing.get(peer) === link) {
              dialing.delete(peer)
              yield* failedDial(peer)
            }
            if (!open) return
            yield* report(reason, link)
            // Whatever was in flight on this connection is lost: pending asks fail now.
            if (peer !== undefined) yield* handler.peerDown(peer)
          })

        const dial = (peer: NodeId): Effect.Effect<Link | undefined> =>
          Effect.gen(function*() {
            const retryAtMs = backoff.get(peer)?.retryAtMs
            if (retryAtMs !== undefined && (yield* Clock.currentTimeMillis) < retryAtMs) return undefined
            const address = settings.directory.lookup(peer)
            if (address === undefined) return undefined
            const first = Handshake.dial(config, peer, nonce())
            const link = new Link(config, settings.limits, handler, first.state, onOpened)
            link.peer = peer
            link.start(first.send)
            dialing.set(peer, link)
            runFork(supervise(link, Sockets.dial(peer, address, settings.tls, (conn) => (link.duplex = conn))))
            return link
          })

        if (server !== undefined) {
          const bound = server.address
          if (address !== undefined && address.port === 0 && bound._tag === "TcpAddress") {
            settings.directory.register(self, { host: address.host, port: bound.port })
          }
          yield* server.run(() =>
            Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (conn) =>
              Effect.sync(() => {
                if (conn._tag === "None") return
                const raw = conn.value
                if (!open) return void raw.destroy()
                const link = new Link(config, settings.limits, handler, Handshake.listen(nonce()), onOpened)
                runFork(supervise(link, Sockets.accept(raw, settings.tls, (conn) => (link.duplex = conn))))
              }))
          ).pipe(Effect.orDie, Effect.forkIn(serverScope))
        }

        const unreachable = (node: NodeId) => Effect.fail(new Transport.NodeUnreachable({ node }))
        const notSerializable = (node: NodeId, detail: string) =>
          Effect.fail(new Transport.PayloadNotSerializable({ node, detail }))

        const send = (envelope: Envelope.Envelope) =>
          Effect.suspend((): Effect.Effect<void, Transport.NodeUnreachable | Transport.PayloadNotSerializable> => {
            const to = envelope.to
            if (!open) return unreachable(to)
            if (to === self) return handler.deliver(envelope)
            if (envelope.encoded !== true) return notSerializable(to, "the payload is not encoded")
            const frame = {
              from: envelope.from,
              to,
              path: envelope.path,
              kind: envelope.kind,
              id: envelope.id,
              encoded: true,
              payload: envelope.payload
            }
            const header = decodeEnvelope(frame)
            if (Either.isLeft(header)) return notSerializable(to, header.left.message)
            const size = measure(frame)
            if (Either.isLeft(size)) return notSerializable(to, size.left)
            if (size.right > settings.limits.maxFrameBytes) {
              return notSerializable(to, `an envelope of up to ${size.right} bytes exceeds maxFrameBytes ${settings.limits.maxFrameBytes}`)
            }
            const current = established.get(to)?.[0] ?? dialing.get(to)
            const link = current === undefined ? dial(to) : Effect.succeed(current)
            return Effect.flatMap(link, (link) =>
              link === undefined ? unreachable(to) : link.enqueue(frame, size.right).pipe(
                Effect.catchAll((error) =>
                  error._tag === "SendTimeout" ? Effect.zipRight(link.abort(error), unreachable(to)) : unreachable(to)
                )
              ))
          })

        return { self, encodes: true, send } satisfies Transport.Transport
      })
  }
}
