/**
 * The machinery behind `SimNetwork`: link state, the per-link pending queue ordered by
 * (delivery time, send order), the seeded draws and the event log.
 *
 * @internal
 */
import { Clock, Effect, Scope } from "effect"
import type { Random } from "effect"
import { type Envelope, type NodeId as Id, Transport } from "@fiberlog/core"
import * as SeededRandom from "../SeededRandom.js"
import { bridgeLinks, majoritiesRingLinks, open as openRule, partitionLinks, sampleDelayMs } from "./rules.js"
import type * as SimNetwork from "../SimNetwork.js"

type NodeId = Id.NodeId

/** A message waiting on a link: delayed, parked by a hold, or queued behind one that is. */
interface Pending {
  readonly atMs: number
  /** Global send order: breaks ties between equal `atMs`. */
  readonly order: number
  readonly message: number
  readonly envelope: Envelope.Envelope
  /** The sender's endpoint on the inner network (closed if the sender crashed meanwhile). */
  readonly via: Transport.Transport
}

interface LinkState {
  readonly from: NodeId
  readonly to: NodeId
  rule: SimNetwork.LinkRule
  sent: number
  /** Latest delivery time scheduled so far: the FIFO clamp. */
  lastAtMs: number
  readonly pending: Array<Pending>
  flushing: boolean
}

/** Inserts keeping the queue sorted by (atMs, order). */
const insert = (queue: Array<Pending>, item: Pending) => {
  let i = queue.length
  while (i > 0 && (queue[i - 1]!.atMs > item.atMs || (queue[i - 1]!.atMs === item.atMs && queue[i - 1]!.order > item.order))) i--
  queue.splice(i, 0, item)
}

const clampProbability = (p: number) => (Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0)

export const make = (
  inner: Transport.NetworkService,
  options: SimNetwork.Options
): Effect.Effect<SimNetwork.SimNetworkService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const maxEvents = Math.max(1, options.maxEvents ?? 100_000)
    const maxInFlight = Math.max(1, options.maxInFlightPerLink ?? 10_000)
    const seeded = SeededRandom.make(options.seed)
    const links = new Map<string, LinkState>()
    const isolated = new Set<NodeId>()
    const endpoints = new Map<NodeId, Transport.Transport>()
    const events: Array<SimNetwork.Event> = []
    const counts = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 }
    let eventSeq = 0
    let order = 0
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => void (closed = true)))

    const key = (from: NodeId, to: NodeId) => `${from}\u0000${to}`
    const link = (from: NodeId, to: NodeId): LinkState => {
      const k = key(from, to)
      let state = links.get(k)
      if (state === undefined) {
        state = { from, to, rule: openRule, sent: 0, lastAtMs: 0, pending: [], flushing: false }
        links.set(k, state)
      }
      return state
    }
    const stream = (state: LinkState, purpose: string): Random.Random =>
      seeded.stream(`link:${state.from}->${state.to}:${purpose}`)
    const isBlocked = (state: LinkState) => state.rule.blocked || isolated.has(state.from) || isolated.has(state.to)

    const record = (
      type: SimNetwork.Event["type"],
      timeMs: number,
      envelope: Envelope.Envelope,
      message: number,
      reason?: SimNetwork.DropReason
    ) => {
      counts[type]++
      const base = {
        seq: ++eventSeq,
        timeMs,
        type,
        from: envelope.from,
        to: envelope.to,
        kind: envelope.kind,
        path: envelope.path,
        id: envelope.id,
        message
      }
      events.push(reason === undefined ? base : { ...base, reason })
      if (events.length > maxEvents) events.splice(0, Math.max(1, Math.floor(maxEvents / 10)))
    }

    /** Hands one message to the inner network, recording the outcome. */
    const handOver = (state: LinkState, item: Pending, nowMs: number) =>
      Effect.suspend(() => {
        if (isBlocked(state)) {
          record("dropped", nowMs, item.envelope, item.message, "blocked")
          return Effect.void
        }
        record("delivered", nowMs, item.envelope, item.message)
        return Effect.catchAll(item.via.send(item.envelope), (error) =>
          Effect.sync(() => {
            counts.delivered--
            record("dropped", nowMs, item.envelope, item.message, error._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
          }))
      })

    /** Delivers, in order, the due messages of a link unless it is held. */
    const flush = (state: LinkState): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (state.flushing) return Effect.void
        state.flushing = true
        return Effect.ensuring(
          Effect.gen(function*() {
            while (state.pending.length > 0 && !state.rule.held) {
              const nowMs = yield* Clock.currentTimeMillis
              if (state.pending[0]!.atMs > nowMs) return
              yield* handOver(state, state.pending.shift()!, nowMs)
            }
          }),
          Effect.sync(() => void (state.flushing = false))
        )
      })

    const schedule = (state: LinkState, item: Pending, nowMs: number) =>
      Effect.suspend(() => {
        if (closed) {
          record("dropped", nowMs, item.envelope, item.message, "closed")
          return Effect.void
        }
        if (state.pending.length >= maxInFlight) {
          record("dropped", nowMs, item.envelope, item.message, "overflow")
          return Effect.void
        }
        insert(state.pending, item)
        if (item.atMs <= nowMs) return flush(state)
        return Effect.asVoid(Effect.forkIn(Effect.zipRight(Effect.sleep(item.atMs - nowMs), flush(state)), scope))
      })

    const send = (via: Transport.Transport) => (envelope: Envelope.Envelope) =>
      Effect.gen(function*() {
        if (!endpoints.has(envelope.to)) return yield* new Transport.NodeUnreachable({ node: envelope.to })
        const nowMs = yield* Clock.currentTimeMillis
        const state = link(envelope.from, envelope.to)
        const rule = state.rule
        const message = ++state.sent
        record("sent", nowMs, envelope, message)
        if (isBlocked(state)) return record("dropped", nowMs, envelope, message, "blocked")
        if (rule.dropProbability > 0 && (yield* stream(state, "drop").next) < rule.dropProbability) {
          return record("dropped", nowMs, envelope, message, "random")
        }
        let copies = 1
        if (rule.duplicateProbability > 0 && (yield* stream(state, "duplicate").next) < rule.duplicateProbability) {
          copies = 2
          record("duplicated", nowMs, envelope, message)
        }
        for (let copy = 0; copy < copies; copy++) {
          const delayMs = rule.delay === undefined ? 0 : sampleDelayMs(rule.delay, yield* stream(state, "delay").next)
          const jitterMs = rule.reorderWindowMs > 0
            ? Math.floor((yield* stream(state, "reorder").next) * (rule.reorderWindowMs + 1))
            : 0
          const fifo = rule.reorderWindowMs <= 0
          const atMs = fifo ? Math.max(nowMs + delayMs, state.lastAtMs) : nowMs + delayMs + jitterMs
          state.lastAtMs = Math.max(state.lastAtMs, atMs)
          if (atMs <= nowMs && state.pending.length === 0 && !rule.held) {
            // The open path: hand over now, and let the inner network's refusal reach the sender.
            record("delivered", nowMs, envelope, message)
            const result = yield* Effect.either(via.send(envelope))
            if (result._tag === "Left") {
              counts.delivered--
              record("dropped", nowMs, envelope, message, result.left._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
              return yield* result.left
            }
          } else {
            yield* schedule(state, { atMs, order: ++order, message, envelope, via }, nowMs)
          }
        }
      })

    const update = (from: NodeId, to: NodeId, patch: Partial<SimNetwork.LinkRule>) =>
      Effect.suspend(() => {
        const state = link(from, to)
        const next = { ...state.rule, ...patch }
        state.rule = {
          ...next,
          dropProbability: clampProbability(next.dropProbability),
          duplicateProbability: clampProbability(next.duplicateProbability),
          reorderWindowMs: Math.max(0, next.reorderWindowMs)
        }
        return state.rule.held ? Effect.void : flush(state)
      })
    const blockAll = (blocked: ReadonlyArray<SimNetwork.Link>) =>
      Effect.forEach(blocked, ({ from, to }) => update(from, to, { blocked: true }), { discard: true })

    const heal = Effect.suspend(() => {
      isolated.clear()
      const all = [...links.values()]
      for (const state of all) state.rule = openRule
      return Effect.forEach(all, flush, { discard: true })
    })

    return {
      seed: options.seed,
      connect: (self, handler) =>
        Effect.gen(function*() {
          const endpoint = yield* inner.connect(self, handler)
          endpoints.set(self, endpoint)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              if (endpoints.get(self) === endpoint) endpoints.delete(self)
            })
          )
          return { self, encodes: endpoint.encodes, send: send(endpoint) }
        }),
      rule: (from, to) => links.get(key(from, to))?.rule ?? openRule,
      update,
      block: (from, to) => update(from, to, { blocked: true }),
      unblock: (from, to) => update(from, to, { blocked: false }),
      drop: (from, to, probability) => update(from, to, { dropProbability: probability }),
      delay: (from, to, delay) => update(from, to, { delay }),
      duplicate: (from, to, probability) => update(from, to, { duplicateProbability: probability }),
      reorder: (from, to, windowMs) => update(from, to, { reorderWindowMs: windowMs }),
      hold: (from, to) => update(from, to, { held: true }),
      release: (from, to) => update(from, to, { held: false }),
      partition: (groups) => blockAll(partitionLinks(groups)),
      partitionOneWay: (from, to) => update(from, to, { blocked: true }),
      isolate: (node) => Effect.sync(() => void isolated.add(node)),
      bridge: (left, bridge, right) => blockAll(bridgeLinks(left, bridge, right)),
      majoritiesRing: (nodes) => blockAll(majoritiesRingLinks(nodes)),
      heal,
      inFlight: Effect.sync(() => {
        let n = 0
        for (const state of links.values()) n += state.pending.length
        return n
      }),
      events: Effect.sync(() => events.slice()),
      eventsJson: Effect.sync(() => JSON.stringify(events)),
      stats: Effect.sync(() => ({ ...counts }))
    }
  })
