/**
 * Log throughput: append and read in MB/s and records/s, for 100 B and 1 KiB records in
 * batches of 1, 100 and 1000, for MemoryLog and FileLog, beside a plain `fs.writeSync` append
 * loop writing the same bytes (the disk's limit here; `ratioToRawFs` is against it).
 * `filelog-*` is the FileLog on `FileLog.layerFileSystem` (what a broker runs: appends written
 * synchronously); raw and FileLog appends alternate `BENCH_ROUNDS` times (default 3) and the
 * medians are printed. For context: the raw loop with async `fs.write` (`rawfs-async-*`), the
 * same through `@effect/platform`'s `FileSystem` `writeAll` (`effectfs-*`, every write through
 * Node's thread pool), the FileLog on that plain Node `FileSystem` (`filelog-threadpool-*`), and
 * `crc32c-*`, the CRC-32C check every append makes, alone. One JSON object a line.
 *
 *   npm run bench:log
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { MemoryLog, type PartitionLog, RecordBatch } from "@fiberlog/core"
import { FileLog } from "@fiberlog/node"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const APPEND_BUDGET_MS = 800
const MAX_BYTES_PER_CASE = 256 * 1024 * 1024
/** Rounds of raw and FileLog appends per case; the medians are printed. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

const makeBatch = (recordBytes: number, count: number): Uint8Array => {
  const value = new Uint8Array(recordBytes).fill(120)
  return RecordBatch.encode({
    records: Array.from({ length: count }, (_, i) => ({ key: null, value, headers: [], timestamp: 1_700_000_000_000 + i }))
  })
}

interface Result {
  readonly records: number
  readonly bytes: number
  readonly seconds: number
}

const print = (name: string, r: Result, extra: Record<string, number> = {}) =>
  console.log(
    JSON.stringify({
      name,
      mbPerSec: +(r.bytes / 1e6 / r.seconds).toFixed(1),
      perSec: Math.round(r.records / r.seconds),
      records: r.records,
      bytes: r.bytes,
      seconds: +r.seconds.toFixed(3),
      ...extra
    })
  )

const rawAppend = (bytes: Uint8Array, count: number): Result => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fiberlog-bench-raw-"))
  const fd = fs.openSync(path.join(dir, "raw.log"), "a")
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < APPEND_BUDGET_MS && n * bytes.length < MAX_BYTES_PER_CASE) {
    fs.writeSync(fd, bytes)
    n++
  }
  const seconds = (performance.now() - t0) / 1000
  fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
  return { records: n * count, bytes: n * bytes.length, seconds }
}

/**
 * The same loop with async `fs.write` (one libuv thread-pool round trip per batch, as every
 * `@effect/platform` `FileSystem` write is). Printed as context: the floor for any log whose
 * appends wait for an async write; `ratioToRawFs` stays against the sync loop.
 */
const rawAppendAsync = async (bytes: Uint8Array, count: number): Promise<Result> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fiberlog-bench-raw-"))
  const fd = fs.openSync(path.join(dir, "raw.log"), "a")
  const write = () => new Promise<void>((resolve, reject) => fs.write(fd, bytes, (e) => (e ? reject(e) : resolve())))
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < APPEND_BUDGET_MS && n * bytes.length < MAX_BYTES_PER_CASE) {
    await write()
    n++
  }
  const seconds = (performance.now() - t0) / 1000
  fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
  return { records: n * count, bytes: n * bytes.length, seconds }
}

/**
 * The same loop through `@effect/platform`'s `FileSystem`: one `File.writeAll` per batch on a
 * file opened for append, as the FileLog writes its active segment. The floor of a FileLog append.
 */
const effectFsAppend = (fileSystem: FileSystem.FileSystem, bytes: Uint8Array, count: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const dir = yield* fileSystem.makeTempDirectoryScoped({ prefix: "fiberlog-bench-effectfs-" })
      const file = yield* fileSystem.open(path.join(dir, "effectfs.log"), { flag: "a" })
      let n = 0
      const t0 = performance.now()
      while (performance.now() - t0 < APPEND_BUDGET_MS && n * bytes.length < MAX_BYTES_PER_CASE) {
        yield* file.writeAll(bytes)
        n++
      }
      return { records: n * count, bytes: n * bytes.length, seconds: (performance.now() - t0) / 1000 }
    })
  )

/** The CRC-32C check of the batch alone, as often as the budget allows (nothing written). */
const crcCheck = (bytes: Uint8Array, count: number): Result => {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < APPEND_BUDGET_MS && n * bytes.length < MAX_BYTES_PER_CASE) {
    RecordBatch.crcMatches(bytes)
    n++
  }
  return { records: n * count, bytes: n * bytes.length, seconds: (performance.now() - t0) / 1000 }
}

const appendLoop = (log: PartitionLog.PartitionLog, bytes: Uint8Array, count: number) =>
  Effect.gen(function*() {
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < APPEND_BUDGET_MS && n * bytes.length < MAX_BYTES_PER_CASE) {
      yield* log.append(bytes)
      n++
    }
    return { records: n * count, bytes: n * bytes.length, seconds: (performance.now() - t0) / 1000 }
  })

const readLoop = (log: PartitionLog.PartitionLog) =>
  Effect.gen(function*() {
    const end = yield* log.logEndOffset
    let next = 0
    let records = 0
    let bytes = 0
    const t0 = performance.now()
    while (next < end) {
      const r = yield* log.read(next, 1024 * 1024)
      for (const b of r.batches) {
        records += RecordBatch.header(b).recordCount
        bytes += b.length
      }
      next = RecordBatch.lastOffset(r.batches[r.batches.length - 1]!) + 1
    }
    return { records, bytes, seconds: (performance.now() - t0) / 1000 }
  })

/** The median of three or more results, by rate. */
const median = (results: ReadonlyArray<Result>): Result =>
  [...results].sort((a, b) => a.bytes / a.seconds - b.bytes / b.seconds)[Math.floor(results.length / 2)]!

const rate = (r: Result) => r.bytes / r.seconds
const ratio = (r: Result, to: Result) => +(rate(r) / rate(to)).toFixed(2)

/** Appends to a fresh FileLog on `fileSystem`, then reads it all back (when `read` is set). */
const fileLogRun = (fileSystem: FileSystem.FileSystem, bytes: Uint8Array, count: number, read: boolean) =>
  Effect.scoped(
    Effect.gen(function*() {
      const dir = yield* fileSystem.makeTempDirectoryScoped({ prefix: "fiberlog-bench-" })
      const log = yield* FileLog.make({ dir }).pipe(Effect.provideService(FileSystem.FileSystem, fileSystem))
      const appended = yield* appendLoop(log, bytes, count)
      const readBack = read ? yield* readLoop(log) : undefined
      yield* log.close
      return { appended, readBack }
    })
  )

const program = Effect.gen(function*() {
  const fileSystem = yield* FileSystem.FileSystem
  // The FileSystem a broker runs its FileLogs on (appends written synchronously) ...
  const brokerFs = yield* FileSystem.FileSystem.pipe(Effect.provide(FileLog.layerFileSystem))
  for (const recordBytes of [100, 1024]) {
    for (const count of [1, 100, 1000]) {
      const suffix = `${recordBytes === 1024 ? "1KiB" : `${recordBytes}B`}-batch${count}`
      const bytes = makeBatch(recordBytes, count)
      // Raw and FileLog appends alternate, ROUNDS times each, and the medians are compared: the
      // page cache's speed drifts as it fills and writes back, so two runs at different moments
      // would compare the moments as much as the code.
      const raws: Array<Result> = []
      const logs: Array<Result> = []
      let readBack: Result | undefined
      for (let round = 0; round < ROUNDS; round++) {
        raws.push(rawAppend(bytes, count))
        const run = yield* fileLogRun(brokerFs, bytes, count, round === 0)
        logs.push(run.appended)
        readBack ??= run.readBack
      }
      const raw = median(raws)
      print(`rawfs-append-${suffix}`, raw)
      const rawAsync = yield* Effect.promise(() => rawAppendAsync(bytes, count))
      print(`rawfs-async-append-${suffix}`, rawAsync)
      const effectFs = yield* effectFsAppend(fileSystem, bytes, count)
      print(`effectfs-append-${suffix}`, effectFs, { ratioToRawFs: ratio(effectFs, raw), ratioToRawFsAsync: ratio(effectFs, rawAsync) })
      const crc = crcCheck(bytes, count)
      print(`crc32c-${suffix}`, crc, { ratioToRawFs: ratio(crc, raw) })

      const mem = yield* MemoryLog.make()
      print(`memorylog-append-${suffix}`, yield* appendLoop(mem, bytes, count))
      print(`memorylog-read-${suffix}`, yield* readLoop(mem))
      yield* mem.close

      const appended = median(logs)
      print(`filelog-append-${suffix}`, appended, { ratioToRawFs: ratio(appended, raw) })
      print(`filelog-read-${suffix}`, readBack!)
      // ... and, for comparison, on Node's FileSystem as it comes (every write through the thread pool).
      const threadpool = (yield* fileLogRun(fileSystem, bytes, count, false)).appended
      print(`filelog-threadpool-append-${suffix}`, threadpool, {
        ratioToRawFs: ratio(threadpool, raw),
        ratioToRawFsAsync: ratio(threadpool, rawAsync),
        ratioToEffectFs: ratio(threadpool, effectFs)
      })
    }
  }
})

Effect.runPromise(program.pipe(Effect.provide(NodeFileSystem.layer))).catch((e) => {
  console.error(e)
  process.exit(1)
})
