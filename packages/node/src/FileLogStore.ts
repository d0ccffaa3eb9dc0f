/**
 * A broker's partition logs on disk: core's `LogStore` backed by one `FileLog` per partition
 * replica, in `<dataDir>/<topic>-<partition>/` as Kafka lays out its log directories. A log opened
 * once stays open (a restarted replica actor gets the same log); `drop` closes it and deletes its
 * directory. Reopening the store after the process died recovers every log from its files.
 *
 * The controller's metadata log is a `FileLog` too, in `<dataDir>/__cluster_metadata-0/` (KRaft's
 * name for it).
 *
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import type { LogError, LogStore } from "@fiberlog/core"
import { Effect, ExecutionStrategy, Exit, Scope } from "effect"
import * as FileLog from "./FileLog.js"

/** Options of a file log store. */
export interface Options {
  /** The broker's data directory (created if absent). */
  readonly dataDir: string
  /** Settings of every partition log (`dir` is chosen by the store). */
  readonly log?: Omit<FileLog.Options, "dir"> | undefined
}

/** A log store on disk; its logs close with the scope it was made in. */
export interface FileLogStore extends LogStore.LogStore {
  /** The logs open now, as `[topic, partition]`. */
  readonly opened: Effect.Effect<ReadonlyArray<readonly [string, number]>>
}

/** The directory name of a partition's log (Kafka's `<topic>-<partition>`). Pure. */
export const partitionDir = (topic: string, partition: number): string => `${topic}-${partition}`

/** The metadata log's directory name inside the controller's data directory. */
export const metadataDir = "__cluster_metadata-0"

const join = (dir: string, name: string) => (dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`)

/** Opens a store in `options.dataDir`. A log that cannot be opened or recovered is a defect. */
export const make = (
  options: Options
): Effect.Effect<FileLogStore, LogError.StorageError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const outer = yield* Effect.scope
    yield* fs.makeDirectory(options.dataDir, { recursive: true }).pipe(Effect.orDie)
    const logs = new Map<string, { readonly log: FileLog.FileLog; readonly scope: Scope.CloseableScope; readonly tp: readonly [string, number] }>()
    const lock = yield* Effect.makeSemaphore(1)

    const open = (topic: string, partition: number) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const name = partitionDir(topic, partition)
        const found = logs.get(name)
        if (found !== undefined) return Effect.succeed(found.log)
        return Effect.gen(function*() {
          const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
          const log = yield* FileLog.make({ ...options.log, dir: join(options.dataDir, name) }).pipe(
            Scope.extend(scope),
            Effect.provideService(FileSystem.FileSystem, fs),
            Effect.orDie
          )
          logs.set(name, { log, scope, tp: [topic, partition] })
          return log
        })
      }))

    const drop = (topic: string, partition: number) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const name = partitionDir(topic, partition)
        const found = logs.get(name)
        logs.delete(name)
        return Effect.zipRight(
          found === undefined ? Effect.void : Scope.close(found.scope, Exit.void),
          Effect.ignore(fs.remove(join(options.dataDir, name), { recursive: true }))
        )
      }))

    return {
      open,
      drop,
      opened: Effect.sync(() => [...logs.values()].map((entry) => entry.tp))
    } satisfies FileLogStore
  })

/** Opens (recovering) the controller's metadata log in `<dataDir>/__cluster_metadata-0/`. */
export const metadataLog = (
  dataDir: string,
  log?: Omit<FileLog.Options, "dir">
): Effect.Effect<FileLog.FileLog, LogError.StorageError, FileSystem.FileSystem | Scope.Scope> =>
  FileLog.make({ ...log, dir: join(dataDir, metadataDir) })
