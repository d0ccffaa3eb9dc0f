/**
 * Periodic work for the cluster's actors (replica ticks, broker heartbeats, liveness checks).
 *
 * @internal
 */
import { Duration, Effect } from "effect"

/**
 * Runs `effect` now and then again `periodMs` after each run ends, forever: what
 * `Effect.repeat(effect, { schedule: Schedule.spaced(periodMs) })` does, without a schedule
 * driver per step (a third of the Effect operations per period).
 */
export const every = (periodMs: number, effect: Effect.Effect<unknown>): Effect.Effect<never> => {
  const pause = Effect.sleep(Duration.millis(periodMs))
  const loop: Effect.Effect<never> = Effect.flatMap(effect, () => Effect.flatMap(pause, () => loop))
  return loop
}
