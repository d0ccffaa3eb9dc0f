/**
 * A leader's parked long-poll fetches (Kafka's fetch purgatory, its delayed fetches): followers'
 * polls wait for an append, consumers' polls for a higher watermark. No fiber per poll: one
 * server fiber per replica incarnation (`serve`) looks at the polls that are due (woken, or at
 * their deadline) one after another, and each poll is answered through its ask's callback
 * (`Actor.laterCallback`). Polls woken together are looked at in one turn of that fiber.
 *
 * @internal
 */
import { Effect, type Exit, type Schema } from "effect"
import * as Actor from "../../actor/Actor.js"
import * as Deadlines from "../../actor/internal/deadlines.js"
import type * as P from "../ReplicaProtocol.js"

/** What a fetch may fail with. */
export type FetchFailure = Schema.WithResult.Failure<P.Fetch>

/** A long-poll fetch parked on the leader until there is enough to answer it or its deadline has passed. */
export class ParkedFetch implements Deadlines.Expiring {
  /** Answered: its deadline and any later wake-up no longer matter. */
  settled = false
  private answer: ((exit: Exit.Exit<P.FetchResult, FetchFailure>) => void) | undefined = undefined
  private early: Exit.Exit<P.FetchResult, FetchFailure> | undefined = undefined

  constructor(
    readonly req: P.Fetch,
    readonly isFollower: boolean,
    readonly leaderEpoch: number,
    readonly deadlineMs: number,
    readonly logStartOffset: number,
    private readonly purgatory: Purgatory
  ) {}

  /** At the deadline: due for a last look. */
  readonly expire = (): void => this.purgatory.due([this])

  /** Answers the poll (the first answer wins). */
  settle(exit: Exit.Exit<P.FetchResult, FetchFailure>): void {
    if (this.settled) return
    this.settled = true
    if (this.answer === undefined) this.early = exit
    else this.answer(exit)
  }

  /** The ask's reply: answers through `answer` (at once if it is answered already). */
  readonly reply = Actor.laterCallback<P.FetchResult, FetchFailure>((answer) => {
    this.answer = answer
    if (this.early !== undefined) answer(this.early)
  })
}

/**
 * `waiters` with `poll` added. Polls answered at their deadline stay listed until the next
 * wake-up; when the list reaches 64, 128, 256... entries they are dropped (amortised O(1) per park),
 * so a partition nothing is written to does not collect them without bound.
 */
const parked = (waiters: Array<ParkedFetch>, poll: ParkedFetch) => {
  const n = waiters.length
  const kept = n >= 64 && (n & (n - 1)) === 0 ? waiters.filter((w) => !w.settled) : waiters
  kept.push(poll)
  return kept
}

/** One replica incarnation's parked polls. Mutable; used from the replica's actor and its server fiber. */
export class Purgatory {
  /** Followers' polls, waiting for an append. */
  private followers: Array<ParkedFetch> = []
  /** Consumers' polls, waiting for a higher watermark (an append alone gives them nothing to read). */
  private consumers: Array<ParkedFetch> = []
  /** Polls to look at again, for the server. */
  private pending: Array<ParkedFetch> = []
  /** Wakes the server when `pending` gets entries; re-armed before it takes them. */
  private readonly wakeup = new Deadlines.Wakeup()

  /** Parks `poll` with the followers' or the consumers' polls. */
  park(poll: ParkedFetch): void {
    if (poll.isFollower) this.followers = parked(this.followers, poll)
    else this.consumers = parked(this.consumers, poll)
  }

  /** Hands `polls` to the server to look at again, and wakes it. */
  due(polls: ReadonlyArray<ParkedFetch>): void {
    for (const poll of polls) if (!poll.settled) this.pending.push(poll)
    if (this.pending.length > 0) this.wakeup.fire()
  }

  /** Wakes the followers' polls (new data). */
  wakeFollowers(): void {
    const waiters = this.followers
    this.followers = []
    this.due(waiters)
  }

  /** Wakes the consumers' polls (a new high watermark). */
  wakeConsumers(): void {
    const waiters = this.consumers
    this.consumers = []
    this.due(waiters)
  }

  /**
   * The server: forever, takes the polls due and runs `look` on each in turn (which answers the
   * poll, or parks it again, or hands it back as due). Waits while none is due.
   */
  serve(look: (poll: ParkedFetch) => Effect.Effect<void>): Effect.Effect<never> {
    const lookAll = (polls: ReadonlyArray<ParkedFetch>, from: number): Effect.Effect<void> => {
      let i = from
      while (i < polls.length) {
        const looked = look(polls[i++]!)
        if (looked !== Effect.void) return Effect.flatMap(looked, () => lookAll(polls, i))
      }
      return Effect.void
    }
    // Re-armed before taking the polls due, so a wake-up while they are looked at is kept.
    const loop: Effect.Effect<never> = Effect.suspend(() => {
      this.wakeup.rearm()
      const polls = this.pending
      if (polls.length === 0) return Effect.flatMap(this.wakeup.await, () => loop)
      this.pending = []
      return Effect.flatMap(lookAll(polls, 0), () => loop)
    })
    return loop
  }
}
