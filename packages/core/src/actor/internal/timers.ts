/**
 * Ask deadlines without a fiber or a timer per ask: one sweeper fiber per node sleeps (on
 * Effect's `Clock`, so `TestClock` drives it) until the earliest deadline and fails the asks that
 * are still waiting then. Deadlines with the same timeout arrive in order, so each timeout value
 * gets a FIFO queue; answered asks are dropped from the queue heads as new ones come in.
 *
 * @internal
 */
import { type Clock, Deferred, Duration, Effect, Exit, FiberId, MutableRef } from "effect"

/** One ask waiting for its reply or its deadline. */
export interface Entry {
  readonly deadlineMs: number
  readonly deferred: Deferred.Deferred<unknown, unknown>
  readonly onTimeout: () => unknown
}

interface Queue {
  entries: Array<Entry>
  head: number
}

/** The deadlines of one node's asks. */
export class AskTimers {
  private readonly queues = new Map<number, Queue>()
  private wake = Deferred.unsafeMake<void>(FiberId.none)
  private sleepingUntilMs = Number.POSITIVE_INFINITY

  constructor(private readonly clock: Clock.Clock) {}

  /** Registers an ask that fails with `onTimeout()` unless it is answered within `timeoutMs`. */
  add(timeoutMs: number, deferred: Deferred.Deferred<unknown, unknown>, onTimeout: () => unknown): void {
    const deadlineMs = this.clock.unsafeCurrentTimeMillis() + timeoutMs
    let queue = this.queues.get(timeoutMs)
    if (queue === undefined) {
      queue = { entries: [], head: 0 }
      this.queues.set(timeoutMs, queue)
    }
    dropAnswered(queue)
    queue.entries.push({ deadlineMs, deferred, onTimeout })
    if (deadlineMs < this.sleepingUntilMs) Deferred.unsafeDone(this.wake, Exit.void)
  }

  /** The sweeper: run it forked for as long as the node lives. */
  readonly run: Effect.Effect<never> = Effect.suspend(() => {
    const loop: Effect.Effect<never> = Effect.suspend(() => {
      const now = this.clock.unsafeCurrentTimeMillis()
      let next = Number.POSITIVE_INFINITY
      for (const [timeoutMs, queue] of this.queues) {
        while (queue.head < queue.entries.length) {
          const entry = queue.entries[queue.head]!
          if (isDone(entry.deferred)) {
            queue.head++
          } else if (entry.deadlineMs <= now) {
            Deferred.unsafeDone(entry.deferred, Exit.fail(entry.onTimeout()))
            queue.head++
          } else {
            next = Math.min(next, entry.deadlineMs)
            break
          }
        }
        compact(queue)
        if (queue.head >= queue.entries.length) this.queues.delete(timeoutMs)
      }
      this.wake = Deferred.unsafeMake<void>(FiberId.none)
      this.sleepingUntilMs = next
      const wait = next === Number.POSITIVE_INFINITY
        ? Deferred.await(this.wake)
        : Effect.raceFirst(Effect.sleep(Duration.millis(next - now)), Deferred.await(this.wake))
      return Effect.zipRight(wait, loop)
    })
    return loop
  })
}

/** Whether an ask was answered (peeks at the deferred's state: `Deferred.isDone` is an effect). */
const isDone = (deferred: Deferred.Deferred<unknown, unknown>): boolean =>
  MutableRef.get((deferred as unknown as { state: MutableRef.MutableRef<{ _tag: string }> }).state)._tag === "Done"

const dropAnswered = (queue: Queue) => {
  while (queue.head < queue.entries.length && isDone(queue.entries[queue.head]!.deferred)) queue.head++
  compact(queue)
}

const compact = (queue: Queue) => {
  if (queue.head > 1024 && queue.head * 2 > queue.entries.length) {
    queue.entries = queue.entries.slice(queue.head)
    queue.head = 0
  }
}
