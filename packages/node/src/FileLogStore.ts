/**
 * A broker's partition logs on disk: core's `LogStore` backed by one `FileLog` per partition
 * replica, in `<dataDir>/<topic>-<partition>/` as Kafka lays out its log directories. A log opened
 * once stays open (a restarted replica actor gets the same log, with the config it was opened
 * with); `drop` closes it and deletes its directory. Reopening the store after the process died
 * recovers every log from its files.
 *
 * Each log takes its topic's config (`LogStore.open`'s `config`): `retentionMs`, `retentionBytes`
 * (-1: no limit), `cleanupPolicy` and `segmentBytes` become the `FileLog`'s, in place of the
 * store-wide `log` settings of the same names (a topic config always carries all four; the other
 * `log` settings stay), and a background fiber runs the cleanup (retention, compaction) every
 * `retentionCheckIntervalMs`, as Kafka's log manager does.
 *
 * The controller's metadata log is a `FileLog` too, in `<dataDir>/__cluster_metadata-0/` (KRaft's
 * name for it).
 *
 * @since 0.1.0
 */
import { FileSystem } from "@effect/platform"
import type { LogError, LogStore, Metadata } from "@fiberlog/core"
import { Effect, ExecutionStrategy, Exit, Scope } from "effect"
import * as FileLog from "./FileLog.js"

/** Options of a file log store. */
export interface Options {
  /** The broker's data directory (created if absent). */
  readonly dataDir: string
  /**
   * Settings of every partition log (`dir` is chosen by the store). A log opened with a topic
   * config takes `retentionMs`, `retentionBytes`, `cleanupPolicy` and `segmentBytes` from it.
   */
  readonly log?: Omit<FileLog.Options, "dir"> | undefined
  /**
   * How often each log runs its cleanup (retention, compaction) from a background fiber (default
   * 300000, Kafka's `log.retention.check.interval.ms`; `log.retentionCheckIntervalMs` if set there).
   */
  readonly retentionCheckIntervalMs?: number | undefined
}

/** Kafka's `log.retention.check.interval.ms` default: 5 minutes. */
export const DEFAULT_RETENTION_CHECK_INTERVAL_MS = 300_000

/** The FileLog settings a topic config asks for, as Kafka applies them: -1 retention means none. */
export type TopicLogOptions = Pick<FileLog.Options, "retentionMs" | "retentionBytes" | "cleanupPolicy" | "segmentBytes">

/** Maps a topic's config onto FileLog options (a limit of -1 is left out: no limit). Pure. */
export const topicLogOptions = (config: Metadata.TopicConfig): TopicLogOptions => ({
  ...(config.retentionMs >= 0 ? { retentionMs: config.retentionMs } : {}),
  ...(config.retentionBytes >= 0 ? { retentionBytes: config.retentionBytes } : {}),
  cleanupPolicy: config.cleanupPolicy,
  segmentBytes: config.segmentBytes
})

/**
 * The options of one partition's log: the store-wide `log` settings, with the topic's four in
 * place of theirs when there is a config (its retention of -1 lifts a store-wide limit), then the
 * directory and the cleanup interval. Pure.
 */
export const logOptions = (options: Options, dir: string, config?: Metadata.TopicConfig): FileLog.Options => {
  const { retentionBytes, retentionMs, ...base } = options.log ?? {}
  const retention = config === undefined
    ? { ...(retentionMs === undefined ? {} : { retentionMs }), ...(retentionBytes === undefined ? {} : { retentionBytes }) }
    : {}
  return {
    ...base,
    ...retention,
    ...(config === undefined ? {} : topicLogOptions(config)),
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? base.retentionCheckIntervalMs ??
      DEFAULT_RETENTION_CHECK_INTERVAL_MS,
    dir
  }
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

    const open = (topic: string, partition: number, config?: Metadata.TopicConfig) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const name = partitionDir(topic, partition)
        const found = logs.get(name)
        if (found !== undefined) return Effect.succeed(found.log)
        return Effect.gen(function*() {
          const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
          const log = yield* FileLog.make(logOptions(options, join(options.dataDir, name), config)).pipe(
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
