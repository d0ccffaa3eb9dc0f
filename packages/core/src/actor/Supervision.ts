/**
 * Supervision: what a parent does when its child fails. A child that fails is restarted after a
 * delay from a `Schedule` (exponential backoff with jitter by default); more than `maxRestarts`
 * failures within `withinMs` and the parent gives up: it stops the child, or escalates the
 * failure to its own supervisor.
 *
 * On restart the actor's `init` runs again (so it can reload state from its log), and the
 * mailbox is kept: messages queued behind the one that failed are handled by the new
 * incarnation. The failing message is dropped (an ask gets `ActorUnavailable("failed")`).
 *
 * @since 0.1.0
 */
import { type Cause, Context, Duration, Schedule } from "effect"

/** A supervision policy. Time is measured with Effect's `Clock`, randomness with its `Random`. */
export interface Strategy {
  /** Delays between restarts; when the schedule ends, the parent gives up as for `maxRestarts`. */
  readonly backoff: Schedule.Schedule<unknown, unknown>
  /** At most this many restarts within `withinMs`; the next failure gives up. */
  readonly maxRestarts: number
  readonly withinMs: number
  /** After giving up: stop the child, or fail the parent so its own supervisor decides. */
  readonly onGiveUp: "stop" | "escalate"
}

/** Exponential backoff from `baseMs`, doubled per restart, capped at `maxDelayMs`, jittered. */
export const exponentialBackoff = (baseMs: number, maxDelayMs: number): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(Duration.millis(baseMs), 2).pipe(
    Schedule.union(Schedule.spaced(Duration.millis(maxDelayMs))),
    Schedule.jittered
  )

/** Restart with backoff: `maxRestarts` within `withinMs`, then stop or escalate. */
export const restart = (options: {
  readonly maxRestarts: number
  readonly withinMs: number
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
  readonly onGiveUp?: "stop" | "escalate"
}): Strategy => ({
  backoff: exponentialBackoff(options.baseDelayMs ?? 100, options.maxDelayMs ?? 10_000),
  maxRestarts: options.maxRestarts,
  withinMs: options.withinMs,
  onGiveUp: options.onGiveUp ?? "stop"
})

/** The default: 5 restarts within a minute, 100 ms doubling up to 10 s with jitter, then stop. */
export const defaultStrategy: Strategy = restart({ maxRestarts: 5, withinMs: 60_000 })

/** Never restart: the first failure stops the actor (or escalates). */
export const stopOnFailure = (onGiveUp: "stop" | "escalate" = "stop"): Strategy => ({
  backoff: Schedule.stop,
  maxRestarts: 0,
  withinMs: 0,
  onGiveUp
})

/** The decision after a failure at `nowMs`, given the times of earlier restarts. */
export type Decision =
  | { readonly _tag: "Restart"; readonly restartTimesMs: ReadonlyArray<number>; readonly windowReset: boolean }
  | { readonly _tag: "GiveUp" }

/**
 * Decides whether a failure may restart: restarts older than the window are forgotten (and the
 * backoff starts over when none are left); a full window gives up.
 */
export const decide = (strategy: Strategy, restartTimesMs: ReadonlyArray<number>, nowMs: number): Decision => {
  const recent = restartTimesMs.filter((t) => nowMs - t < strategy.withinMs)
  if (recent.length >= strategy.maxRestarts) return { _tag: "GiveUp" }
  return { _tag: "Restart", restartTimesMs: [...recent, nowMs], windowReset: recent.length === 0 }
}

/** What a {@link FailureObserver} is told: the actor, and what ended its incarnation. */
export interface Failure {
  /** The actor's address, `node/path`. */
  readonly address: string
  readonly cause: Cause.Cause<unknown>
}

/**
 * Told of every failed actor incarnation (a defect, or an error no handler handled; never an
 * interruption, so a node closing is not one), before the strategy decides what follows. A node
 * takes the observer in context when it is made. The default ignores them; the testkit's clusters
 * record them, and its `actor-failed` check reports each as a finding: an actor that fails under
 * faults is a bug, even when a restart hides it.
 */
export class FailureObserver extends Context.Reference<FailureObserver>()("@fiberlog/core/Supervision/FailureObserver", {
  defaultValue: (): { readonly onFailure: (failure: Failure) => void } => ({ onFailure: () => {} })
}) {}
