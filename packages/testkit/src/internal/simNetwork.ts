/**
 * The machinery behind `SimNetwork`: link state, the per-link pending queue ordered by
 * (delivery time, send order), the seeded draws and the event log.
 *
 * @internal
 */
import { Duration, Effect, Exit, Runtime, type Scope, type Utils } from "effect"
import { type Envelope, type NodeId as Id, Transport } from "@fiberlog/core"
import * as SeededRandom from "../SeededRandom.js"
import { bridgeLinks, majoritiesRingLinks, open as openRule, partitionLinks, sampleDelayMs } from "./rules.js"
import type * as SimNetwork from "../SimNetwork.js"
import { isSimClock, type SimClock } from "./simRuntime.js"

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
  /** Under the simulator: the earliest delivery alarm set on the clock (see `arm`); infinite if none. */
  alarmAtMs: number
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
    // The clock of every delivery: the simulation's (or the test's `TestClock`), read synchronously
    // so that a send needs no effect of its own.
    const clock = yield* Effect.clock
    // Under the simulator, deliveries run from clock alarms rather than a pump fiber per link.
    const simClock = isSimClock(clock) ? clock : undefined
    const runtime = yield* Effect.runtime<never>()
    const maxEvents = Math.max(1, options.maxEvents ?? 100_000)
    const maxInFlight = Math.max(1, options.maxInFlightPerLink ?? 10_000)
    /** Every link, in creation order; `linksFrom` finds one by sender then receiver (no key string per send). */
    const links: Array<LinkState> = []
    const linksFrom = new Map<NodeId, Map<NodeId, LinkState>>()
    const isolated = new Set<NodeId>()
    const endpoints = new Map<NodeId, Transport.Transport>()
    const events: Array<SimNetwork.Event> = []
    const counts = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 }
    let eventSeq = 0
    let order = 0
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => void (closed = true)))

    const link = (from: NodeId, to: NodeId): LinkState => {
      let byTo = linksFrom.get(from)
      if (byTo === undefined) linksFrom.set(from, byTo = new Map())
      let state = byTo.get(to)
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
          alarmAtMs: Number.POSITIVE_INFINITY,
          draws: new Map()
        }
        byTo.set(to, state)
        links.push(state)
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

    /**
     * Hands one message to the inner network now, recording the outcome; what is left to run
     * (`Effect.void`, usually: the in-process network hands over at once, see `Transport.sendNow`).
     */
    const handOver = (state: LinkState, item: Pending, nowMs: number): Effect.Effect<void> => {
      if (isBlocked(state)) {
        record("dropped", nowMs, item.envelope, item.message, "blocked")
        return Effect.void
      }
      record("delivered", nowMs, item.envelope, item.message)
      const sent = Transport.sendNow(item.via, item.envelope)
      if (sent === Effect.void) return Effect.void
      return Effect.catchAll(sent, (error) => {
        counts.delivered--
        record("dropped", nowMs, item.envelope, item.message, error._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
        return Effect.void
      })
    }

    /**
     * Delivers, in order, the due messages of a link unless it is held; `Effect.void` when they all
     * went at once. A delivery that leaves an effect to run makes the caller the link's flusher until
     * it is done (`flushing`: no other fiber delivers on the link meanwhile, so order holds). The
     * pump passes `guarded: false`, as it is interrupted only when the network closes, after which
     * nothing is delivered anyway; other fibers must clear `flushing` even when interrupted. Ends by
     * waking the idle pump (`kick`), which re-arms for the new head of the queue.
     */
    const flush = (state: LinkState, guarded = true): Effect.Effect<void> => {
      if (state.flushing) return Effect.void
      state.flushing = true
      while (state.pending.length > 0 && !state.rule.held) {
        const nowMs = clock.unsafeCurrentTimeMillis()
        if (state.pending[0]!.atMs > nowMs) break
        const rest = handOver(state, state.pending.shift()!, nowMs)
        if (rest !== Effect.void) {
          const more = Effect.suspend(() => {
            state.flushing = false
            return flush(state, guarded)
          })
          if (!guarded) return Effect.zipRight(rest, more)
          return Effect.zipRight(
            Effect.onExit(rest, (exit) => Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
              state.flushing = false
              kick(state)
            })),
            more
          )
        }
      }
      state.flushing = false
      kick(state)
      return Effect.void
    }

    /**
     * Wakes the link's pump if it idles, so it sleeps until the new head of the queue; under the
     * simulator, sets an alarm for the new head instead.
     */
    const kick = (state: LinkState) => {
      if (simClock !== undefined) return arm(simClock, state)
      const wake = state.wake
      if (wake === undefined) return
      state.wake = undefined
      wake(Effect.void)
    }

    /**
     * Under the simulator, a link's delayed messages go from an alarm on its clock: a callback run
     * when the head of the queue is due and every fiber waits, which flushes the link there and
     * then, as the pump would from its timer, but without a fiber to wake (or re-arm) per delivery.
     * A delivery that leaves an effect to run (rare: see `flush`) finishes on a fiber of its own.
     */
    const arm = (simClock: SimClock, state: LinkState) => {
      if (closed || state.pending.length === 0 || state.rule.held || state.flushing) return
      const atMs = state.pending[0]!.atMs
      if (atMs >= state.alarmAtMs) return
      state.alarmAtMs = atMs
      simClock.unsafeScheduleAt(atMs, () => {
        if (state.alarmAtMs === atMs) state.alarmAtMs = Number.POSITIVE_INFINITY
        if (closed) return
        const rest = flush(state)
        if (rest !== Effect.void) Runtime.runFork(runtime)(rest)
      })
    }

    /**
     * One fiber per link delivers its delayed messages: it sleeps until the head of the queue is
     * due and flushes, or idles while the queue is empty, held, or being flushed by another fiber
     * (`kick` wakes it). A delayed message costs the pump a timer, not a forked fiber of its own.
     */
    const pump = (state: LinkState) => {
      const idle = Effect.async<void>((resume) => {
        state.wake = resume
      })
      const loop: Effect.Effect<never> = Effect.suspend(() => {
        while (true) {
          state.wakeAtMs = Number.POSITIVE_INFINITY
          if (state.pending.length === 0 || state.rule.held || state.flushing) return idleThenLoop
          const nowMs = clock.unsafeCurrentTimeMillis()
          const atMs = state.pending[0]!.atMs
          if (atMs > nowMs) {
            state.wakeAtMs = atMs
            return Effect.zipRight(clock.sleep(Duration.millis(atMs - nowMs)), loop)
          }
          const rest = flush(state, false)
          if (rest !== Effect.void) return Effect.zipRight(rest, loop)
        }
      })
      const idleThenLoop = Effect.zipRight(idle, loop)
      return loop
    }

    const schedule = (state: LinkState, item: Pending, nowMs: number): Effect.Effect<void> => {
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
      if (simClock !== undefined) {
        arm(simClock, state)
        return Effect.void
      }
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
      return Effect.asVoid(Effect.forkIn(Effect.zipRight(clock.sleep(Duration.millis(item.atMs - nowMs)), Effect.suspend(() => flush(state))), scope))
    }

    /** Hands `envelope` to the inner network now; a refusal is recorded as a drop and reaches the sender. */
    const handOverNow = (via: Transport.Transport, envelope: Envelope.Envelope, message: number, nowMs: number) => {
      const sent = Transport.sendNow(via, envelope)
      if (sent === Effect.void) return sent
      return Effect.catchAll(sent, (error) => {
        counts.delivered--
        record("dropped", nowMs, envelope, message, error._tag === "NodeUnreachable" ? "unreachable" : "not-serializable")
        return Effect.fail(error)
      })
    }

    /** `NodeUnreachable` per node, made once: an error value carries no state worth a stack trace per send. */
    const unreachable = new Map<NodeId, Transport.NodeUnreachable>()
    const unreachableFailure = (node: NodeId) => {
      let error = unreachable.get(node)
      if (error === undefined) unreachable.set(node, error = new Transport.NodeUnreachable({ node }))
      return Effect.fail(error)
    }

    /** Sends one envelope now (see `Transport.sendNow`): draws its fate, then hands it over or queues it. */
    const sendNow = (via: Transport.Transport) =>
    (envelope: Envelope.Envelope): Effect.Effect<void, Transport.NodeUnreachable | Transport.PayloadNotSerializable> => {
      if (!endpoints.has(envelope.to)) return unreachableFailure(envelope.to)
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
        return schedule(state, { atMs, order: ++order, message, envelope, via }, nowMs)
      }
      if (copies === 1) return one()
      const first = one()
      return first === Effect.void ? one() : Effect.zipRight(first, Effect.suspend(one))
    }

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
        return state.rule.held ? Effect.void : flush(state)
      })
    const blockAll = (blocked: ReadonlyArray<SimNetwork.Link>) =>
      Effect.forEach(blocked, ({ from, to }) => update(from, to, { blocked: true }), { discard: true })

    const heal = Effect.suspend(() => {
      isolated.clear()
      const all = links.slice()
      for (const state of all) state.rule = openRule
      return Effect.forEach(all, (state) => Effect.suspend(() => flush(state)), { discard: true })
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
          const now = sendNow(endpoint)
          const transport: Transport.Transport = {
            self,
            encodes: endpoint.encodes,
            send: (envelope) => Effect.suspend(() => now(envelope)),
            sendNow: now
          }
          return transport
        }),
      rule: (from, to) => linksFrom.get(from)?.get(to)?.rule ?? openRule,
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
        for (const state of links) n += state.pending.length
        return n
      }),
      events: Effect.sync(() => events.slice()),
      eventsJson: Effect.sync(() => JSON.stringify(events)),
      stats: Effect.sync(() => ({ ...counts }))
    }
  })
