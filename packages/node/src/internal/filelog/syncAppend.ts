/**
 * A `FileSystem` whose files opened for appending (`a`, `a+`, `ax`, `ax+`) take their writes
 * synchronously, on the calling thread, as Kafka's log takes a `FileChannel.write` on the
 * request thread: the bytes go into the page cache and the call returns. Everything else
 * (opening, reading, seeking, truncating, syncing, directories) is the wrapped `FileSystem`'s.
 *
 * Why: an append of a 100 KiB batch into the page cache takes about 25 µs here; the same write
 * through Node's thread pool (every `@effect/platform-node` write) costs a round trip to another
 * thread and back on top, which measured more than the write itself. A log append waits for its
 * write either way (the write must be in the file before the append returns), so a synchronous
 * one is the same order of events with the hand-off removed. The price is that the event loop
 * is held for the duration of the copy into the page cache, as Kafka's request thread is; a disk
 * that stalls stalls the process, where the thread-pool write would stall only the log.
 * @internal
 */
import { FileSystem } from "@effect/platform"
import { SystemError, type SystemErrorReason } from "@effect/platform/Error"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"

const appendFlags: ReadonlySet<string> = new Set(["a", "a+", "ax", "ax+", "as", "as+"])

const reasonOf = (code: string | undefined): SystemErrorReason => {
  switch (code) {
    case "ENOENT":
      return "NotFound"
    case "EACCES":
    case "EPERM":
      return "PermissionDenied"
    case "EBADF":
    case "EISDIR":
      return "BadResource"
    case "EBUSY":
      return "Busy"
    case "EAGAIN":
      return "WouldBlock"
    default:
      return "Unknown"
  }
}

const writeError = (fd: FileSystem.File.Descriptor, method: string, cause: unknown) =>
  new SystemError({
    module: "FileSystem",
    method,
    reason: reasonOf((cause as NodeJS.ErrnoException | undefined)?.code),
    pathOrDescriptor: fd,
    description: cause instanceof Error ? cause.message : String(cause),
    cause
  })

/**
 * The synchronous calls behind a file's appends; Node's (`nodeSyncIo`) but for tests that inject
 * faults. Both throw what `fs` throws.
 */
export interface SyncIo {
  /** Writes every byte of `chunks`, in order, at the end of the file. */
  readonly writev: (fd: number, chunks: ReadonlyArray<Uint8Array>) => void
  /** Cuts the file to `length` bytes. */
  readonly truncate: (fd: number, length: number) => void
}

/** Files whose writes complete before the write effect returns (made by `syncAppending`), with their calls. */
const synchronous = new WeakMap<FileSystem.File, SyncIo>()

/**
 * Whether `file`'s writes are synchronous (a file opened for appending on this `FileSystem`):
 * then nothing runs beside a write, and a log checks a batch before writing it rather than
 * arranging for the check to overlap the write.
 */
export const writesSynchronously = (file: FileSystem.File): boolean => synchronous.has(file)

/**
 * Writes `chunks` back to back to `file` (one of this `FileSystem`'s synchronous files, see
 * `writesSynchronously`) now, with one `writev`, and returns the error if it failed: the same write
 * as `file.writeAll` of their concatenation, for a caller that already runs in one synchronous step
 * and has no use for an effect per write (a log appending a patched header before records it does
 * not copy). A failed write may have written part of the bytes.
 */
export const writeNow = (file: FileSystem.File, chunks: ReadonlyArray<Uint8Array>): SystemError | undefined =>
  callNow(file, "writev", (io) => io.writev(file.fd, chunks))

/**
 * Cuts `file` (one of this `FileSystem`'s synchronous files) to `length` bytes now, and returns the
 * error if that failed: how a log undoes a failed `writeNow` in the same synchronous step, before
 * anything else can write after the partial bytes.
 */
export const truncateNow = (file: FileSystem.File, length: number): SystemError | undefined =>
  callNow(file, "truncate", (io) => io.truncate(file.fd, length))

/** Runs `call` on `file`'s synchronous calls now; what it threw, as a typed `SystemError` of `method`. */
const callNow = (file: FileSystem.File, method: string, call: (io: SyncIo) => void): SystemError | undefined => {
  const io = synchronous.get(file)
  if (io === undefined) throw new Error(`SyncAppend: ${method} on a file not written synchronously`)
  try {
    call(io)
    return undefined
  } catch (cause) {
    return writeError(file.fd, method, cause)
  }
}

/** `fs.writevSync` until every byte is written (a regular file may take fewer, as `write` may). */
const writevAll = (fd: number, chunks: ReadonlyArray<Uint8Array>): void => {
  let pending = chunks.filter((c) => c.length > 0)
  while (pending.length > 0) {
    let n = fs.writevSync(fd, pending)
    if (n === 0) throw new Error("writev returned 0 bytes written")
    const rest: Array<Uint8Array> = []
    for (const chunk of pending) {
      if (n >= chunk.length) n -= chunk.length
      else {
        rest.push(n === 0 ? chunk : chunk.subarray(n))
        n = 0
      }
    }
    pending = rest
  }
}

/** Node's synchronous calls. */
export const nodeSyncIo: SyncIo = {
  writev: writevAll,
  truncate: (fd, length) => fs.ftruncateSync(fd, length)
}

/** The file with `write` / `writeAll` done synchronously (its offset is the file's end). */
const syncAppending = (file: FileSystem.File, io: SyncIo): FileSystem.File => {
  const fd = file.fd
  const appending: FileSystem.File = {
    [FileSystem.FileTypeId]: FileSystem.FileTypeId,
    fd,
    // getters of the wrapped file are read through it, not copied
    get stat() {
      return file.stat
    },
    get sync() {
      return file.sync
    },
    seek: (offset, from) => file.seek(offset, from),
    read: (buffer) => file.read(buffer),
    readAlloc: (size) => file.readAlloc(size),
    truncate: (length) => file.truncate(length),
    write: (buffer) =>
      Effect.try({
        try: () => FileSystem.Size(fs.writeSync(fd, buffer)),
        catch: (cause) => writeError(fd, "write", cause)
      }),
    writeAll: (buffer) =>
      Effect.try({
        try: () => io.writev(fd, [buffer]),
        catch: (cause) => writeError(fd, "writeAll", cause)
      })
  }
  synchronous.set(appending, io)
  return appending
}

/** `fileSystem` with synchronous appends (see the module comment), made with `io`. */
export const withSyncAppends = (fileSystem: FileSystem.FileSystem, io: SyncIo = nodeSyncIo): FileSystem.FileSystem => ({
  ...fileSystem,
  open: (path, options) =>
    appendFlags.has(options?.flag ?? "r")
      ? Effect.map(fileSystem.open(path, options), (file) => syncAppending(file, io))
      : fileSystem.open(path, options)
})

/** Replaces the context's `FileSystem` with one that appends synchronously. */
export const layer: Layer.Layer<FileSystem.FileSystem, never, FileSystem.FileSystem> = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (fileSystem) => withSyncAppends(fileSystem))
)
