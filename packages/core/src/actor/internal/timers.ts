/**
 * Ask deadlines without a fiber or a timer per ask. Deadlines with the same timeout arrive in
 * order, so each timeout value gets a FIFO queue and one sweeper fiber (on Effect's `Clock`, so
 * `TestClock` drives it): it sleeps until its queue's head is due, fails the asks still waiting
 * then, drops the answered ones, and idles on a `Deferred` while its queue is empty. No ask ever
 * needs a sweeper to wake before the deadline it sleeps for, so there is no race per wake-up.
 *
 * @internal
 */
import { type Clock, Deferred, Duration, Effect, Exit, FiberId, type Scope } from "effect"

/**
 * Where an ask's outcome lands: completed once (by the reply, a rejection, or the deadline), and
 * awaited by the one fiber that asked. Unlike `Deferred.await`, awaiting registers no canceler:
 * `Effect.async` would wrap one in `onInterrupt` (an uninterruptible region and an exit match per
 * ask). An interrupted asker's wake-up is simply ignored (the fiber runtime resumes an async at
 * most once), and the slot is dropped when the ask completes, by its deadline at the latest.
 */
export class ReplySlot {
  private exit: Exit.Exit<unknown, unknown> | undefined = undefined
  private waiter: ((exit: Exit.Exit<unknown, unknown>) => void) | undefined = undefined

  /** Whether the ask has its outcome. */
  get done(): boolean {
    return this.exit !== undefined
  }

  /** Sets the outcome (the first one wins) and wakes the asker; whether this call set it. */
  complete(exit: Exit.Exit<unknown, unknown>): boolean {
    if (this.exit !== undefined) return false
    this.exit = exit
    const waiter = this.waiter
    this.waiter = undefined
    if (waiter !== undefined) waiter(exit)
    return true
  }

  /** The outcome, once there is one. */
  readonly await: Effect.Effect<unknown, unknown> = Effect.async<unknown, unknown>((resume) => {
    if (this.exit !== undefined) resume(this.exit)
    else this.waiter = resume
  })
}

/** One ask waiting for its reply or its deadline. */
export interface Entry {
  readonly deadlineMs: number
  readonly slot: ReplySlot
  readonly onTimeout: () => unknown
}

interface Queue {
  readonly timeoutMs: number
  entries: Array<Entry>
  head: number
  /** Completed to wake the queue's sweeper while it idles (set only then). */
  idle: Deferred.Deferred<void> | undefined
}

/**
 * Sweepers kept idling, at most: a queue past this many (a caller with ever-changing timeouts)
 * ends its sweeper when it empties, and the next ask with that timeout starts a new one.
 */
const maxIdleSweepers = 32

/** The deadlines of one node's asks. */
export class AskTimers {
  private readonly queues = new Map<number, Queue>()

  constructor(private readonly clock: Clock.Clock, private readonly scope: Scope.Scope) {}

  /**
   * Registers an ask that fails with `onTimeout()` unless it is answered within `timeoutMs`.
   * The effect starts the timeout's sweeper when it has none; otherwise it does nothing.
   */
  add(timeoutMs: number, slot: ReplySlot, onTimeout: () => unknown): Effect.Effect<void> {
    const deadlineMs = this.clock.unsafeCurrentTimeMillis() + timeoutMs
    let queue = this.queues.get(timeoutMs)
    const fresh = queue === undefined
    if (queue === undefined) {
      queue = { timeoutMs, entries: [], head: 0, idle: undefined }
      this.queues.set(timeoutMs, queue)
    }
    dropAnswered(queue)
    queue.entries.push({ deadlineMs, slot, onTimeout })
    const idle = queue.idle
    if (idle !== undefined) {
      queue.idle = undefined
      Deferred.unsafeDone(idle, Exit.void)
    }
    // Interruptible whatever the asker's region (an ask may run in a finalizer): the sweeper lives
    // until the node's scope closes, and that close must be able to stop it.
    return fresh ? Effect.asVoid(Effect.forkIn(Effect.interruptible(this.sweep(queue)), this.scope)) : Effect.void
  }

  /** The sweeper of one queue: runs until the node's scope closes (or, past the cap, until it empties). */
  private sweep(queue: Queue): Effect.Effect<void> {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const now = this.clock.unsafeCurrentTimeMillis()
      while (queue.head < queue.entries.length) {
        const entry = queue.entries[queue.head]!
        if (entry.slot.done) {
          queue.head++
        } else if (entry.deadlineMs <= now) {
          entry.slot.complete(Exit.fail(entry.onTimeout()))
          queue.head++
        } else {
          compact(queue)
          return Effect.zipRight(Effect.sleep(Duration.millis(entry.deadlineMs - now)), loop)
        }
      }
      queue.entries = []
      queue.head = 0
      if (this.queues.size > maxIdleSweepers) {
        this.queues.delete(queue.timeoutMs)
        return Effect.void
      }
      const idle = Deferred.unsafeMake<void>(FiberId.none)
      queue.idle = idle
      return Effect.zipRight(Deferred.await(idle), loop)
    })
    return loop
  }
}

const dropAnswered = (queue: Queue) => {
  while (queue.head < queue.entries.length && queue.entries[queue.head]!.slot.done) queue.head++
  compact(queue)
}

const compact = (queue: Queue) => {
  if (queue.head > 1024 && queue.head * 2 > queue.entries.length) {
    queue.entries = queue.entries.slice(queue.head)
    queue.head = 0
  }
}
