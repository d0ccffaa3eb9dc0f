/**
 * The deterministic simulation runtime behind `TestCluster.simulate`: a virtual `Clock` whose
 * timers live in a heap, and a `Scheduler` that runs fiber tasks in FIFO order and, only when no
 * task is left (every fiber is suspended), moves the clock to the next timer and fires it. That is
 * a discrete-event simulator: no real time passes, and a given program and seed always interleave
 * the same way. `TestClock` does the same but waits for quiescence with real `setTimeout`s
 * (about 4 ms per timer fired); this does it by construction, for free.
 *
 * @internal
 */
import { Clock, Duration, Effect, Exit, FiberId, Logger, LogLevel, Scheduler } from "effect"
import type { Cause, Fiber, Random } from "effect"

interface Timer {
  readonly atMs: number
  readonly seq: number
  /** The sleeping fiber's resume callback (stored as is: no closure per timer), or a `SimClock` callback. */
  readonly wake: (effect: Effect.Effect<void>) => void
}

/**
 * The simulation's `Clock`, which can also run a plain callback at a virtual time, as a timer of
 * its own (ordered with sleeps by time, then by registration): the simulated network delivers a
 * link's due messages this way, without a fiber to wake per delivery.
 */
export interface SimClock extends Clock.Clock {
  /** Runs `run` once the virtual time reaches `atMs` and every fiber waits (not before `now`). */
  readonly unsafeScheduleAt: (atMs: number, run: () => void) => void
}

/** Whether `clock` is a simulation's (see `SimClock`). */
export const isSimClock = (clock: Clock.Clock): clock is SimClock =>
  typeof (clock as Partial<SimClock>).unsafeScheduleAt === "function"

/** Options of one simulation. */
export interface Options {
  /** The `Random` every fiber of the simulation draws from. */
  readonly random: Random.Random
  /** The virtual time the simulation starts at, in ms. Default 0. */
  readonly startMs?: number
  /** Virtual time after which the simulation is stopped as runaway. Default 24 h. */
  readonly maxVirtualMs?: number
  /** Fiber tasks run before letting the host event loop breathe (a macrotask). Default 20_000. */
  readonly tasksPerSlice?: number
  /** Minimum log level inside the simulation. Default `Warning` (the cluster logs a lot at Info). */
  readonly logLevel?: LogLevel.LogLevel
}

/** The simulation ran past `maxVirtualMs` (a livelock, or a workload that never ends). */
export class SimulationRunaway extends Error {
  readonly _tag = "SimulationRunaway"
}

/**
 * Fiber tasks run since the host event loop last had a turn, across simulations: a property runs
 * one short simulation after another, each started and finished in microtasks, so a count per
 * simulation would never let the host in (a 200-schedule property once held a vitest worker's
 * event loop for a minute, past its RPC timeout). Yielding to the host changes no simulation's
 * order of events, only when the host gets a turn.
 */
let tasksSinceHostYield = 0

/** Runs `effect` in a fresh simulated world; resolves with its exit. */
export const run = <A, E>(effect: Effect.Effect<A, E>, options: Options): Effect.Effect<A, E> =>
  Effect.async<A, E>((resume) => {
    const maxVirtualMs = options.maxVirtualMs ?? 24 * 3_600_000
    const tasksPerSlice = options.tasksPerSlice ?? 20_000
    const queue: Array<Scheduler.Task> = []
    let head = 0
    const timers: Array<Timer> = []
    let nowMs = options.startMs ?? 0
    let seq = 0
    let draining = false
    let done = false
    let runaway = false
    let main: Fiber.RuntimeFiber<A, E> | undefined

    // A binary min-heap of timers by (atMs, seq).
    const less = (a: Timer, b: Timer) => a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
    const push = (timer: Timer) => {
      timers.push(timer)
      let i = timers.length - 1
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (!less(timers[i]!, timers[parent]!)) break
        ;[timers[i], timers[parent]] = [timers[parent]!, timers[i]!]
        i = parent
      }
    }
    const pop = (): Timer | undefined => {
      const top = timers[0]
      const last = timers.pop()
      if (top === undefined || last === undefined || timers.length === 0) return top
      timers[0] = last
      let i = 0
      while (true) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < timers.length && less(timers[l]!, timers[m]!)) m = l
        if (r < timers.length && less(timers[r]!, timers[m]!)) m = r
        if (m === i) break
        ;[timers[i], timers[m]] = [timers[m]!, timers[i]!]
        i = m
      }
      return top
    }

    const yieldToHost = (f: () => void) => {
      const host = globalThis as { setImmediate?: (f: () => void) => unknown }
      if (host.setImmediate !== undefined) host.setImmediate(f)
      else setTimeout(f, 0)
    }

    const drain = () => {
      // What is left of the host's slice; whatever this drain leaves over counts for the next one.
      let budget = tasksPerSlice - tasksSinceHostYield
      while (budget-- > 0) {
        if (head < queue.length) {
          const task = queue[head]!
          queue[head++] = undefined as never
          if (head > 1024 && head * 2 > queue.length) {
            queue.splice(0, head)
            head = 0
          }
          task()
          continue
        }
        // Quiescent: every fiber waits. Fire the next timer, unless the run is over.
        if (done) break
        const timer = pop()
        if (timer === undefined) break
        if (timer.atMs > maxVirtualMs) {
          runaway = true
          if (main !== undefined) main.unsafeInterruptAsFork(FiberId.none)
          continue
        }
        nowMs = Math.max(nowMs, timer.atMs)
        timer.wake(Effect.void)
      }
      if (budget < 0 && !done) {
        tasksSinceHostYield = 0
        yieldToHost(drain)
      } else {
        tasksSinceHostYield = tasksPerSlice - budget - 1
        draining = false
      }
    }

    const scheduler = Scheduler.make((task) => {
      queue.push(task)
      if (!draining) {
        draining = true
        queueMicrotask(drain)
      }
    })

    // No canceler: `Effect.async` wraps one in `onInterrupt` (an uninterruptible region and an exit
    // match per sleep, the largest single cost of a schedule). An interrupted sleep's timer still
    // fires, when no task is left to run, and its wake-up is ignored (the fiber runtime resumes an
    // async at most once, and the interruption already did): it only costs a heap pop, and real
    // work still happens at the same virtual times.
    const sleep = (duration: Duration.Duration) =>
      Effect.async<void>((wake) => {
        const ms = Math.max(0, Duration.toMillis(duration))
        if (!Number.isFinite(ms)) return
        push({ atMs: nowMs + ms, seq: seq++, wake })
      })

    const clock: SimClock = {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: () => nowMs,
      unsafeCurrentTimeNanos: () => BigInt(Math.floor(nowMs * 1_000_000)),
      currentTimeMillis: Effect.sync(() => nowMs),
      currentTimeNanos: Effect.sync(() => BigInt(Math.floor(nowMs * 1_000_000))),
      sleep,
      unsafeScheduleAt: (atMs, run) => push({ atMs: Math.max(atMs, nowMs), seq: seq++, wake: run })
    }

    const program = effect.pipe(
      Effect.withClock(clock),
      Effect.withRandom(options.random),
      Logger.withMinimumLogLevel(options.logLevel ?? LogLevel.Warning),
      Effect.withScheduler(scheduler)
    )
    main = Effect.runFork(program, { scheduler })
    main.addObserver((exit) => {
      done = true
      if (runaway && Exit.isInterrupted(exit)) {
        resume(Effect.die(new SimulationRunaway(`simulation ran past ${maxVirtualMs} virtual ms`)))
      } else {
        resume(Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.failCause(exit.cause as Cause.Cause<E>))
      }
    })
    return Effect.sync(() => main?.unsafeInterruptAsFork(FiberId.none))
  })
