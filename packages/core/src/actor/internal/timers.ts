/**
 * Ask deadlines without a fiber or a timer per ask, on the shared `Deadlines` scheme (one FIFO
 * queue and one sweeper per timeout value). An ask's outcome lands in an `Outcome`: its reply, a
 * rejection, or the `AskTimeout` its deadline sets.
 *
 * @internal
 */
import type { Clock, Effect, Scope } from "effect"
import { Deadlines, Outcome } from "./deadlines.js"

/** Where an ask's outcome lands (see `Outcome`). */
export type ReplySlot = Outcome<unknown, unknown>

/** A reply slot whose deadline fails it with `onTimeout()`. */
export const replySlot = (onTimeout: () => unknown): ReplySlot => new Outcome<unknown, unknown>(onTimeout)

/**
 * Sweepers kept idling, at most: a queue past this many (a caller with ever-changing timeouts)
 * ends its sweeper when it empties, and the next ask with that timeout starts a new one.
 */
const maxIdleSweepers = 32

/** The deadlines of one node's asks. */
export class AskTimers {
  private readonly deadlines: Deadlines

  constructor(clock: Clock.Clock, scope: Scope.Scope) {
    this.deadlines = new Deadlines(clock, scope, maxIdleSweepers)
  }

  /**
   * Registers an ask whose slot fails with its `onTimeout()` unless it is answered within
   * `timeoutMs`. The effect starts the timeout's sweeper when it has none; otherwise it does nothing.
   */
  add(timeoutMs: number, slot: ReplySlot): Effect.Effect<void> {
    return this.deadlines.add(timeoutMs, slot)
  }
}
