/**
 * Retry timing shared by the clients: exponential backoff from `retryBackoffMs`, capped at
 * `maxRetryBackoffMs`, at most `retries` retries. Sleeps go through Effect's Clock, so a
 * `TestClock` drives them.
 */
import { Duration, Schedule } from "effect"

/** Retry limits of a client request. */
export interface RetryOptions {
  readonly retries: number
  readonly retryBackoffMs: number
  readonly maxRetryBackoffMs: number
}

/** Delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, capped. Pure. */
export const backoffMs = (options: RetryOptions, attempt: number): number =>
  Math.min(options.maxRetryBackoffMs, options.retryBackoffMs * 2 ** Math.max(0, Math.min(30, attempt - 1)))

/** The same backoff as a `Schedule` (for `Effect.retry`): at most `retries` retries. */
export const schedule = (options: RetryOptions): Schedule.Schedule<unknown> =>
  Schedule.exponential(Duration.millis(options.retryBackoffMs)).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(options.maxRetryBackoffMs))),
    Schedule.intersect(Schedule.recurs(options.retries))
  )
