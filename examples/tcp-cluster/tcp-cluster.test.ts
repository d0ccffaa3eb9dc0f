/** Runs the tcp-cluster example (real processes on loopback) and checks what it shows. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { run } from "./main.js"

describe("tcp-cluster example", () => {
  it.live("kills a broker, fails over, restarts it into the ISR, and loses no acknowledged record", () =>
    Effect.gen(function*() {
      const outcome = yield* run(() => Effect.void)
      expect(outcome.lost).toBe(0)
      expect(outcome.consumed).toBeGreaterThanOrEqual(outcome.acked)
      expect(outcome.acked).toBeGreaterThan(200)
      expect(outcome.newLeader).not.toBe(outcome.killed)
      expect(outcome.rejoinedIsr).toContain(outcome.killed)
    }), { timeout: 240_000 })
})
