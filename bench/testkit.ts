/**
 * Schedules per minute: how many 3-broker, 30-simulated-second fault schedules (workload,
 * nemesis with 3+ faults, heal, settle, liveness, drain, every checker) the testkit runs per
 * minute of wall time on one core. Prints `{"name": "schedules", "perMinute": n}`.
 */
import { Effect, FastCheck as fc } from "effect"
import * as Nemesis from "../packages/testkit/src/Nemesis.js"
import * as Property from "../packages/testkit/src/Property.js"

const brokers = 3
const durationMs = 30_000
const count = Number(process.env.FIBERLOG_BENCH_SCHEDULES ?? 10)

/** The configuration property (a) uses: acks=all, minISR=2, clean election, idempotent producers. */
export const options: Property.Options = {
  seed: 1,
  runs: count,
  durationMs,
  cluster: { brokers, sessionTimeoutMs: 3_000, replicaLagTimeMs: 2_000, fetchMaxWaitMs: 500 },
  workload: {
    topic: "bench",
    partitions: 2,
    replicationFactor: 3,
    config: { minInsyncReplicas: 2 },
    producers: [
      { name: "p0", acks: -1, idempotent: true, intervalMs: 200 },
      { name: "p1", acks: -1, idempotent: true, intervalMs: 200 }
    ],
    consumers: 1
  },
  schedule: Nemesis.schedule({ brokers, partitions: 2, durationMs, kinds: ["crash", "crash-leader", "split", "isolate", "pause"] }),
  checkers: ["lost-write", "duplicate", "inconsistent-offsets", "nonmonotonic-poll", "unseen", "leader-not-from-isr", "liveness"]
}

const main = Effect.gen(function*() {
  const cases = fc.sample(fc.record({ seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), schedule: options.schedule }), { seed: 1, numRuns: count })
  const start = performance.now()
  let findings = 0
  for (const c of cases) findings += (yield* Property.runCase(options, c)).findings.length
  const elapsedMs = performance.now() - start
  console.log(JSON.stringify({ name: "schedules", perMinute: Math.round((count * 60_000) / elapsedMs), schedules: count, brokers, simulatedMs: durationMs, findings }))
})

if (process.argv[1]?.endsWith("testkit.ts")) Effect.runPromise(main)
