/**
 * The nemesis: fault schedules as plain data (which fault, on whom, when, for how long),
 * fast-check arbitraries that generate and shrink them, and `run`, which plays a schedule against
 * a `TestCluster`. A schedule is JSON: print it on failure, paste it back to replay it.
 *
 * @since 0.1.0
 */
import { Effect, FastCheck as fc } from "effect"
import type { NodeId } from "@fiberlog/core"
import * as SimNetwork from "./SimNetwork.js"
import type * as TestCluster from "./TestCluster.js"

/** A fault. Leader-targeted faults pick the partition's leader when they start. */
export type Fault =
  /** The broker's process dies; it restarts when the fault ends. */
  | { readonly _tag: "crash"; readonly broker: number; readonly loseUnflushed: boolean }
  /** The current leader of `partition` dies; it restarts when the fault ends. */
  | { readonly _tag: "crash-leader"; readonly partition: number; readonly loseUnflushed: boolean }
  /** The broker can reach nobody, clients included. */
  | { readonly _tag: "isolate"; readonly broker: number }
  /** The broker is cut from the other brokers and the controller; clients still reach it (Jepsen's Kafka split). */
  | { readonly _tag: "split"; readonly broker: number }
  /** The current leader of `partition` is split off (clients still write to it). */
  | { readonly _tag: "split-leader"; readonly partition: number }
  /** SIGSTOP then SIGCONT: every message to or from the broker is held until the fault ends. */
  | { readonly _tag: "pause"; readonly broker: number }
  /** A workload process (a group member) dies: no leave, no last commit; a new incarnation starts when the fault ends. */
  | { readonly _tag: "crash-member"; readonly member: number }
  /** A workload process (a group member) reaches nobody: its session expires while it still believes it owns its partitions. */
  | { readonly _tag: "isolate-member"; readonly member: number }
  /**
   * A slow host: every message to or from the broker takes `delayMs / 2` to `delayMs` (uniform),
   * order kept on each link, as a congested network or a host stalling in GC would. Requests time
   * out, heartbeats arrive late, responses overtake their retries.
   */
  | { readonly _tag: "slow"; readonly broker: number; readonly delayMs: number }

/**
 * The workload processes the nemesis may fault (`Workload.Running.members`): numbered from 0.
 * A crashed member stays down until `restart`.
 */
export interface Members {
  readonly count: number
  readonly crash: (member: number) => Effect.Effect<void>
  readonly restart: (member: number) => Effect.Effect<void>
  /** The node of the member's running incarnation (undefined while it is down). */
  readonly node: (member: number) => NodeId.NodeId | undefined
}

/** The name of a fault kind. */
export type Kind = Fault["_tag"]

/** One fault of a schedule: it starts at `atMs` (virtual, from the workload's start) and lasts `durationMs`. */
export interface Step {
  readonly atMs: number
  readonly durationMs: number
  readonly fault: Fault
}

/** A fault schedule. */
export type Schedule = ReadonlyArray<Step>

/** Options of the schedule arbitrary. */
export interface ScheduleOptions {
  readonly brokers: number
  readonly partitions: number
  /** Faults start in [0, durationMs - minFaultMs) and end by `durationMs`. */
  readonly durationMs: number
  readonly kinds: ReadonlyArray<Kind>
  readonly minFaults?: number
  readonly maxFaults?: number
  /** Shortest and longest fault, in ms. Defaults 500 and 10_000. */
  readonly minFaultMs?: number
  readonly maxFaultMs?: number
  /** Whether crashes may lose unflushed data. Default false. */
  readonly loseUnflushed?: boolean
  /** Workload processes that member faults pick from (0..members-1). Default 1. */
  readonly members?: number
}

/** A fault of one of `kinds` (shrinks toward the first kind, broker 1, partition 0). */
export const fault = (
  options: Pick<ScheduleOptions, "brokers" | "partitions" | "kinds" | "loseUnflushed" | "members">
): fc.Arbitrary<Fault> => {
  const broker = fc.integer({ min: 1, max: Math.max(1, options.brokers) })
  const member = fc.integer({ min: 0, max: Math.max(0, (options.members ?? 1) - 1) })
  const partition = fc.integer({ min: 0, max: Math.max(0, options.partitions - 1) })
  const lose = options.loseUnflushed === true ? fc.boolean() : fc.constant(false)
  const byKind: { readonly [K in Kind]: fc.Arbitrary<Fault> } = {
    "crash": fc.record({ _tag: fc.constant("crash" as const), broker, loseUnflushed: lose }),
    "crash-leader": fc.record({ _tag: fc.constant("crash-leader" as const), partition, loseUnflushed: lose }),
    "isolate": fc.record({ _tag: fc.constant("isolate" as const), broker }),
    "split": fc.record({ _tag: fc.constant("split" as const), broker }),
    "split-leader": fc.record({ _tag: fc.constant("split-leader" as const), partition }),
    "pause": fc.record({ _tag: fc.constant("pause" as const), broker }),
    "crash-member": fc.record({ _tag: fc.constant("crash-member" as const), member }),
    "isolate-member": fc.record({ _tag: fc.constant("isolate-member" as const), member }),
    "slow": fc.record({ _tag: fc.constant("slow" as const), broker, delayMs: fc.integer({ min: 20, max: 5_000 }) })
  }
  return fc.oneof(...options.kinds.map((kind) => byKind[kind]))
}

/** Fault schedules: `minFaults..maxFaults` steps (default 3..6), each inside `durationMs`. */
export const schedule = (options: ScheduleOptions): fc.Arbitrary<Schedule> => {
  const minFaultMs = options.minFaultMs ?? 500
  const maxFaultMs = Math.max(minFaultMs, options.maxFaultMs ?? 10_000)
  const latestStartMs = Math.max(0, options.durationMs - minFaultMs)
  const step = fc.record({
    atMs: fc.integer({ min: 0, max: latestStartMs }),
    durationMs: fc.integer({ min: minFaultMs, max: maxFaultMs }),
    fault: fault(options)
  }).map((s) => ({ ...s, durationMs: Math.min(s.durationMs, options.durationMs - s.atMs) }))
  return fc.array(step, { minLength: options.minFaults ?? 3, maxLength: options.maxFaults ?? 6 })
}

/** What the nemesis did, for a failure report. */
export interface Event {
  readonly timeMs: number
  readonly action: "start" | "end"
  readonly fault: Fault
  /**
   * The broker the fault acted on: a leader-targeted fault's resolved leader (-1: no leader,
   * nothing done). For a member fault, the member (-1: no such member).
   */
  readonly broker: number
}

/** Resolves the broker a fault acts on (a leader-targeted one asks the controller). */
const targetOf = (cluster: TestCluster.TestCluster, topic: string, f: Fault, members: Members | undefined) => {
  switch (f._tag) {
    case "crash-leader":
    case "split-leader":
      return Effect.map(cluster.metadata, (m) =>
        m?.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partition === f.partition)?.leader ?? -1)
    case "crash-member":
    case "isolate-member":
      return Effect.succeed(members !== undefined && f.member < members.count ? f.member : -1)
    default:
      return Effect.succeed(f.broker)
  }
}

const isCrash = (f: Fault) => f._tag === "crash" || f._tag === "crash-leader"

/**
 * Plays `schedule` against `cluster` from now: each fault starts at `atMs` and ends after
 * `durationMs`. Overlapping network faults compose (ending one heals and re-applies the others);
 * a broker (or member) crashed twice restarts when its last crash ends. Member faults need
 * `members`; without it they do nothing. Returns what it did.
 */
export const run = (
  cluster: TestCluster.TestCluster,
  plan: Schedule,
  options: { readonly topic: string; readonly members?: Members }
): Effect.Effect<ReadonlyArray<Event>> =>
  Effect.gen(function*() {
    const events = plan
      .flatMap((step, i) => [
        { timeMs: step.atMs, action: "start" as const, step: i },
        { timeMs: step.atMs + step.durationMs, action: "end" as const, step: i }
      ])
      .sort((a, b) => a.timeMs - b.timeMs || (a.action === b.action ? a.step - b.step : a.action === "end" ? -1 : 1))
    const targets = new Map<number, number>()
    const network = new Map<number, { fault: Fault; broker: number }>()
    /** Crashes in force per target (`broker <id>`, `member <i>`): it comes back when the last ends. */
    const crashes = new Map<string, number>()
    const members = options.members
    const log: Array<Event> = []
    let elapsedMs = 0
    const applyNetwork = (fault: Fault, broker: number) => {
      switch (fault._tag) {
        case "isolate":
          return cluster.isolate(broker)
        case "pause":
          return cluster.pause(broker)
        case "slow":
          return cluster.slow(broker, SimNetwork.Delay.Uniform({ minMs: Math.floor(fault.delayMs / 2), maxMs: fault.delayMs }))
        case "isolate-member": {
          const node = members?.node(broker)
          return node === undefined ? Effect.void : cluster.network.isolate(node)
        }
        default: {
          const others = cluster.brokerIds.filter((id) => id !== broker)
          return cluster.partition([[broker], [...others, "controller"]])
        }
      }
    }
    /** How a crash fault takes its target down and brings it back (run when used); undefined for a network fault. */
    const crashOf = (fault: Fault, target: number) =>
      fault._tag === "crash-member"
        ? {
          key: `member ${target}`,
          down: Effect.suspend(() => members!.crash(target)),
          up: Effect.suspend(() => members!.restart(target))
        }
        : isCrash(fault)
        ? {
          key: `broker ${target}`,
          down: Effect.suspend(() => cluster.crash(target, { loseUnflushed: "loseUnflushed" in fault && fault.loseUnflushed })),
          up: Effect.suspend(() => cluster.restart(target))
        }
        : undefined
    for (const event of events) {
      if (event.timeMs > elapsedMs) {
        yield* Effect.sleep(event.timeMs - elapsedMs)
        elapsedMs = event.timeMs
      }
      const fault = plan[event.step]!.fault
      if (event.action === "start") {
        const broker = yield* targetOf(cluster, options.topic, fault, members)
        targets.set(event.step, broker)
        log.push({ timeMs: elapsedMs, action: "start", fault, broker })
        if (broker < 0) continue
        const crash = crashOf(fault, broker)
        if (crash !== undefined) {
          crashes.set(crash.key, (crashes.get(crash.key) ?? 0) + 1)
          yield* crash.down
        } else {
          network.set(event.step, { fault, broker })
          yield* applyNetwork(fault, broker)
        }
      } else {
        const broker = targets.get(event.step) ?? -1
        log.push({ timeMs: elapsedMs, action: "end", fault, broker })
        if (broker < 0) continue
        const crash = crashOf(fault, broker)
        if (crash !== undefined) {
          const left = (crashes.get(crash.key) ?? 1) - 1
          crashes.set(crash.key, left)
          if (left === 0) yield* crash.up
        } else {
          network.delete(event.step)
          yield* cluster.heal
          for (const active of network.values()) yield* applyNetwork(active.fault, active.broker)
        }
      }
    }
    return log
  })

/** Heals the network and restarts every crashed broker: the end of every schedule. */
export const healAll = (cluster: TestCluster.TestCluster): Effect.Effect<void> =>
  Effect.zipRight(
    cluster.heal,
    Effect.forEach(cluster.brokerIds, (id) => (cluster.isRunning(id) ? Effect.void : cluster.restart(id)), { discard: true })
  )

/** A short, one-line-per-step rendering of a schedule. */
export const format = (plan: Schedule): string =>
  plan.map((s) => `  at ${s.atMs} ms for ${s.durationMs} ms: ${JSON.stringify(s.fault)}`).join("\n")
