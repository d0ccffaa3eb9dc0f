/**
 * One server per data directory. `<dataDir>/.lock` holds the pid of the process using it: the
 * file is written whole under a temporary name, then hard-linked into place, which fails when a
 * lock exists (so it is created exclusively and never seen half written). A second server on the
 * same directory fails with `DataDirLocked`, naming the directory and the holder's pid. A lock
 * left by a process that is gone (killed with SIGKILL, a crash) is taken over; so is one carrying
 * this process's own pid that this process does not hold (a container restarted as pid 1). The
 * lock is removed when the scope closes, after whatever was opened under it.
 *
 * Left to the operator: a stale lock whose pid now belongs to an unrelated live process (the
 * error names the pid; remove the file), and two servers taking over the same stale lock at the
 * same instant.
 *
 * @internal
 */
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Data, Effect, type Scope } from "effect"
import { join } from "node:path"

/** The lock file's name inside a data directory. */
export const lockFileName = ".lock"

/** The data directory is in use by another live server. */
export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dataDir: string
  /** The process holding the lock. */
  readonly pid: number
}> {
  override get message() {
    return `data directory ${this.dataDir} is in use by process ${this.pid} (lock file ${
      join(this.dataDir, lockFileName)
    }; remove it only if that process is not a fiberlog server)`
  }
}

/** The data directory or its lock file could not be created, read or removed. */
export class DataDirLockFailed extends Data.TaggedError("DataDirLockFailed")<{
  readonly dataDir: string
  readonly detail: string
}> {
  override get message() {
    return `cannot lock data directory ${this.dataDir}: ${this.detail}`
  }
}

/** Real paths of the data directories this process holds (the pid alone cannot tell). */
const heldHere = new Set<string>()

let tmpCounter = 0

/** Attempts at taking over a stale lock before giving up (another process keeps racing us). */
const maxAttempts = 5

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The pid a lock file's text names, if any. */
export const parsePid = (text: string): number | undefined => {
  const line = text.split(/\r?\n/)[0]!.trim()
  const pid = Number(line)
  return /^\d+$/.test(line) && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * Locks `dataDir` (creating it) for this process until the scope closes. Fails with
 * `DataDirLocked` when a live process holds it.
 */
export const acquire = (
  dataDir: string
): Effect.Effect<void, DataDirLocked | DataDirLockFailed, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const failed = (error: PlatformError) => new DataDirLockFailed({ dataDir, detail: error.message })
    yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(Effect.mapError(failed))
    const key = yield* fs.realPath(dataDir).pipe(Effect.mapError(failed))
    const lockPath = join(dataDir, lockFileName)
    const pid = process.pid
    const mine = `${pid}\n`

    const tmpPath = join(dataDir, `${lockFileName}.${pid}.${++tmpCounter}`)
    /** Links the lock into place; false when one is there already. */
    const create = fs.writeFileString(tmpPath, mine).pipe(
      Effect.zipRight(fs.link(tmpPath, lockPath)),
      Effect.as(true),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.succeed(false)
      ),
      Effect.ensuring(Effect.ignore(fs.remove(tmpPath))),
      Effect.mapError(failed)
    )
    /** The holder of the existing lock when it is alive; otherwise removes the stale lock. */
    const inspect = Effect.gen(function*() {
      const text = yield* fs.readFileString(lockPath).pipe(
        Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "NotFound", () => Effect.succeed(undefined)),
        Effect.mapError(failed)
      )
      if (text === undefined) return undefined // removed meanwhile: try again
      const holder = parsePid(text)
      // Our own pid here means a previous incarnation (heldHere says this process does not hold it).
      if (holder !== undefined && holder !== pid && isAlive(holder)) return holder
      yield* Effect.logInfo(`taking over the stale lock of ${dataDir} (pid ${holder ?? "unreadable"})`)
      yield* fs.remove(lockPath).pipe(
        Effect.catchIf((error) => error._tag === "SystemError" && error.reason === "NotFound", () => Effect.void),
        Effect.mapError(failed)
      )
      return undefined
    })

    const release = fs.readFileString(lockPath).pipe(
      Effect.flatMap((text) => parsePid(text) === pid ? fs.remove(lockPath) : Effect.void),
      Effect.ignore
    )
    const take = Effect.gen(function*() {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        if (yield* create) return
        const holder = yield* inspect
        if (holder !== undefined) return yield* Effect.fail(new DataDirLocked({ dataDir, pid: holder }))
      }
      return yield* Effect.fail(new DataDirLockFailed({ dataDir, detail: `the lock changed hands ${maxAttempts} times while taking it` }))
    })
    const forget = Effect.sync(() => void heldHere.delete(key))
    yield* Effect.acquireRelease(
      Effect.suspend(() => {
        if (heldHere.has(key)) return Effect.fail(new DataDirLocked({ dataDir, pid }))
        heldHere.add(key)
        return Effect.onError(take, () => forget)
      }),
      () => Effect.zipRight(release, forget)
    )
  })
