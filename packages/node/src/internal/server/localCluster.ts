/**
 * A cluster of real processes on loopback: one controller and N broker processes started with
 * `fiberlog controller` / `fiberlog broker` on free 127.0.0.1 ports, each with its own data
 * directory. Brokers can be killed (SIGKILL by default) and started again on the same directory
 * and port. For the tcp-cluster example, the kill tests and the TCP benchmark.
 *
 * Everything started is killed when the scope closes (and when this process exits), and a data
 * directory made here is removed.
 *
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import { Data, Deferred, Duration, Effect, Exit, Schedule, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"
import * as Net from "node:net"
import type * as TcpNetwork from "../../TcpNetwork.js"
import { brokerNodeId, controllerNodeId } from "./addresses.js"

/** A server process did not start, or stopped while being waited for. */
export class LaunchError extends Data.TaggedError("LaunchError")<{
  readonly node: string
  readonly detail: string
}> {
  override get message() {
    return `${this.node}: ${this.detail}`
  }
}

/** Options of a local cluster. */
export interface Options {
  readonly brokers: number
  /** Parent of the servers' data directories; a temporary one (removed at the end) by default. */
  readonly dataDir?: string | undefined
  readonly clusterId?: string | undefined
  readonly sessionTimeoutMs?: number | undefined
  readonly heartbeatIntervalMs?: number | undefined
  readonly replicaLagTimeMs?: number | undefined
  readonly fetchMaxWaitMs?: number | undefined
  /** Partitions of `__consumer_offsets` (default 0 here: no groups, less to start). */
  readonly offsetsTopicPartitions?: number | undefined
  /** How long a process may take to print its ready line (default 30 000). */
  readonly readyTimeoutMs?: number | undefined
  /** Where the servers' output lines go (default: kept, and shown only in launch errors). */
  readonly onOutput?: ((node: string, line: string) => void) | undefined
}

/** A running local cluster. */
export interface LocalCluster {
  readonly clusterId: string
  readonly dataDir: string
  readonly controller: TcpNetwork.Address
  readonly brokers: ReadonlyMap<number, TcpNetwork.Address>
  /** `[nodeId, address]` of every server, for `Server.connect`. */
  readonly bootstrap: ReadonlyArray<readonly [string, TcpNetwork.Address]>
  /** Kills a broker's process (SIGKILL unless told) and waits for it to exit. */
  readonly kill: (brokerId: number, signal?: NodeJS.Signals) => Effect.Effect<void>
  /** Starts a stopped broker again on its data directory and port; waits until it listens. */
  readonly start: (brokerId: number) => Effect.Effect<void, LaunchError>
  readonly isRunning: (brokerId: number) => boolean
  readonly pid: (brokerId: number) => number | undefined
}

const live = new Set<ChildProcess.ChildProcess>()
let exitHook = false
const killAllOnExit = () => {
  if (exitHook) return
  exitHook = true
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL")
  })
}

/** The command that runs `fiberlog`: node on the TypeScript sources (via tsx), or the build. */
export const command = (): { readonly file: string; readonly args: ReadonlyArray<string> } => {
  const fromSources = import.meta.url.endsWith(".ts")
  const main = new URL(`../../cli/main.${fromSources ? "ts" : "js"}`, import.meta.url).pathname
  if (!fromSources) return { file: process.execPath, args: [main] }
  const tsx = createRequire(import.meta.url).resolve("tsx")
  return { file: process.execPath, args: ["--conditions=fiberlog-source", "--import", `file://${tsx}`, main] }
}

/** A port free on 127.0.0.1 now (the OS picks it). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.die(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface Proc {
  readonly child: ChildProcess.ChildProcess
  readonly exited: Deferred.Deferred<number | null>
}

/** Spawns `fiberlog <args>` as `node` and waits for its ready line. */
const spawn = (
  node: string,
  args: ReadonlyArray<string>,
  readyTimeoutMs: number,
  onOutput: (node: string, line: string) => void
): Effect.Effect<Proc, LaunchError> =>
  Effect.gen(function*() {
    const cmd = command()
    const tail: Array<string> = []
    const ready = yield* Deferred.make<void, LaunchError>()
    const exited = yield* Deferred.make<number | null>()
    const child = ChildProcess.spawn(cmd.file, [...cmd.args, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    live.add(child)
    killAllOnExit()
    const onLines = (data: Buffer) => {
      for (const line of data.toString("utf8").split("\n")) {
        if (line.length === 0) continue
        tail.push(line)
        if (tail.length > 40) tail.shift()
        onOutput(node, line)
        if (line.startsWith(`fiberlog ${node} listening on`)) Deferred.unsafeDone(ready, Exit.void)
      }
    }
    child.stdout!.on("data", onLines)
    child.stderr!.on("data", onLines)
    child.once("exit", (code) => {
      live.delete(child)
      Deferred.unsafeDone(exited, Exit.succeed(code))
      Deferred.unsafeDone(ready, Exit.fail(new LaunchError({ node, detail: `exited (${code}) before listening:\n${tail.join("\n")}` })))
    })
    yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(readyTimeoutMs),
        onTimeout: () => new LaunchError({ node, detail: `not listening after ${readyTimeoutMs} ms:\n${tail.join("\n")}` })
      }),
      Effect.tapError(() => Effect.sync(() => child.kill("SIGKILL")))
    )
    return { child, exited }
  })

const stop = (proc: Proc, signal: NodeJS.Signals) =>
  Effect.suspend(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal)
    return Effect.asVoid(Deferred.await(proc.exited))
  })

/** Starts the controller and the brokers, all at once; all are killed when the scope closes. */
export const make = (options: Options): Effect.Effect<LocalCluster, LaunchError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dataDir = options.dataDir ?? (yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "fiberlog-cluster-" })))
    const clusterId = options.clusterId ?? "fiberlog-local"
    const readyTimeoutMs = options.readyTimeoutMs ?? 90_000
    const onOutput = options.onOutput ?? (() => {})
    const controller = { host: "127.0.0.1", port: yield* freePort }
    const brokerIds = Array.from({ length: options.brokers }, (_, i) => i + 1)
    const brokers = new Map<number, TcpNetwork.Address>()
    for (const id of brokerIds) brokers.set(id, { host: "127.0.0.1", port: yield* freePort })
    const procs = new Map<number, Proc>()
    let controllerProc: Proc | undefined
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...procs.values(), ...(controllerProc === undefined ? [] : [controllerProc])], (p) => stop(p, "SIGKILL"), {
        concurrency: "unbounded",
        discard: true
      })
    )
    const flag = (name: string, value: number | undefined) => value === undefined ? [] : [`--${name}`, `${value}`]
    const addr = (a: TcpNetwork.Address) => `${a.host}:${a.port}`

    const start = (brokerId: number) =>
      Effect.suspend(() => {
        if (procs.has(brokerId)) return Effect.void
        return Effect.map(spawn(brokerNodeId(brokerId), [
          "broker",
          "--id", `${brokerId}`,
          "--listen", addr(brokers.get(brokerId)!),
          "--controller", addr(controller),
          "--data-dir", `${dataDir}/broker-${brokerId}`,
          "--cluster-id", clusterId,
          ...flag("heartbeat-interval-ms", options.heartbeatIntervalMs),
          ...flag("replica-lag-time-ms", options.replicaLagTimeMs),
          ...flag("fetch-max-wait-ms", options.fetchMaxWaitMs)
        ], readyTimeoutMs, onOutput), (proc) => void procs.set(brokerId, proc))
      })

    const startController = Effect.map(spawn(controllerNodeId, [
      "controller",
      "--listen", addr(controller),
      "--data-dir", `${dataDir}/controller`,
      "--cluster-id", clusterId,
      ...flag("session-timeout-ms", options.sessionTimeoutMs),
      ...flag("offsets-topic-partitions", options.offsetsTopicPartitions ?? 0),
      ...flag("offsets-topic-replication-factor", Math.min(3, options.brokers))
    ], readyTimeoutMs, onOutput), (proc) => void (controllerProc = proc))
    // All at once: brokers retry registering until the controller listens.
    yield* Effect.all([startController, ...brokerIds.map(start)], { concurrency: "unbounded", discard: true })

    return {
      clusterId,
      dataDir,
      controller,
      brokers,
      bootstrap: [...[...brokers].map(([id, a]) => [brokerNodeId(id), a] as const), [controllerNodeId, controller] as const],
      kill: (brokerId, signal = "SIGKILL") =>
        Effect.suspend(() => {
          const proc = procs.get(brokerId)
          if (proc === undefined) return Effect.void
          procs.delete(brokerId)
          return stop(proc, signal)
        }),
      start,
      isRunning: (brokerId) => procs.has(brokerId),
      pid: (brokerId) => procs.get(brokerId)?.child.pid
    } satisfies LocalCluster
  })

/** Polls `effect` every `intervalMs` (default 100) until `done` holds; dies after `timeoutMs`. */
export const waitUntil = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly what?: string }
): Effect.Effect<A, never, R> =>
  effect.pipe(
    Effect.filterOrFail(done),
    Effect.retry(Schedule.spaced(Duration.millis(options.intervalMs ?? 100))),
    Effect.timeoutFail({
      duration: Duration.millis(options.timeoutMs),
      onTimeout: () => `timed out after ${options.timeoutMs} ms waiting for ${options.what ?? "a condition"}`
    }),
    Effect.orDieWith((e) => new Error(String(typeof e === "string" ? e : (e as { message?: string }).message ?? e)))
  )
