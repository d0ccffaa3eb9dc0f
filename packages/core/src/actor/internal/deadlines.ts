/**
 * Deadlines of waiting requests without a fiber, a race or a timer per request: the actor
 * runtime's asks (`timers.ts`) and a replica's long-poll fetches and acks=all produces. Whatever
 * completes a waiter early (a reply, an append, a higher watermark) does so directly; its deadline
 * is kept here. Deadlines with the same timeout arrive in order, so each timeout value gets a FIFO
 * queue and one sweeper fiber (on Effect's `Clock`, so `TestClock` and the simulator drive it): it
 * sleeps until its queue's head is due, expires the waiters still waiting then, drops the settled
 * ones, and idles while its queue is empty. No waiter ever needs a sweeper to
 * wake before the deadline it sleeps for, so there is no race per wake-up.
 *
 * @internal
 */
import { type Clock, Duration, Effect, Exit, type Scope } from "effect"

/** Something waiting for an outcome or its deadline, whichever comes first. */
export interface Expiring {
  /** Whether it no longer needs its deadline (it has its outcome). */
  readonly settled: boolean
  /** Called once its deadline has passed, unless settled by then. */
  readonly expire: () => void
}

interface Entry {
  readonly deadlineMs: number
  readonly target: Expiring
}

interface Queue {
  readonly timeoutMs: number
  entries: Array<Entry>
  head: number
  /** Resumes the queue's sweeper while it idles (set only then). */
  wake: ((effect: Effect.Effect<void>) => void) | undefined
  /**
   * The sweeper's wait while the queue is empty: made once per queue, and registering no canceler
   * (as `Outcome.await`; a `Deferred` per idle spell cost an object with a dozen fields and an
   * `onInterrupt` per wait). It returns at once if an entry came before it registered.
   */
  readonly idle: Effect.Effect<void>
}

/** The deadlines of some waiting requests (their sweepers live in `scope`). */
export class Deadlines {
  private readonly queues = new Map<number, Queue>()

  /**
   * `maxIdleSweepers`: sweepers kept idling, at most. Past this many queues (callers with
   * ever-changing timeouts) a queue's sweeper ends when the queue empties, and the next request
   * with that timeout starts a new one.
   */
  constructor(
    private readonly clock: Clock.Clock,
    private readonly scope: Scope.Scope,
    private readonly maxIdleSweepers = 8
  ) {}

  /** The current time, in ms, on the clock the deadlines are kept by. */
  nowMs(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /**
   * Expires `target` `timeoutMs` from now (`nowMs() + timeoutMs`) unless it has settled by then.
   * The effect starts the timeout's sweeper when it has none; otherwise it does nothing.
   */
  add(timeoutMs: number, target: Expiring): Effect.Effect<void> {
    const deadlineMs = this.nowMs() + timeoutMs
    let queue = this.queues.get(timeoutMs)
    const fresh = queue === undefined
    if (queue === undefined) {
      queue = makeQueue(timeoutMs)
      this.queues.set(timeoutMs, queue)
    }
    dropSettled(queue)
    queue.entries.push({ deadlineMs, target })
    const wake = queue.wake
    if (wake !== undefined) {
      queue.wake = undefined
      wake(Effect.void)
    }
    // Interruptible whatever the caller's region: the sweeper lives until the scope closes.
    return fresh ? Effect.asVoid(Effect.forkIn(Effect.interruptible(this.sweep(queue)), this.scope)) : Effect.void
  }

  /** The sweeper of one queue: runs until the scope closes (or, past the cap, until it empties). */
  private sweep(queue: Queue): Effect.Effect<void> {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const now = this.nowMs()
      while (queue.head < queue.entries.length) {
        const entry = queue.entries[queue.head]!
        if (entry.target.settled) {
          queue.head++
        } else if (entry.deadlineMs <= now) {
          queue.head++
          entry.target.expire()
        } else {
          compact(queue)
          return Effect.zipRight(Effect.sleep(Duration.millis(entry.deadlineMs - now)), loop)
        }
      }
      queue.entries = []
      queue.head = 0
      if (this.queues.size > this.maxIdleSweepers) {
        this.queues.delete(queue.timeoutMs)
        return Effect.void
      }
      return Effect.zipRight(queue.idle, loop)
    })
    return loop
  }
}

const makeQueue = (timeoutMs: number): Queue => {
  const queue: Queue = {
    timeoutMs,
    entries: [],
    head: 0,
    wake: undefined,
    idle: Effect.async<void>((resume) => {
      if (queue.head < queue.entries.length) resume(Effect.void)
      else queue.wake = resume
    })
  }
  return queue
}

const dropSettled = (queue: Queue) => {
  while (queue.head < queue.entries.length && queue.entries[queue.head]!.target.settled) queue.head++
  compact(queue)
}

const compact = (queue: Queue) => {
  if (queue.head > 1024 && queue.head * 2 > queue.entries.length) {
    queue.entries = queue.entries.slice(queue.head)
    queue.head = 0
  }
}

/**
 * A one-shot outcome awaited by one fiber (an ask's reply, an acks=all produce waiting on
 * replication): completed once, by its answer or by its deadline (`onTimeout`). Awaiting
 * registers no canceler (`Effect.async` with a one-argument register; `Deferred.await` would wrap
 * one in `onInterrupt`, an uninterruptible region and an exit match per wait): an interrupted
 * waiter's wake-up is ignored (the fiber runtime resumes an async at most once).
 */
export class Outcome<A, E> implements Expiring {
  private exit: Exit.Exit<A, E> | undefined = undefined
  private waiter: ((exit: Exit.Exit<A, E>) => void) | undefined = undefined
  /**
   * Dropped once settled: a settled outcome stays in its deadline queue until the sweeper passes,
   * and should not keep what this closure holds (an ask's request) alive meanwhile.
   */
  private onTimeout: (() => E) | undefined

  constructor(onTimeout: () => E) {
    this.onTimeout = onTimeout
  }

  get settled(): boolean {
    return this.exit !== undefined
  }

  /** Sets the outcome (the first one wins) and wakes the waiter; whether this call set it. */
  complete(exit: Exit.Exit<A, E>): boolean {
    if (this.exit !== undefined) return false
    this.exit = exit
    this.onTimeout = undefined
    const waiter = this.waiter
    this.waiter = undefined
    if (waiter !== undefined) waiter(exit)
    return true
  }

  readonly expire = (): void => {
    const onTimeout = this.onTimeout
    if (onTimeout !== undefined) this.complete(Exit.fail(onTimeout()))
  }

  /**
   * Calls `callback` with the outcome once there is one (at once if there is); one waiter at most.
   * `await` is this for a fiber; an outcome answered by callback (`Actor.laterCallback`) uses it directly.
   */
  onComplete(callback: (exit: Exit.Exit<A, E>) => void): void {
    if (this.exit !== undefined) callback(this.exit)
    else this.waiter = callback
  }

  /** The outcome, once there is one. */
  readonly await: Effect.Effect<A, E> = Effect.async<A, E>((resume) => this.onComplete(resume))
}

/**
 * A wake-up for one waiting fiber, fired any number of times: by whatever may have given it work
 * (a replica's poll server is woken when long polls are due: an append, a higher watermark, a lost
 * leadership, a deadline), or as an `Expiring` by its deadline; re-armed before the fiber looks
 * for work, so a wake-up while it works is kept. Like `Outcome`, awaiting registers no canceler.
 */
export class Wakeup implements Expiring {
  /** Set once the poll has answered: its deadline no longer matters. */
  settled = false
  private fired = false
  private waiter: ((effect: Effect.Effect<void>) => void) | undefined = undefined

  /** Wakes the poll (now, or as soon as it waits). */
  readonly fire = (): void => {
    this.fired = true
    const waiter = this.waiter
    this.waiter = undefined
    if (waiter !== undefined) waiter(Effect.void)
  }

  readonly expire = this.fire

  /** Forgets a past wake-up, before parking again. */
  rearm(): void {
    this.fired = false
  }

  /** Waits for the next wake-up (at once if one came since the last `rearm`). */
  readonly await: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.fired) resume(Effect.void)
    else this.waiter = resume
  })
}
