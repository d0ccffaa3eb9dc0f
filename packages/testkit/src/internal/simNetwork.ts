/**
 * The machinery behind `SimNetwork`: link state, the per-link pending queue ordered by
 * (delivery time, send order), the seeded draws and the event log.
 *
 * @internal
 */
import { Clock, Duration, Effect, Scope, type Utils } from "effect"
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
  /** Whether the link's pump fiber (see `pump`) was started. */
  pumping: boolean
  /** Virtual time the pump sleeps until; infinite while it idles. */
  wakeAtMs: number
  /** Resumes the idle pump (set only while it idles). */
  wake: ((effect: Effect.Effect<void>) => void) | undefined
  /** The link's random streams by purpose (drop, duplicate, delay, reorder), made on first draw. */
  readonly draws: Map<string, Utils.PCGRandom>
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
        state = {
          from,
          to,
          rule: openRule,
          sent: 0,
          lastAtMs: 0,
          pending: [],
          flushing: false,
          pumping: false,
          wakeAtMs: Number.POSITIVE_INFINITY,
          wake: undefined,
          draws: new Map()
        }
        links.set(k, state)
      }
      return state
    }
    /**
     * The next number of the link's stream `purpose`: the sequence `SeededRandom.make(seed)`'s
     * stream `link:<from>-><to>:<purpose>` gives as an Effect `Random` (same generator, same seed),
     * drawn synchronously so that sending a message needs no effect of its own.
     */
    const draw = (state: LinkState, purpose: string): number => {
      let prng = state.draws.get(purpose)
      if (prng === undefined) {
        prng = SeededRandom.generator(options.seed, `link:${state.from}->${state.to}:${purpose}`)
        state.draws.set(purpose, prng)
      }
      return prng.number()
    }
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
    const handOver = (state: LinkState, item: Pending, nowMs: number): Effect.Effect<void> => {
      if (isBlocked(state)) {
        record("dropped", nowMs, item.envelope, item.message, "blocked")
        return Effect.void
      }
      record("delivered", nowMs, item.envelope, item.message)
      return Effect.catchAll(item.via.send(item.envelope), (error) => {
        counts.delivered--
        record("dropped", nowMs, item.envelope, item.message, error._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
        return Effect.void
      })
    }

    /**
     * Delivers, in order, the due messages of a link unless it is held. Any fiber may flush; the
     * pump passes `guarded: false`, as it is interrupted only when the network closes, after which
     * nothing is delivered anyway; other fibers must clear `flushing` even when interrupted.
     */
    const flush = (state: LinkState, clock: Clock.Clock, guarded = true): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (state.flushing) return Effect.void
        state.flushing = true
        const done = Effect.sync(() => {
          state.flushing = false
          kick(state)
        })
        const last = guarded ? Effect.void : done
        const next: Effect.Effect<void> = Effect.suspend(() => {
          if (state.pending.length === 0 || state.rule.held) return last
          const nowMs = clock.unsafeCurrentTimeMillis()
          if (state.pending[0]!.atMs > nowMs) return last
          return Effect.zipRight(handOver(state, state.pending.shift()!, nowMs), next)
        })
        return guarded ? Effect.ensuring(next, done) : next
      })

    /** Wakes the link's pump if it idles, so it sleeps until the new head of the queue. */
    const kick = (state: LinkState) => {
      const wake = state.wake
      if (wake === undefined) return
      state.wake = undefined
      wake(Effect.void)
    }

    /**
     * One fiber per link delivers its delayed messages: it sleeps until the head of the queue is
     * due and flushes, or idles while the queue is empty, held, or being flushed by another fiber
     * (`kick` wakes it). A delayed message costs the pump a timer, not a forked fiber of its own.
     */
    const pump = (state: LinkState) =>
      Effect.clockWith((clock) => {
        const idle = Effect.async<void>((resume) => {
          state.wake = resume
        })
        const loop: Effect.Effect<never> = Effect.suspend(() => {
          state.wakeAtMs = Number.POSITIVE_INFINITY
          if (state.pending.length === 0 || state.rule.held || state.flushing) return Effect.zipRight(idle, loop)
          const nowMs = clock.unsafeCurrentTimeMillis()
          const atMs = state.pending[0]!.atMs
          if (atMs <= nowMs) return Effect.zipRight(flush(state, clock, false), loop)
          state.wakeAtMs = atMs
          return Effect.zipRight(clock.sleep(Duration.millis(atMs - nowMs)), loop)
        })
        return loop
      })

    const schedule = (state: LinkState, item: Pending, clock: Clock.Clock, nowMs: number): Effect.Effect<void> => {
      if (closed) {
        record("dropped", nowMs, item.envelope, item.message, "closed")
        return Effect.void
      }
      if (state.pending.length >= maxInFlight) {
        record("dropped", nowMs, item.envelope, item.message, "overflow")
        return Effect.void
      }
      insert(state.pending, item)
      if (item.atMs <= nowMs) return flush(state, clock)
      if (!state.pumping) {
        state.pumping = true
        // Interruptible whatever the sender's region (a finalizer may send): the pump runs until
        // the network's scope closes, and that close must be able to stop it.
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(pump(state)), scope))
      }
      if (state.wake !== undefined) {
        kick(state)
        return Effect.void
      }
      // Only a reordering link queues a message before the one the pump sleeps for.
      if (item.atMs >= state.wakeAtMs || state.wakeAtMs === Number.POSITIVE_INFINITY) return Effect.void
      return Effect.asVoid(Effect.forkIn(Effect.zipRight(clock.sleep(Duration.millis(item.atMs - nowMs)), flush(state, clock)), scope))
    }

    /** Hands `envelope` to the inner network now; a refusal is recorded as a drop and reaches the sender. */
    const handOverNow = (via: Transport.Transport, envelope: Envelope.Envelope, message: number, nowMs: number) =>
      Effect.catchAll(via.send(envelope), (error) => {
        counts.delivered--
        record("dropped", nowMs, envelope, message, error._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
        return Effect.fail(error)
      })

    const send = (via: Transport.Transport) => (envelope: Envelope.Envelope) =>
      Effect.clockWith((clock): Effect.Effect<void, Transport.NodeUnreachable | Transport.PayloadNotSerializable> => {
        if (!endpoints.has(envelope.to)) return Effect.fail(new Transport.NodeUnreachable({ node: envelope.to }))
        const nowMs = clock.unsafeCurrentTimeMillis()
        const state = link(envelope.from, envelope.to)
        const rule = state.rule
        const message = ++state.sent
        record("sent", nowMs, envelope, message)
        if (isBlocked(state)) {
          record("dropped", nowMs, envelope, message, "blocked")
          return Effect.void
        }
        if (rule.dropProbability > 0 && draw(state, "drop") < rule.dropProbability) {
          record("dropped", nowMs, envelope, message, "random")
          return Effect.void
        }
        let copies = 1
        if (rule.duplicateProbability > 0 && draw(state, "duplicate") < rule.duplicateProbability) {
          copies = 2
          record("duplicated", nowMs, envelope, message)
        }
        // Each copy is drawn, then handed over or queued, before the next one is drawn.
        const one = (): Effect.Effect<void, Transport.NodeUnreachable | Transport.PayloadNotSerializable> => {
          const delayMs = rule.delay === undefined ? 0 : sampleDelayMs(rule.delay, draw(state, "delay"))
          const jitterMs = rule.reorderWindowMs > 0 ? Math.floor(draw(state, "reorder") * (rule.reorderWindowMs + 1)) : 0
          const fifo = rule.reorderWindowMs <= 0
          const atMs = fifo ? Math.max(nowMs + delayMs, state.lastAtMs) : nowMs + delayMs + jitterMs
          state.lastAtMs = Math.max(state.lastAtMs, atMs)
          if (atMs <= nowMs && state.pending.length === 0 && !rule.held) {
            // The open path: hand over now, and let the inner network's refusal reach the sender.
            record("delivered", nowMs, envelope, message)
            return handOverNow(via, envelope, message, nowMs)
          }
          return schedule(state, { atMs, order: ++order, message, envelope, via }, clock, nowMs)
        }
        return copies === 1 ? one() : Effect.zipRight(one(), Effect.suspend(one))
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
        kick(state)
        return state.rule.held ? Effect.void : Effect.clockWith((clock) => flush(state, clock))
      })
    const blockAll = (blocked: ReadonlyArray<SimNetwork.Link>) =>
      Effect.forEach(blocked, ({ from, to }) => update(from, to, { blocked: true }), { discard: true })

    const heal = Effect.suspend(() => {
      isolated.clear()
      const all = [...links.values()]
      for (const state of all) state.rule = openRule
      return Effect.clockWith((clock) => Effect.forEach(all, (state) => flush(state, clock), { discard: true }))
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
