/** Test harness for FileLog: temp dirs, scoped open/reopen, raw file access. */
import { FileSystem } from "@effect/platform"
import type { LogError } from "@fiberlog/core"
import { Effect, type Scope } from "effect"
import * as FileLog from "../../src/FileLog.js"

/** A fresh temp dir, removed with the scope. */
export const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "fiberlog-" }))

/** Opens the log in `dir`, runs `f`, and closes it (as a clean shutdown). */
export const withLog = <A, E>(
  dir: string,
  options: Omit<FileLog.Options, "dir">,
  f: (log: FileLog.FileLog) => Effect.Effect<A, E, FileSystem.FileSystem | Scope.Scope>
): Effect.Effect<A, E | LogError.StorageError, FileSystem.FileSystem> => Effect.scoped(Effect.flatMap(FileLog.make({ ...options, dir }), f))

/** Segment `.log` file names in `dir`, sorted. */
export const logFiles = (dir: string) =>
  Effect.map(Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(dir)), (names) =>
    names.filter((n) => n.endsWith(".log")).sort())

/** Size in bytes of the active (last) segment's `.log` file in `dir`. */
export const activeSegmentSize = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const names = yield* logFiles(dir)
    return Number((yield* fs.stat(`${dir}/${names[names.length - 1]}`)).size)
  })
