/**
 * The producer's per-partition accumulator and sender. Each `send` call puts ONE pending entry
 * (its records for this partition and a Deferred) on the partition's bounded queue; one fiber
 * per partition drains the queue, waits `lingerMs` while the batch is below `batchSize`, encodes
 * one `RecordBatch` per `batchSize` of pending entries, and sends one `Produce` per batch with at
 * most `maxInFlight` outstanding. Failed batches are retried in order: a retry first waits for
 * the batch before it, so a partition's records land in send order.
 */
import { Deferred, Effect, Exit, Fiber, Queue, Scope } from "effect"
import type { Schema } from "effect"
import type * as Actor from "../../actor/Actor.js"
import type { DeliveryError } from "../../actor/ActorError.js"
import * as Address from "../../actor/Address.js"
import type * as ControllerProtocol from "../../cluster/ControllerProtocol.js"
import * as ProducerState from "../../cluster/ProducerState.js"
import * as ReplicaProtocol from "../../cluster/ReplicaProtocol.js"
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
export interface Pending {
  readonly records: ReadonlyArray<Record.Record>
  readonly bytes: number
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
}

/** A running partition sender. */
export interface Sender {
  /** Queues one send's records; suspends while `maxQueuedSends` entries are waiting. */
  readonly offer: (pending: Pending) => Effect.Effect<void>
  /** Number of batches handed to the network so far (the sticky partitioner moves on after one). */
  readonly batchesSent: () => number
}

/** Extra time an ask waits beyond the request's own timeout, so the broker's answer wins the race. */
export const askSlackMs = 1_000

/** Estimated encoded size of a record, for batching decisions. Pure. */
export const estimateBytes = (record: Record.Record): number => {
  let size = 21 + (record.key?.length ?? 0) + (record.value?.length ?? 0)
  for (const h of record.headers) size += 10 + h.key.length * 3 + (h.value?.length ?? 0)
  return size
}

/** Splits drained entries into batches of at most `batchSize` bytes (an entry never splits). Pure. */
export const splitBatches = (pending: ReadonlyArray<Pending>, batchSize: number): Array<Array<Pending>> => {
  const out: Array<Array<Pending>> = []
  let current: Array<Pending> = []
  let size = 0
  for (const p of pending) {
    if (current.length > 0 && size + p.bytes > batchSize) {
      out.push(current)
      current = []
      size = 0
    }
    current.push(p)
    size += p.bytes
  }
  if (current.length > 0) out.push(current)
  return out
}

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

/** Starts a partition's sender fiber in `scope`. */
export const make = (config: Config, scope: Scope.Scope): Effect.Effect<Sender> =>
  Effect.gen(function*() {
    const queue = yield* Queue.bounded<Pending>(config.maxQueuedSends)
    const permits = yield* Effect.makeSemaphore(config.maxInFlight)
    let queuedBytes = 0
    let full: Deferred.Deferred<void> | undefined
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

    const complete = (group: ReadonlyArray<Pending>, exit: Exit.Exit<number, SendError>) =>
      Effect.sync(() => {
        let offset = Exit.isSuccess(exit) ? exit.value : -1
        for (const p of group) {
          Deferred.unsafeDone(p.deferred, Exit.isSuccess(exit) ? Exit.succeed(offset) : exit)
          if (offset >= 0) offset += p.records.length
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

    const dispatch = (group: ReadonlyArray<Pending>) =>
      Effect.gen(function*() {
        if (needsNewIdentity) {
          needsNewIdentity = false
          const fresh = yield* Effect.either(config.newIdentity)
          if (fresh._tag === "Left") return yield* complete(group, Exit.fail(fresh.left))
          identity = fresh.right
          nextSequence = 0
        }
        let count = 0
        for (const p of group) count += p.records.length
        const records = group.length === 1 ? group[0]!.records : new Array<Record.Record>(count)
        if (group.length > 1) {
          let at = 0
          for (const p of group) for (let i = 0; i < p.records.length; i++) (records as Array<Record.Record>)[at++] = p.records[i]!
        }
        const baseSequence = identity === undefined ? -1 : nextSequence
        if (identity !== undefined) nextSequence = ProducerState.incrementSequence(nextSequence, records.length)
        const bytes = RecordBatch.encode({
          records,
          producerId: identity?.producerId ?? -1,
          producerEpoch: identity?.producerEpoch ?? -1,
          baseSequence,
          partitionLeaderEpoch: -1
        })
        sent++
        if (config.acks === 0) {
          yield* complete(group, Exit.succeed(-1))
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
              complete(group, closed),
              Effect.zipRight(Deferred.succeed(done, Exit.isSuccess(exit)), permits.release(1))
            )
          }),
          scope
        )
      })

    const drained = (items: Iterable<Pending>) => {
      for (const p of items) queuedBytes -= p.bytes
    }

    const loop = Effect.gen(function*() {
      yield* permits.take(1)
      const first = yield* Queue.take(queue)
      if (config.lingerMs > 0 && queuedBytes < config.batchSize) {
        const signal = yield* Deferred.make<void>()
        full = signal
        if (queuedBytes < config.batchSize) {
          yield* Effect.raceFirst(Effect.sleep(config.lingerMs), Deferred.await(signal))
        }
        full = undefined
      }
      const rest = yield* Queue.takeAll(queue)
      const all = [first, ...rest]
      drained(all)
      const groups = splitBatches(all, config.batchSize)
      for (let i = 0; i < groups.length; i++) {
        if (i > 0) yield* permits.take(1)
        yield* dispatch(groups[i]!)
      }
    }).pipe(Effect.forever)

    const fiber = yield* Effect.forkIn(loop, scope)
    // On close, fail whatever is still queued so no caller waits forever.
    yield* Scope.addFinalizer(
      scope,
      Effect.zipRight(
        Fiber.interrupt(fiber),
        Effect.flatMap(Queue.takeAll(queue), (left) =>
          Effect.forEach(left, (p) => Deferred.fail(p.deferred, new ClientError.ProducerClosed()), { discard: true }))
      )
    )

    return {
      offer: (pending) =>
        Effect.suspend(() => {
          queuedBytes += pending.bytes
          const signal = full !== undefined && queuedBytes >= config.batchSize ? full : undefined
          return signal === undefined
            ? Queue.offer(queue, pending)
            : Effect.zipRight(Queue.offer(queue, pending), Deferred.succeed(signal, undefined))
        }),
      batchesSent: () => sent
    } satisfies Sender
  })
