/**
 * Property-based fault testing: `checkProperty` generates fault schedules with fast-check, runs
 * each on a fresh `TestCluster` (workload, nemesis, heal, settle, liveness, drain), runs the
 * checkers over the history and every replica's final log, and on failure prints the seed and
 * the shrunk schedule, ready to replay. `FIBERLOG_REPLAY='<case json>'` replays one case;
 * `FIBERLOG_CHECK_DETERMINISM=1` runs every case twice and fails on any divergence.
 *
 * @since 0.1.0
 */
import { Data, Effect, FastCheck as fc } from "effect"
import * as Checker from "./Checker.js"
import * as History from "./History.js"
import * as Nemesis from "./Nemesis.js"
import * as TestCluster from "./TestCluster.js"
import * as Workload from "./Workload.js"

/**
 * What a property checks: a checker's name, the liveness check after heal, or `actor-failed`:
 * no actor of the cluster failed during the case (see `TestCluster.actorFailures`).
 */
export type CheckName = Checker.Name | "liveness" | "actor-failed"

/** A divergence between two runs of one case (only with determinism checking on). */
export interface Divergence {
  readonly _tag: "divergence"
  readonly what: "history" | "logs"
}

/** Anything a property run finds. */
export type Finding = Checker.Finding | Workload.LivenessFinding | TestCluster.ActorFailed | Divergence

/** One generated case: the simulation seed (never shrunk) and the fault schedule. */
export interface Case {
  readonly seed: number
  readonly schedule: Nemesis.Schedule
}

/** Options of a property. */
export interface Options {
  /** fast-check's seed: the same seed generates the same cases. */
  readonly seed: number
  readonly runs: number
  readonly schedule: fc.Arbitrary<Nemesis.Schedule>
  readonly workload: Workload.Spec
  readonly checkers: ReadonlyArray<CheckName>
  /** Brokers and the embedded cluster's timings (the seed comes from the case). */
  readonly cluster?: Omit<TestCluster.Options, "seed">
  /** Virtual time the workload and the nemesis run, in ms. Default 30_000. */
  readonly durationMs?: number
  /** Virtual time after heal before the liveness check, in ms. Default 10_000. */
  readonly settleMs?: number
  /** Run each case twice and fail on divergence. Default: env `FIBERLOG_CHECK_DETERMINISM=1`. */
  readonly checkDeterminism?: boolean
  /**
   * Run one case in `serializeOneIn` with every message Schema-encoded and structurally cloned
   * (as over TCP), the rest with messages handed over as objects (roughly 30% cheaper). Which cases
   * is decided by the case's seed, so a replay or a shrink serialises exactly when the original
   * did. Default 4; 1: every case. `cluster.serialize`, when set, decides for every case.
   */
  readonly serializeOneIn?: number
  /** Where the failure report goes. Default `console.error`. */
  readonly log?: (report: string) => void
}

/** The outcome of one case. */
export interface Outcome {
  readonly case: Case
  readonly findings: ReadonlyArray<Finding>
  readonly history: ReadonlyArray<History.Op>
  /** `History.toJson(history)`: computed on first read (only determinism checks and tests compare it), then kept. */
  readonly historyJson: string
  readonly logs: ReadonlyArray<Checker.FinalLog>
  readonly nemesis: ReadonlyArray<Nemesis.Event>
}

/** The outcome of a property. */
export interface Result {
  readonly runs: number
  readonly failure?: {
    readonly seed: number
    readonly path: string
    readonly shrinks: number
    /** The smallest failing case fast-check found. */
    readonly case: Case
    readonly findings: ReadonlyArray<Finding>
    readonly report: string
  }
}

/** A property failed; `report` holds the seed, the shrunk schedule and the findings. */
export class PropertyFailed extends Data.TaggedError("PropertyFailed")<{ readonly report: string; readonly result: Result }> {
  override get message() {
    return this.report
  }
}

const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name]

/** `FIBERLOG_SCHEDULES` if set (a positive integer), else `fallback`. */
export const runsFromEnv = (fallback: number): number => {
  const n = Number(env("FIBERLOG_SCHEDULES"))
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/** Whether `c` runs with serialised messages (see `Options.serializeOneIn`). Pure. */
export const serializes = (options: Pick<Options, "serializeOneIn" | "cluster">, c: Case): boolean => {
  if (options.cluster?.serialize !== undefined) return options.cluster.serialize
  const oneIn = Math.max(1, Math.floor(options.serializeOneIn ?? 4))
  return Math.abs(c.seed) % oneIn === 0
}

/** Runs one case on a fresh cluster and checks it. Deterministic: same options and case, same outcome. */
export const runCase = (options: Options, c: Case): Effect.Effect<Outcome> =>
  TestCluster.run({ brokers: 3, serialize: serializes(options, c), ...options.cluster, seed: c.seed }, (cluster) =>
    Effect.gen(function*() {
      const recorder = yield* History.make()
      yield* cluster.advance(1_000) // brokers register
      const running = yield* Effect.orDie(Workload.start(cluster, recorder, options.workload))
      const nemesis = yield* Effect.fork(Nemesis.run(cluster, c.schedule, { topic: options.workload.topic, members: running.members }))
      yield* cluster.advance(options.durationMs ?? 30_000)
      yield* running.stopProducers
      const events = yield* nemesis.await.pipe(Effect.map((exit) => (exit._tag === "Success" ? exit.value : [])))
      yield* Nemesis.healAll(cluster)
      yield* cluster.advance(options.settleMs ?? 10_000)
      const liveness = options.checkers.includes("liveness")
        ? yield* Workload.liveness(cluster, running.client, options.workload.topic)
        : []
      yield* running.stopConsumers
      yield* running.drain
      const history = yield* recorder.ops
      const logs = yield* cluster.finalLogs(options.workload.topic)
      const names = options.checkers.filter((n): n is Checker.Name => n !== "liveness" && n !== "actor-failed")
      const report = Checker.check({ history, logs }, names)
      const failed = options.checkers.includes("actor-failed") ? yield* cluster.actorFailures : []
      let historyJson: string | undefined
      return {
        case: c,
        findings: [...report.findings, ...liveness, ...failed],
        history,
        get historyJson() {
          return historyJson ??= History.toJson(history)
        },
        logs,
        nemesis: events
      }
    }))

/** Runs a case, twice when `checkDeterminism`, adding a `divergence` finding if the runs differ. */
const runChecked = (options: Options, c: Case): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const first = yield* runCase(options, c)
    if (!(options.checkDeterminism ?? env("FIBERLOG_CHECK_DETERMINISM") === "1")) return first
    const second = yield* runCase(options, c)
    const divergences: Array<Divergence> = []
    if (second.historyJson !== first.historyJson) divergences.push({ _tag: "divergence", what: "history" })
    if (JSON.stringify(second.logs) !== JSON.stringify(first.logs)) divergences.push({ _tag: "divergence", what: "logs" })
    return { ...first, findings: [...first.findings, ...divergences] }
  })

/** Replays one case (from a failure report) and returns its outcome. */
export const replay = (options: Options, c: Case): Effect.Effect<Outcome> => runChecked(options, c)

/** The failure report: seed, replay line, shrunk schedule and findings (the first few of each kind). */
export const formatFailure = (seed: number, path: string, c: Case, findings: ReadonlyArray<Finding>): string => {
  const byKind = new Map<string, Array<Finding>>()
  for (const f of findings) byKind.set(f._tag, [...(byKind.get(f._tag) ?? []), f])
  const lines = [
    `property failed: fast-check seed ${seed}, path "${path}"`,
    `shrunk case (simulation seed ${c.seed}, ${c.schedule.length} faults):`,
    Nemesis.format(c.schedule),
    `replay: FIBERLOG_REPLAY='${JSON.stringify(c)}' (or Property.replay(options, case))`,
    `findings:`
  ]
  for (const [kind, list] of byKind) {
    lines.push(`  ${kind} x${list.length}: ${list.slice(0, 3).map((f) => JSON.stringify(f)).join(" ")}`)
  }
  return lines.join("\n")
}

/**
 * Generates `runs` schedules from `seed`, runs each, and shrinks the first failure to the smallest
 * schedule that still fails. Never fails itself: the result says what it found (see {@link assertProperty}).
 */
export const checkProperty = (options: Options): Effect.Effect<Result> =>
  Effect.gen(function*() {
    const log = options.log ?? ((report: string) => console.error(report))
    const replayJson = env("FIBERLOG_REPLAY")
    if (replayJson !== undefined && replayJson !== "") {
      const c = JSON.parse(replayJson) as Case
      const outcome = yield* runChecked(options, c)
      if (outcome.findings.length === 0) return { runs: 1 }
      const report = formatFailure(options.seed, "replay", c, outcome.findings)
      log(report)
      return { runs: 1, failure: { seed: options.seed, path: "replay", shrinks: 0, case: c, findings: outcome.findings, report } }
    }
    const arbitrary = fc.record({ seed: fc.noShrink(fc.integer({ min: 0, max: 2 ** 31 - 1 })), schedule: options.schedule })
    const property = fc.asyncProperty(arbitrary, async (c) => {
      const outcome = await Effect.runPromise(runChecked(options, c))
      return outcome.findings.length === 0
    })
    const details = yield* Effect.promise(() => fc.check(property, { seed: options.seed, numRuns: options.runs }))
    if (!details.failed || details.counterexample === null) return { runs: details.numRuns }
    const shrunk = details.counterexample[0]
    const outcome = yield* runChecked(options, shrunk)
    const path = details.counterexamplePath ?? ""
    const report = formatFailure(details.seed, path, shrunk, outcome.findings)
    log(report)
    return {
      runs: details.numRuns,
      failure: { seed: details.seed, path, shrinks: details.numShrinks, case: shrunk, findings: outcome.findings, report }
    }
  })

/** `checkProperty`, failing with `PropertyFailed` (its report) when a checker fires. */
export const assertProperty = (options: Options): Effect.Effect<Result, PropertyFailed> =>
  Effect.flatMap(checkProperty(options), (result) =>
    result.failure === undefined ? Effect.succeed(result) : Effect.fail(new PropertyFailed({ report: result.failure.report, result })))
