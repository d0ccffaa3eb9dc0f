/**
 * CRC-32C of large batches on a second thread, beside the append's write.
 *
 * Checking a batch's CRC reads every byte, and costs about as much as writing the batch into the
 * page cache (both run at 4–6 GB/s here). Done one after the other on the event loop they halve
 * an append's speed, so a batch from `OFFLOAD_MIN_BYTES` up is copied into a shared buffer and
 * offered to one worker thread per process while the main thread writes it:
 *
 *   const job = begin(bytes)   // copy (about 1 µs per 100 KiB) and offer
 *   ... write the batch ...
 *   finish(job)                // the CRC
 *
 * The offer never makes an append wait on a thread that is not running. Whoever takes a job
 * first (one compare-and-swap on a shared word) computes it: if the worker has not picked it up
 * by `finish` (busy cores, a sleeping or dead worker), the main thread takes it back and
 * computes it inline, as it would without the worker; if the worker is at it, `finish` waits for
 * its answer at most as long as computing it inline would take, then computes it itself. So the
 * offload costs the copy and at worst one inline check more, and the answer is always the CRC.
 *
 * `begin` and `finish` never interleave two jobs: a `begin` while another job is pending finishes
 * that one first (its answer is kept for its own `finish`), so any number of logs and fibers may
 * use it in any order. The worker spins briefly after each job for the next one (a stream of
 * appends then pays no thread wake-up) and otherwise sleeps in `Atomics.wait`. Smaller batches,
 * larger ones than the shared buffer, and everything when no worker could start are checksummed
 * inline, in `finish`.
 * @internal
 */
import { crc32c } from "@node-rs/crc32"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** Batches from this size go to the worker; below it the hand-over costs more than the check. */
export const OFFLOAD_MIN_BYTES = 16 * 1024
/** The shared buffer: larger batches are checked inline (Kafka's default max batch is 1 MiB). */
export const OFFLOAD_MAX_BYTES = 2 * 1024 * 1024
/** How long the worker spins for the next job before it sleeps. */
const WORKER_SPIN_MS = 0.2
/** `finish` waits for a job the worker is at for at most this long per byte (inline speed, with margin). */
const WAIT_MS_PER_BYTE = 1 / 2e6

// control words (Int32): the last job offered, the last one the worker answered, the offered
// length, the worker's answer, and the last job taken (by the worker or taken back by `finish`)
const SUBMITTED = 0
const DONE = 1
const LENGTH = 2
const RESULT = 3
const TAKEN = 4

const workerSource = `
const { workerData } = require("node:worker_threads")
const { crc32c } = require(workerData.crcModule)
const control = new Int32Array(workerData.control)
const data = Buffer.from(workerData.data)
let seen = 0
for (;;) {
  let submitted = Atomics.load(control, ${SUBMITTED})
  if (submitted === seen) {
    const until = performance.now() + ${WORKER_SPIN_MS}
    while ((submitted = Atomics.load(control, ${SUBMITTED})) === seen && performance.now() < until) {}
    if (submitted === seen) {
      Atomics.wait(control, ${SUBMITTED}, seen)
      continue
    }
  }
  seen = submitted
  if (Atomics.compareExchange(control, ${TAKEN}, submitted - 1, submitted) !== submitted - 1) continue
  control[${RESULT}] = crc32c(data.subarray(0, control[${LENGTH}]))
  Atomics.store(control, ${DONE}, submitted)
}
`

/** A CRC being computed: by the worker (`seq`), or already known (`value`). */
export interface Job {
  readonly seq: number
  readonly bytes: Uint8Array
  value: number | undefined
}

interface Offload {
  readonly control: Int32Array
  readonly data: Uint8Array
  seq: number
  pending: Job | undefined
}

let offload: Offload | undefined
/** Set once no worker could start, or it exited: everything is checked inline, without copies. */
let retired = false

const start = (): Offload | undefined => {
  if (offload !== undefined || retired) return offload
  try {
    const control = new Int32Array(new SharedArrayBuffer(5 * Int32Array.BYTES_PER_ELEMENT))
    const data = new Uint8Array(new SharedArrayBuffer(OFFLOAD_MAX_BYTES))
    const crcModule = createRequire(import.meta.url).resolve("@node-rs/crc32")
    const worker = new Worker(workerSource, { eval: true, workerData: { crcModule, control: control.buffer, data: data.buffer } })
    worker.unref()
    const retire = () => {
      retired = true
    }
    worker.on("error", retire)
    worker.on("exit", retire)
    offload = { control, data, seq: 0, pending: undefined }
    return offload
  } catch {
    retired = true
    return undefined
  }
}

/** The answer to `job` (the pending one): the worker's, or computed here if it has not taken it. */
const answer = (o: Offload, job: Job): number => {
  o.pending = undefined
  const { control } = o
  const seq = job.seq
  if (Atomics.load(control, DONE) === seq) return control[RESULT]! >>> 0
  // not taken yet: take it back
  if (Atomics.compareExchange(control, TAKEN, seq - 1, seq) === seq - 1) return crc32c(job.bytes)
  // the worker is at it: wait as long as doing it here would take, then do it here
  const since = performance.now()
  const patience = job.bytes.length * WAIT_MS_PER_BYTE
  let spins = 0
  while (Atomics.load(control, DONE) !== seq) {
    if ((++spins & 63) === 0 && performance.now() - since > patience) return crc32c(job.bytes)
  }
  return control[RESULT]! >>> 0
}

/** Starts the CRC-32C of `bytes`; the caller leaves them unchanged until `finish`. */
export const begin = (bytes: Uint8Array): Job => {
  const o = bytes.length >= OFFLOAD_MIN_BYTES && bytes.length <= OFFLOAD_MAX_BYTES && !retired ? start() : undefined
  if (o === undefined) return { seq: -1, bytes, value: undefined }
  if (o.pending !== undefined) o.pending.value = answer(o, o.pending)
  o.data.set(bytes)
  const job: Job = { seq: ++o.seq, bytes: o.data.subarray(0, bytes.length), value: undefined }
  o.control[LENGTH] = bytes.length
  o.pending = job
  Atomics.store(o.control, SUBMITTED, job.seq)
  Atomics.notify(o.control, SUBMITTED)
  return job
}

/** Whether the job went to the worker and the worker (or `finish`) has taken it: for tests. */
export const isTaken = (job: Job): boolean =>
  job.seq >= 0 && offload !== undefined && Atomics.load(offload.control, TAKEN) >= job.seq

/** The CRC-32C of the job's bytes. */
export const finish = (job: Job): number => {
  if (job.value === undefined) {
    const o = offload
    job.value = o !== undefined && o.pending === job ? answer(o, job) : crc32c(job.bytes)
  }
  return job.value
}
