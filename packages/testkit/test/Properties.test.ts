import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { Nemesis, Property } from "../src/index.js"
import * as fixtures from "./fixtures.js"

const quiet = { log: () => {} }

describe("properties", () => {
  // (a) Kafka's safe configuration: no checker may fire, whatever the schedule. Each schedule is
  // 30 virtual seconds with 3..6 faults over 3 brokers. 200 by default (about 100 s on a quiet
  // 2-core machine, deterministic per seed); FIBERLOG_SCHEDULES sets how many.
  it.effect("(a) acks=all, minISR=2, clean election, idempotent producers: no checker fires", () =>
    Effect.gen(function*() {
      const result = yield* Property.assertProperty(fixtures.safe(Property.runsFromEnv(200)))
      expect(result.failure).toBeUndefined()
    }), 600_000)

  // (b) acks=1: a leader that dies (or is split off) before its followers fetched loses acked
  // writes. The testkit must find it, and shrink the schedule to a fault or two.
  it.effect("(b) acks=1 with leader crashes: lost-write is found and the schedule shrinks small", () =>
    Effect.gen(function*() {
      const durationMs = 10_000
      const result = yield* Property.checkProperty({
        ...quiet,
        seed: 1,
        runs: 20,
        cluster: fixtures.cluster,
        durationMs,
        settleMs: 8_000,
        workload: fixtures.workload({ minInsyncReplicas: 1 }, { acks: 1, idempotent: false, retries: 0 }),
        schedule: Nemesis.schedule({
          brokers: fixtures.brokers,
          partitions: 2,
          durationMs,
          kinds: ["crash-leader", "split-leader"],
          minFaults: 1,
          maxFaults: 3,
          minFaultMs: 4_000
        }),
        checkers: ["lost-write"]
      })
      expect(result.failure).toBeDefined()
      expect(result.failure!.findings.some((f) => f._tag === "lost-write")).toBe(true)
      expect(result.failure!.case.schedule.length).toBeLessThanOrEqual(2)
      expect(result.failure!.report).toContain("FIBERLOG_REPLAY=")
    }), 600_000)

  // (c) Unclean election: once every ISR member is down, a live out-of-sync replica may lead, and
  // the acked tail of the old leader is gone.
  it.effect("(c) unclean election with the whole ISR crashed: lost-write is found", () =>
    Effect.gen(function*() {
      const durationMs = 20_000
      const result = yield* Property.checkProperty({
        ...quiet,
        seed: 2,
        runs: 30,
        cluster: fixtures.cluster,
        durationMs,
        settleMs: 8_000,
        workload: fixtures.workload({ minInsyncReplicas: 1, uncleanLeaderElection: true }, { acks: -1, idempotent: true }),
        // A user-written arbitrary: two brokers crash, then the third (now the whole ISR) while
        // they are down; the first two come back first and one of them leads, uncleanly.
        schedule: fc.tuple(
          fc.shuffledSubarray([1, 2, 3], { minLength: 3, maxLength: 3 }),
          fc.integer({ min: 4_000, max: 6_000 }),
          fc.integer({ min: 2_000, max: 5_000 })
        ).map(([[x, y, z], gapMs, overlapMs]): Nemesis.Schedule => [
          { atMs: 1_000, durationMs: gapMs + overlapMs, fault: { _tag: "crash", broker: x!, loseUnflushed: false } },
          { atMs: 1_000, durationMs: gapMs + overlapMs, fault: { _tag: "crash", broker: y!, loseUnflushed: false } },
          { atMs: 1_000 + gapMs, durationMs: overlapMs + 4_000, fault: { _tag: "crash", broker: z!, loseUnflushed: false } }
        ]),
        checkers: ["lost-write"]
      })
      expect(result.failure).toBeDefined()
      expect(result.failure!.findings.some((f) => f._tag === "lost-write")).toBe(true)
      expect(result.failure!.case.schedule).toHaveLength(3)
    }), 600_000)
})
