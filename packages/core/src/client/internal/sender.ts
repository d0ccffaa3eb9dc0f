/**
 * The producer's per-partition accumulator and sender (Kafka's RecordAccumulator + Sender). Each
 * `send` call hands ONE entry per partition (its records, a size estimate and a Deferred); the
 * entry's records are encoded at once into the partition's open batch (`BatchBuilder`), so no
 * record object outlives the `send` call. A batch takes whole entries while they fit in
 * `batchSize` (an entry never splits). One fiber per partition waits `lingerMs` while the open
 * batch is below `batchSize`, then sends one `Produce` per batch with at most `maxInFlight`
 * outstanding. Failed batches are retried in order: a retry first waits for the batch before it,
 * so a partition's records land in send order.
 */
import { Deferred, Effect, Exit, Fiber, FiberId, Scope } from "effect"
import type { Schema } from "effect"
import type * as Actor from "../../actor/Actor.js"
import type { DeliveryError } from "../../actor/ActorError.js"
import * as Address from "../../actor/Address.js"
import type * as ControllerProtocol from "../../cluster/ControllerProtocol.js"
import * as ProducerState from "../../cluster/ProducerState.js"
import * as ReplicaProtocol from "../../cluster/ReplicaProtocol.js"
import * as BatchBuilder from "../../log/BatchBuilder.js"
import type * as Record from "../../log/Record.js"
import * as RecordBatch from "../../log/RecordBatch.js"
import * as ClientError from "../ClientError.js"
import type * as MetadataCache from "../MetadataCache.js"
import * as Retry from "./retry.js"

/** What a failed send reports (see `Producer.ProducerError`). */
export type SendError =
  | Schema.WithResult.Failure<ReplicaProtocol.Produce>
  | Schema.WithResult.Failure<ControllerProtocol.InitProducerId>
  | ClientError.RetriesExhausted
  | ClientError.BrokerNotAvailable
  | ClientError.ProducerClosed
  | DeliveryError

/** One `send` call's records for one partition. `deferred` gets the offset of its first record. */
export interface Entry {
  /** Number of records `write` appends. */
  readonly count: number
  /** Estimated encoded size (see `estimateBytes`): decides when a batch is full. */
  readonly bytes: number
  /** Appends the entry's records, in order. Runs once, synchronously, inside `offer`. */
  readonly write: (builder: BatchBuilder.Builder) => void
  readonly deferred: Deferred.Deferred<number, SendError>
}

/** Producer id and epoch of an idempotent producer. */
export interface Identity {
  readonly producerId: number
  readonly producerEpoch: number
}

/** Settings of one partition's sender. */
export interface Config {
  readonly topic: string
  readonly partition: number
  readonly acks: ReplicaProtocol.Acks
  readonly lingerMs: number
  readonly batchSize: number
  readonly maxInFlight: number
  readonly maxQueuedSends: number
  readonly requestTimeoutMs: number
  readonly retry: Retry.RetryOptions
  readonly node: Actor.NodeLike
  readonly cache: MetadataCache.MetadataCache
  /** The idempotent identity, or undefined without idempotence. */
  readonly identity: Identity | undefined
  /** Gets a new identity after a batch failed for good (its sequence can not be reused). */
  readonly newIdentity: Effect.Effect<Identity, SendError>
  /** Working buffers shared by the producer's senders. */
  readonly buffers: BufferPool
}

/**
 * Working buffers for batches being filled, shared by a producer's senders (Kafka's BufferPool):
 * a batch is written into one, copied out at its exact size when it goes, and the buffer comes
 * back for the next batch, so filling a batch allocates nothing.
 */
export class BufferPool {
  private readonly free: Array<Uint8Array> = []
  /** Keeps at most `maxBuffers`, none larger than `maxBufferBytes` (a huge send's buffer is let go). */
  constructor(readonly maxBuffers: number, readonly maxBufferBytes: number) {}
  /** A free buffer of at least `minBytes`, if there is one. */
  take(minBytes: number): Uint8Array | undefined {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const buffer = this.free[i]!
      if (buffer.length >= minBytes) {
        this.free.splice(i, 1)
        return buffer
      }
    }
    return undefined
  }
  /** Gives a buffer back (dropped when the pool is full). */
  give(buffer: Uint8Array): void {
    if (this.free.length < this.maxBuffers && buffer.length <= this.maxBufferBytes) this.free.push(buffer)
  }
}

/** A running partition sender. */
export interface Sender {
  /** Encodes one send's records into the open batch; suspends while `maxQueuedSends` entries are waiting. */
  readonly offer: (entry: Entry) => Effect.Effect<void>
  /** Number of batches handed to the network so far (the sticky partitioner moves on after one). */
  readonly batchesSent: () => number
}

/** Extra time an ask waits beyond the request's own timeout, so the broker's answer wins the race. */
export const askSlackMs = 1_000

/** Estimated encoded size of a record (an upper bound for small headers), for batching decisions. Pure. */
export const estimateBytes = (
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<Record.Header>
): number => {
  let size = 21 + (key?.length ?? 0) + (value?.length ?? 0)
  for (let i = 0; i < headers.length; i++) size += 10 + headers[i]!.key.length * 3 + (headers[i]!.value?.length ?? 0)
  return size
}

/** Whether an entry of `entryBytes` joins a batch holding `batchBytes` in `batchEntries` entries. Pure. */
export const fits = (batchBytes: number, batchEntries: number, entryBytes: number, batchSize: number): boolean =>
  batchEntries === 0 || batchBytes + entryBytes <= batchSize

/** How to handle a failed attempt. Pure. */
export const decide = (
  error: { readonly _tag: string },
  options: {
    readonly attempt: number
    readonly retries: number
    readonly idempotent: boolean
    /** An earlier batch of the partition was still unresolved when this one failed. */
    readonly earlierPending: boolean
  }
): "retry" | "fail" | "exhausted" => {
  const retriable = ClientError.isRetriable(error) ||
    (options.idempotent && options.earlierPending && error._tag === "OutOfOrderSequence")
  if (!retriable) return "fail"
  return options.attempt > options.retries ? "exhausted" : "retry"
}

/** An entry in a batch: how many records, and who waits for their offset. */
interface Waiter {
  readonly count: number
  readonly deferred: Deferred.Deferred<number, SendError>
}

/** A batch being filled or waiting to go. */
interface Batch {
  readonly builder: BatchBuilder.Builder
  readonly waiters: Array<Waiter>
  /** Sum of the entries' estimates. */
  bytes: number
}

const signal = (deferred: Deferred.Deferred<void> | undefined): void => {
  if (deferred !== undefined) Deferred.unsafeDone(deferred, Exit.void)
}

/** Starts a partition's sender fiber in `scope`. */
export const make = (config: Config, scope: Scope.Scope): Effect.Effect<Sender> =>
  Effect.gen(function*() {
    const permits = yield* Effect.makeSemaphore(config.maxInFlight)
    /** The batch taking entries, and full batches waiting for a permit, in order. */
    let open: Batch | undefined
    let ready: Array<Batch> = []
    /** Entries offered and not dispatched yet (bounded by `maxQueuedSends`). */
    let queued = 0
    let closed = false
    /** Set while the loop waits for a first entry, for a batch to fill, or senders for room. */
    let wake: Deferred.Deferred<void> | undefined
    let full: Deferred.Deferred<void> | undefined
    let room: Deferred.Deferred<void> | undefined
    let sent = 0
    let identity = config.identity
    let needsNewIdentity = false
    let nextSequence = 0
    let previous: Deferred.Deferred<boolean> | undefined
    const path = ReplicaProtocol.replicaPath(config.topic, config.partition)
    let replicaCache: { readonly nodeId: Address.Address["node"]; readonly ref: Actor.ActorRef<ReplicaProtocol.ReplicaProtocol> } | undefined
    /** The leader's replica ref, kept while the leader stays on the same node (one ref per leader, not per request). */
    const replica = (nodeId: Address.Address["node"]) => {
      if (replicaCache?.nodeId !== nodeId) {
        replicaCache = { nodeId, ref: config.node.ref(new Address.Address({ node: nodeId, path }, true), ReplicaProtocol.ReplicaProtocol) }
      }
      return replicaCache.ref
    }

    /** A new batch for a first entry of `entryBytes`: room for a full batch when lingering, else for the entry. */
    const newBatch = (entryBytes: number): Batch => {
      const need = RecordBatch.HEADER_BYTES + entryBytes
      const limit = Math.max(need, config.batchSize + RecordBatch.HEADER_BYTES)
      const capacity = config.lingerMs > 0 ? limit : need
      return { builder: BatchBuilder.make(capacity, limit, config.buffers.take(capacity)), waiters: [], bytes: 0 }
    }

    const complete = (waiters: ReadonlyArray<Waiter>, exit: Exit.Exit<number, SendError>) =>
      Effect.sync(() => {
        let offset = Exit.isSuccess(exit) ? exit.value : -1
        for (const w of waiters) {
          Deferred.unsafeDone(w.deferred, Exit.isSuccess(exit) ? Exit.succeed(offset) : exit)
          if (offset >= 0) offset += w.count
        }
      })

    const produce = (bytes: Uint8Array, prior: Deferred.Deferred<boolean> | undefined, idempotent: boolean) => {
      const attempt = (n: number): Effect.Effect<number, SendError> =>
        config.cache.leader(config.topic, config.partition).pipe(
          Effect.flatMap((leader) =>
            replica(leader.nodeId).ask(
              new ReplicaProtocol.Produce({
                topic: config.topic,
                partition: config.partition,
                acks: config.acks,
                timeoutMs: config.requestTimeoutMs,
                batch: bytes
              }, true), // the producer's own settings and batch: no validation per request
              { timeoutMs: config.requestTimeoutMs + askSlackMs }
            )
          ),
          Effect.map((result) => result.baseOffset),
          Effect.catchAll((error): Effect.Effect<number, SendError> => {
            if (error._tag === "BrokerNotAvailable") return Effect.fail(error)
            return Effect.flatMap(prior === undefined ? Effect.succeed(true) : Deferred.isDone(prior), (priorDone) => {
              const verdict = decide(error, {
                attempt: n,
                retries: config.retry.retries,
                idempotent,
                earlierPending: !priorDone
              })
              if (verdict === "fail") return Effect.fail(error as SendError)
              if (verdict === "exhausted") {
                const lastError = error as ClientError.RetriableError
                return Effect.fail(new ClientError.RetriesExhausted({ attempts: n, lastError }))
              }
              return Effect.gen(function*() {
                if (prior !== undefined && !(yield* Deferred.await(prior))) return yield* Effect.fail(error as SendError)
                if (ClientError.needsMetadataRefresh(error)) yield* Effect.ignore(config.cache.refresh)
                yield* Effect.sleep(Retry.backoffMs(config.retry, n))
                return yield* attempt(n + 1)
              })
            })
          })
        )
      return attempt(1)
    }

    const dispatch = (batch: Batch) =>
      Effect.gen(function*() {
        if (needsNewIdentity) {
          needsNewIdentity = false
          const fresh = yield* Effect.either(config.newIdentity)
          if (fresh._tag === "Left") return yield* complete(batch.waiters, Exit.fail(fresh.left))
          identity = fresh.right
          nextSequence = 0
        }
        const count = batch.builder.count
        const baseSequence = identity === undefined ? -1 : nextSequence
        if (identity !== undefined) nextSequence = ProducerState.incrementSequence(nextSequence, count)
        const bytes = batch.builder.build({
          producerId: identity?.producerId ?? -1,
          producerEpoch: identity?.producerEpoch ?? -1,
          baseSequence
        })
        const spare = batch.builder.spare()
        if (spare !== undefined) config.buffers.give(spare)
        sent++
        if (config.acks === 0) {
          yield* complete(batch.waiters, Exit.succeed(-1))
          yield* Effect.forkIn(Effect.ensuring(Effect.ignore(produce(bytes, undefined, false)), permits.release(1)), scope)
          return
        }
        const prior = previous
        const done = yield* Deferred.make<boolean>()
        previous = done
        const idempotent = identity !== undefined
        yield* Effect.forkIn(
          Effect.onExit(produce(bytes, prior, idempotent), (exit) => {
            const closed = Exit.isInterrupted(exit) ? Exit.fail(new ClientError.ProducerClosed()) : exit
            if (Exit.isFailure(exit) && idempotent) needsNewIdentity = true
            return Effect.zipRight(
              complete(batch.waiters, closed),
              Effect.zipRight(Deferred.succeed(done, Exit.isSuccess(exit)), permits.release(1))
            )
          }),
          scope
        )
      })

    /** Takes every batch there is (the open one closes), releasing their room in the queue. */
    const takeAll = (): Array<Batch> => {
      const batches = ready
      ready = []
      if (open !== undefined) batches.push(open)
      open = undefined
      for (const batch of batches) queued -= batch.waiters.length
      signal(room)
      room = undefined
      return batches
    }

    const waitFor = (make: (d: Deferred.Deferred<void>) => void) => {
      const deferred = Deferred.unsafeMake<void>(FiberId.none)
      make(deferred)
      return Deferred.await(deferred)
    }

    const loop = Effect.gen(function*() {
      yield* permits.take(1)
      while (ready.length === 0 && open === undefined) yield* waitFor((d) => wake = d)
      if (ready.length === 0 && config.lingerMs > 0 && open!.bytes < config.batchSize) {
        yield* Effect.raceFirst(Effect.sleep(config.lingerMs), waitFor((d) => full = d))
        full = undefined
      }
      const batches = takeAll()
      for (let i = 0; i < batches.length; i++) {
        if (i > 0) yield* permits.take(1)
        yield* dispatch(batches[i]!)
      }
    }).pipe(Effect.forever)

    const offer = (entry: Entry): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closed) return Effect.asVoid(Deferred.fail(entry.deferred, new ClientError.ProducerClosed()))
        if (queued >= config.maxQueuedSends) {
          return Effect.zipRight(room !== undefined ? Deferred.await(room) : waitFor((d) => room = d), offer(entry))
        }
        if (open !== undefined && !fits(open.bytes, open.waiters.length, entry.bytes, config.batchSize)) {
          ready.push(open)
          open = undefined
        }
        const batch = open ?? newBatch(entry.bytes)
        const mark = batch.builder.mark()
        try {
          entry.write(batch.builder)
        } catch (defect) {
          batch.builder.reset(mark) // a bad record (not bytes) leaves the batch as it was
          return Effect.die(defect)
        }
        open = batch
        batch.waiters.push({ count: entry.count, deferred: entry.deferred })
        batch.bytes += entry.bytes
        queued++
        if (batch.bytes >= config.batchSize) {
          ready.push(batch)
          open = undefined
        }
        signal(wake)
        wake = undefined
        if (ready.length > 0) {
          signal(full)
          full = undefined
        }
        return Effect.void
      })

    const fiber = yield* Effect.forkIn(loop, scope)
    // On close, fail whatever is still queued so no caller waits forever.
    yield* Scope.addFinalizer(
      scope,
      Effect.zipRight(
        Fiber.interrupt(fiber),
        Effect.suspend(() => {
          closed = true
          const left = takeAll()
          return complete(left.flatMap((batch) => batch.waiters), Exit.fail(new ClientError.ProducerClosed()))
        })
      )
    )

    return { offer, batchesSent: () => sent } satisfies Sender
  })
