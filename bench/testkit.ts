/**
 * Schedules per minute: how many 3-broker, 30-simulated-second fault schedules (workload,
 * nemesis with 3+ faults, heal, settle, liveness, drain, every checker) the testkit runs per
 * minute of wall time on this machine. Schedules are independent simulations, run in
 * `FIBERLOG_BENCH_WORKERS` child processes (default: one per core, `availableParallelism()`; on
 * the 2-vCPU VM two workers measured 1.35-1.65x one, not 2x: one process already keeps the second
 * core partly busy with V8's GC threads). `FIBERLOG_BENCH_WORKERS=1` runs them in this process
 * and also prints the CPU time per schedule.
 *
 * Like a JMH run, each worker first runs `FIBERLOG_BENCH_WARMUP` schedules (default 30) untimed, so
 * that the figure is the rate a long property run (`npm test` runs 200 schedules in one process)
 * settles at, not V8 compiling the code. The first schedules of a process take several times as
 * long as the rest, and V8 goes on optimizing functions as they turn hot for dozens more: CPU per
 * schedule in one process, main thread + V8's background threads (compiler, GC), averaged by tens
 * of schedules, measured 178+147, 119+43, 94+47, 96+27 ms, then about 90+20 from the 100th on
 * (with `--no-concurrent-recompilation` the background share fell from about 50 to 11 ms: it is
 * mostly compiling). Then it times `FIBERLOG_BENCH_SCHEDULES` (default 40) others.
 * Prints `{"name": "schedules", "perMinute": n}` (all workers), plus `perMinutePerWorker`, and
 * `coldMsPerSchedule`: the warm-up's wall time per schedule.
 */
import { availableParallelism } from "node:os"
import { type ChildProcess, fork } from "node:child_process"
import { Effect, FastCheck as fc } from "effect"
import { Nemesis, Property } from "@fiberlog/testkit"

const brokers = 3
const durationMs = 30_000
const count = Number(process.env.FIBERLOG_BENCH_SCHEDULES ?? 40)
const warmup = Math.max(0, Number(process.env.FIBERLOG_BENCH_WARMUP ?? 30))
const workers = Math.max(1, Math.min(availableParallelism(), Number(process.env.FIBERLOG_BENCH_WORKERS ?? availableParallelism()) || 1))

/**
 * The configuration property (a) uses: acks=all, minISR=2, clean election, idempotent producers,
 * with the testkit's own property timings (see packages/testkit/test/fixtures.ts).
 */
export const options: Property.Options = {
  seed: 1,
  runs: count,
  durationMs,
  cluster: { brokers, sessionTimeoutMs: 3_000, replicaLagTimeMs: 2_000, fetchMaxWaitMs: 2_000 },
  workload: {
    topic: "bench",
    partitions: 2,
    replicationFactor: 3,
    config: { minInsyncReplicas: 2 },
    producers: [
      { name: "p0", acks: -1, idempotent: true, intervalMs: 200 },
      { name: "p1", acks: -1, idempotent: true, intervalMs: 200 }
    ],
    consumers: 1,
    fetchMaxWaitMs: 2_000
  },
  schedule: Nemesis.schedule({ brokers, partitions: 2, durationMs, kinds: ["crash", "crash-leader", "split", "isolate", "pause"] }),
  checkers: ["lost-write", "duplicate", "inconsistent-offsets", "nonmonotonic-poll", "unseen", "leader-not-from-isr", "liveness", "actor-failed"]
}

/** The measured cases, then each worker's warm-up cases (other seeds, from the same stream). */
const sample = () =>
  fc.sample(fc.record({ seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), schedule: options.schedule }), {
    seed: 1,
    numRuns: count + warmup * workers
  })
const cases = () => sample().slice(0, count)
const warmupCases = (index: number) => sample().slice(count + warmup * index, count + warmup * (index + 1))

/** Runs the warm-up cases; their wall time per schedule in ms. */
const warm = async (index: number) => {
  const start = performance.now()
  await Effect.runPromise(runAll(warmupCases(index)))
  return warmup === 0 ? 0 : Math.round((performance.now() - start) / warmup)
}

/** Runs `mine` one after another; the number of findings. */
const runAll = (mine: ReadonlyArray<Property.Case>) =>
  Effect.gen(function*() {
    let findings = 0
    for (const c of mine) findings += (yield* Property.runCase(options, c)).findings.length
    return findings
  })

/** Worker: warms up, then runs cases `index, index + workers, ...` when told to start; sends the findings count. */
const worker = async (index: number) => {
  const mine = cases().filter((_, i) => i % workers === index)
  const coldMs = await warm(index)
  process.once("message", () => {
    const cpu = process.cpuUsage()
    Effect.runPromise(runAll(mine)).then((findings) => {
      const used = process.cpuUsage(cpu)
      process.send!({ findings, cpuMs: (used.user + used.system) / 1_000 }, () => process.disconnect())
    })
  })
  process.send!({ coldMs })
}

const main = async () => {
  if (workers === 1) {
    const all = cases()
    const coldMsPerSchedule = await warm(0)
    const start = performance.now()
    const cpu = process.cpuUsage()
    const findings = await Effect.runPromise(runAll(all))
    const perMinute = Math.round((count * 60_000) / (performance.now() - start))
    const used = process.cpuUsage(cpu)
    // CPU time per schedule: steadier than wall time on a machine shared with other work.
    const cpuMsPerSchedule = Math.round((used.user + used.system) / 1_000 / count)
    console.log(JSON.stringify({
      name: "schedules",
      perMinute,
      cpuMsPerSchedule,
      coldMsPerSchedule,
      workers,
      schedules: count,
      warmup,
      brokers,
      simulatedMs: durationMs,
      findings
    }))
    return
  }
  // A child inherits tsx's loader and the source condition through `process.execArgv`.
  const children: Array<ChildProcess> = Array.from({ length: Math.min(workers, count) }, (_, index) =>
    fork(process.argv[1]!, [], { env: { ...process.env, FIBERLOG_BENCH_WORKER: String(index) } }))
  const colds = await Promise.all(children.map((c) => new Promise<number>((resolve) => c.once("message", (m: { coldMs: number }) => resolve(m.coldMs)))))
  const start = performance.now()
  const results = await Promise.all(children.map((c) =>
    new Promise<{ findings: number; cpuMs: number }>((resolve, reject) => {
      c.once("message", (m: { findings: number; cpuMs: number }) => resolve(m))
      c.once("error", reject)
      c.send("start")
    })
  ))
  const elapsedMs = performance.now() - start
  const perMinute = Math.round((count * 60_000) / elapsedMs)
  const findings = results.reduce((a, r) => a + r.findings, 0)
  console.log(JSON.stringify({
    name: "schedules",
    perMinute,
    perMinutePerWorker: Math.round(perMinute / children.length),
    // CPU time of the workers' timed schedules (every thread of each worker) per schedule.
    cpuMsPerSchedule: Math.round(results.reduce((a, r) => a + r.cpuMs, 0) / count),
    coldMsPerSchedule: Math.round(colds.reduce((a, b) => a + b, 0) / colds.length),
    workers: children.length,
    schedules: count,
    warmup,
    brokers,
    simulatedMs: durationMs,
    findings
  }))
}

const workerIndex = process.env.FIBERLOG_BENCH_WORKER
if (workerIndex !== undefined && process.send !== undefined) void worker(Number(workerIndex))
else if (process.argv[1]?.endsWith("testkit.ts")) main()
