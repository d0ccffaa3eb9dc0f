/**
 * An actor's mailbox: a bounded FIFO with one taker (the actor's fiber). It does what the cell
 * needs from Effect's `Mailbox` (offer at once or not, wait for room under `suspend`, take
 * everything queued, clear, shut down) and no more, so that the actor's wait for its next batch
 * is one `Effect.async` without a canceler. `Mailbox.takeAll` waits through `asyncInterrupt`,
 * which wraps every wait in `onInterrupt` (an uninterruptible region and an exit match) — per
 * batch, the largest share of an idle-then-busy actor's cost. An interrupted taker's wake-up is
 * ignored by the fiber runtime (an async resumes at most once), and the messages stay queued for
 * whoever takes next (the actor's next incarnation).
 *
 * @internal
 */
import { Effect, type Scheduler } from "effect"

/** What happens to an offer when the mailbox is full. */
export type Strategy = "dropping" | "sliding" | "suspend"

interface Offerer {
  readonly message: unknown
  readonly resume: (effect: Effect.Effect<boolean>) => void
}

const empty: ReadonlyArray<unknown> = []
const shutDown = Effect.succeed([empty, true] as const)

/** An actor's mailbox (see the module comment). */
export class CellMailbox {
  private items: Array<unknown> = []
  private taker: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  private readonly offerers: Array<Offerer> = []
  private isShutdown = false
  private releaseScheduled = false

  /**
   * `scheduler` is the creating fiber's: an offer wakes the taker from a task on it, once per
   * burst of offers, as Effect's `Mailbox` does (so actors interleave exactly as they did on it).
   */
  constructor(readonly capacity: number, readonly strategy: Strategy, private readonly scheduler: Scheduler.Scheduler) {}

  /** Queues `message` if there is room (`sliding`: always, dropping the oldest); whether it was queued. */
  unsafeOffer(message: unknown): boolean {
    if (this.isShutdown) return false
    if (this.items.length >= this.capacity) {
      if (this.strategy !== "sliding") return false
      this.items.shift()
      this.items.push(message)
      return true
    }
    this.items.push(message)
    if (!this.releaseScheduled) {
      this.releaseScheduled = true
      this.scheduler.scheduleTask(this.release, 0)
    }
    return true
  }

  private readonly release = () => {
    this.releaseScheduled = false
    if (!this.isShutdown) this.wakeTaker()
  }

  /** Queues `message`, waiting for room under `suspend`; false once the mailbox is shut down. */
  offer(message: unknown): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      if (this.unsafeOffer(message)) return Effect.succeed(true)
      if (this.isShutdown || this.strategy !== "suspend") return Effect.succeed(false)
      // Rare (a full mailbox under `suspend`): this wait keeps its canceler, so an interrupted
      // offer is withdrawn rather than delivered later.
      return Effect.async<boolean>((resume) => {
        const offerer = { message, resume }
        this.offerers.push(offerer)
        return Effect.sync(() => {
          const i = this.offerers.indexOf(offerer)
          if (i >= 0) this.offerers.splice(i, 1)
        })
      })
    })
  }

  /** Everything queued, waiting for at least one message; `[[], true]` once shut down. */
  readonly takeAll: Effect.Effect<readonly [ReadonlyArray<unknown>, boolean]> = Effect.suspend(() => {
    if (this.isShutdown) return shutDown
    if (this.items.length > 0) return Effect.succeed([this.takeItems(), false] as const)
    return Effect.zipRight(this.awaitOffer, this.takeAll)
  })

  /**
   * Everything queued (`[[], true]` once shut down), or `undefined` when there is nothing: the
   * actor's loop takes what is there without an effect, and waits (`awaitOffer`) only when empty.
   */
  unsafeTakeAll(): readonly [ReadonlyArray<unknown>, boolean] | undefined {
    if (this.isShutdown) return [empty, true]
    if (this.items.length > 0) return [this.takeItems(), false]
    return undefined
  }

  /** Waits for the next offer (or shutdown); the messages stay queued until taken. One taker at a time. */
  readonly awaitOffer: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.taker = resume
  })

  /** Removes and returns everything queued. */
  readonly clear: Effect.Effect<ReadonlyArray<unknown>> = Effect.sync(() => this.takeItems())

  /** Refuses every later offer, and wakes whoever waits (a waiting offer gets `false`). */
  readonly shutdown: Effect.Effect<void> = Effect.sync(() => {
    if (this.isShutdown) return
    this.isShutdown = true
    for (const offerer of this.offerers.splice(0)) offerer.resume(Effect.succeed(false))
    this.wakeTaker()
  })

  private takeItems(): ReadonlyArray<unknown> {
    const items = this.items
    this.items = []
    // Room again: admit waiting offers, in order.
    while (this.offerers.length > 0 && this.items.length < this.capacity) {
      const offerer = this.offerers.shift()!
      this.items.push(offerer.message)
      offerer.resume(Effect.succeed(true))
    }
    return items
  }

  private wakeTaker() {
    const taker = this.taker
    if (taker === undefined) return
    this.taker = undefined
    taker(Effect.void)
  }
}
