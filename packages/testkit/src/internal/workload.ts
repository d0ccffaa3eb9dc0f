/**
 * The processes behind `Workload`: a metadata cache, the producer loop (with idempotent retries),
 * the consumer loop, the drain and the election observer.
 *
 * @internal
 */
import { Clock, Effect, Either, Fiber, type Scope, Stream } from "effect"
import {
  type Actor,
  Address,
  Assignor,
  ControllerProtocol,
  EmbeddedCluster,
  GroupConsumer,
  type Node,
  type NodeId,
  Record,
  RecordBatch,
  ReplicaProtocol as P
} from "@fiberlog/core"
import * as History from "../History.js"
import type * as Nemesis from "../Nemesis.js"
import * as TestCluster from "../TestCluster.js"
import type * as Workload from "../Workload.js"

const utf8 = new TextEncoder()

/** One record with `value` as a batch, optionally idempotent. */
export const batchOf = (value: string, producer?: { readonly id: number; readonly epoch: number; readonly sequence: number }) =>
  RecordBatch.encode({
    records: [Record.make({ value: utf8.encode(value), timestamp: 0 })],
    ...(producer === undefined ? {} : { producerId: producer.id, producerEpoch: producer.epoch, baseSequence: producer.sequence })
  })

export const now = Clock.currentTimeMillis

/** Errors after which the record certainly was not appended. */
const definite = new Set([
  "NoLeader",
  "NotEnoughReplicas",
  "UnknownTopicOrPartition",
  "RecordTooLarge",
  "InvalidRequest",
  "InvalidProducerEpoch",
  "OutOfOrderSequence"
])

class SendFailed {
  readonly _tag = "SendFailed"
  constructor(readonly reason: string, readonly definite: boolean) {}
}

export interface Context {
  readonly cluster: TestCluster.TestCluster
  readonly client: Node.Node
  readonly recorder: History.Recorder
  readonly spec: Workload.Spec
  readonly leaders: Map<number, number>
  /** Next offset per consumer process, per partition. */
  readonly positions: Map<string, Map<number, number>>
  readonly refresh: Effect.Effect<void>
  /** Refs to partition replicas, by leader broker then partition: made once, not per operation. */
  readonly replicas: Map<number, Map<number, Actor.ActorRef<P.ReplicaProtocol>>>
}

export const context = (
  cluster: TestCluster.TestCluster,
  client: Node.Node,
  recorder: History.Recorder,
  spec: Workload.Spec
): Context => {
  const leaders = new Map<number, number>()
  const controller = cluster.embedded.controllerRef(client)
  return {
    cluster,
    client,
    recorder,
    spec,
    leaders,
    positions: new Map(),
    replicas: new Map(),
    refresh: Effect.ignore(Effect.tap(controller.ask(new ControllerProtocol.GetMetadata(), { timeoutMs: 1_000 }), (m) =>
      Effect.sync(() => {
        const topic = m.topics.find((t) => t.name === spec.topic)
        for (const p of topic?.partitions ?? []) leaders.set(p.partition, p.leader)
      })))
  }
}

const replica = (ctx: Context, partition: number) =>
  Effect.suspend(() => {
    const leader = ctx.leaders.get(partition)
    if (leader === undefined || leader < 0) return Effect.fail(new SendFailed("NoLeader", true))
    let byPartition = ctx.replicas.get(leader)
    if (byPartition === undefined) ctx.replicas.set(leader, byPartition = new Map())
    let ref = byPartition.get(partition)
    if (ref === undefined) byPartition.set(partition, ref = TestCluster.replicaRef(ctx.client, leader, ctx.spec.topic, partition))
    return Effect.succeed(ref)
  })

interface ProducerId {
  id: number
  epoch: number
  sequences: Map<number, number>
}

const initProducerId = (ctx: Context) =>
  Effect.gen(function*() {
    for (let attempt = 0; ; attempt++) {
      const broker = ctx.cluster.brokerIds[attempt % ctx.cluster.brokerIds.length]!
      const ref = ctx.client.ref(
        Address.make(EmbeddedCluster.brokerNodeId(broker), ControllerProtocol.brokerPath),
        ControllerProtocol.BrokerProtocol
      )
      const got = yield* Effect.either(ref.ask(new ControllerProtocol.InitProducerId(), { timeoutMs: 1_000 }))
      if (Either.isRight(got)) return { id: got.right.producerId, epoch: got.right.producerEpoch, sequences: new Map() } as ProducerId
      yield* Effect.sleep(200)
    }
  })

/**
 * `Effect.retry(effect, { times })`: runs `effect` again at once after a failure, at most `times`
 * more times, failing with the last error. Without a schedule driver per send (most sends never
 * retry, and the driver costs more than the send's own ask).
 */
const retry = <A, E>(effect: Effect.Effect<A, E>, times: number): Effect.Effect<A, E> =>
  times <= 0 ? effect : Effect.catchAll(effect, () => retry(effect, times - 1))

/** One producer process: sends unique values to random partitions until interrupted. */
export const producer = (ctx: Context, spec: Workload.ProducerSpec) =>
  Effect.gen(function*() {
    const random = ctx.cluster.random(`workload:${spec.name}`)
    const retries = spec.retries ?? 3
    const timeoutMs = spec.requestTimeoutMs ?? 3_000
    let pid: ProducerId | undefined = spec.idempotent ? yield* initProducerId(ctx) : undefined
    if (ctx.leaders.size === 0) yield* ctx.refresh
    for (let n = 0; ; n++) {
      yield* Effect.sleep(Math.floor((yield* random.next) * 2 * spec.intervalMs))
      const partition = yield* random.nextIntBetween(0, ctx.spec.partitions)
      const value = `${spec.name}-${n}`
      const sequence = pid?.sequences.get(partition) ?? 0
      let maybeWritten = false
      const attempt = Effect.flatMap(replica(ctx, partition), (ref) => {
        const batch = batchOf(value, pid === undefined ? undefined : { id: pid.id, epoch: pid.epoch, sequence })
        // fields already typed (the spec's and this workload's own state): no validation per request
        return ref.ask(new P.Produce({ topic: ctx.spec.topic, partition, acks: spec.acks, timeoutMs, batch }, true), {
          timeoutMs: timeoutMs + 500
        }).pipe(Effect.mapError((e) => new SendFailed(e._tag, definite.has(e._tag))))
      }).pipe(Effect.tapError((e) =>
        Effect.zipRight(
          Effect.sync(() => void (maybeWritten ||= !e.definite)),
          Effect.zipRight(ctx.refresh, Effect.sleep(100))
        )
      ))
      const send = retry(attempt, retries).pipe(
        Effect.mapError((e) => new SendFailed(e.reason, e.definite && !maybeWritten)),
        Effect.flatMap((result) => spec.acks === 0 ? Effect.fail(new SendFailed("acks=0", false)) : Effect.succeed(result))
      )
      const outcome = yield* Effect.either(
        History.run(ctx.recorder, send, {
          process: spec.name,
          f: "send",
          fields: { topic: ctx.spec.topic, partition, value },
          onSuccess: (r) => ({ offset: r.baseOffset }),
          isDefinite: (e) => e.definite
        })
      )
      if (pid !== undefined) {
        if (Either.isRight(outcome)) pid.sequences.set(partition, sequence + 1)
        else if (!outcome.left.definite) pid = yield* initProducerId(ctx) // sequence state unknown: start over
      }
    }
  })

/** One consumer process: a fetch loop per partition, recording non-empty polls. */
export const consumer = (ctx: Context, process: string) =>
  Effect.gen(function*() {
    const positions = new Map<number, number>()
    ctx.positions.set(process, positions)
    const maxWaitMs = ctx.spec.fetchMaxWaitMs ?? 1_000
    yield* Effect.forEach(
      Array.from({ length: ctx.spec.partitions }, (_, p) => p),
      (partition) => Effect.forever(Effect.catchAll(pollOnce(ctx, process, partition, maxWaitMs), () => Effect.zipRight(ctx.refresh, Effect.sleep(200)))),
      { concurrency: "unbounded", discard: true }
    )
  })

/**
 * One fetch from the consumer's position; records a poll (or a seek on OffsetOutOfRange). A plain
 * chain of effects rather than a generator: it runs for every poll.
 */
const pollOnce = (ctx: Context, process: string, partition: number, maxWaitMs: number) =>
  Effect.suspend(() => {
    const positions = ctx.positions.get(process)!
    const position = positions.get(partition) ?? 0
    return Effect.flatMap(replica(ctx, partition), (ref) =>
      Effect.matchEffect(
        ref.ask(
          new P.Fetch({
            topic: ctx.spec.topic,
            partition,
            fetchOffset: position,
            maxBytes: 1 << 20,
            maxWaitMs,
            minBytes: 1,
            replicaId: P.consumerReplicaId
          }, true), // fields already typed: no validation per poll
          { timeoutMs: maxWaitMs + 2_000 }
        ),
        {
          onFailure: (error) => {
            if (error._tag !== "OffsetOutOfRange") return Effect.fail(error)
            // auto.offset.reset=earliest: a truncated log (unclean election) moves the consumer back.
            const reset = error.logStartOffset
            positions.set(partition, reset)
            return Effect.as(ctx.recorder.observe(process, "seek", { topic: ctx.spec.topic, partition, offset: reset }), false)
          },
          onSuccess: (response) => {
            const records = decode(ctx.spec.topic, partition, response.batches).filter((r) => r.offset >= position)
            if (records.length === 0) return Effect.succeed(false)
            return Effect.map(ctx.recorder.observe(process, "poll", { records }), () => {
              positions.set(partition, records[records.length - 1]!.offset + 1)
              return true
            })
          }
        }
      ))
  })

/** Reads every partition up to the high watermark for `process` (no long poll). */
export const drain = (ctx: Context, process: string) =>
  Effect.forEach(Array.from({ length: ctx.spec.partitions }, (_, p) => p), (partition) =>
    Effect.gen(function*() {
      yield* ctx.refresh
      for (let i = 0; i < 1_000; i++) {
        const more = yield* Effect.orElseSucceed(pollOnce(ctx, process, partition, 0), () => false)
        if (!more) return
      }
    }), { discard: true })

const text = new TextDecoder()

const decode = (topic: string, partition: number, batches: ReadonlyArray<Uint8Array>): Array<History.PolledRecord> =>
  batches.flatMap((batch) => {
    const records = RecordBatch.decodeRecords(batch)
    if (Either.isLeft(records)) return []
    return records.right.map((r) => ({ topic, partition, offset: r.offset, value: r.value === null ? "" : text.decode(r.value) }))
  })

/** What the election observer remembers per partition: the leader epoch and the ISR last seen in it. */
export type ElectionState = Map<number, { epoch: number; isr: ReadonlySet<number> }>

/** A leader election as the observer records it. */
export interface Election {
  readonly partition: number
  readonly leader: number
  /** The ISR just before the election (the last metadata of the previous epoch), sorted. */
  readonly isr: ReadonlyArray<number>
  readonly epoch: number
  /** The leader was not in `isr` and the topic allows unclean elections. */
  readonly unclean: boolean
}

/**
 * Takes one metadata of the controller's into `seen` and returns the elections it shows: each
 * partition of `topicName` whose leader epoch moved to one with a leader, compared with the ISR
 * just before (the set a clean election must pick from). Pure but for `seen`.
 */
export const electionsIn = (
  seen: ElectionState,
  metadata: ControllerProtocol.ClusterMetadata,
  topicName: string
): ReadonlyArray<Election> => {
  const topic = metadata.topics.find((t) => t.name === topicName)
  const out: Array<Election> = []
  for (const p of topic?.partitions ?? []) {
    const previous = seen.get(p.partition)
    if (previous !== undefined && p.leaderEpoch !== previous.epoch && p.leader >= 0) {
      out.push({
        partition: p.partition,
        leader: p.leader,
        isr: [...previous.isr].sort((a, b) => a - b),
        epoch: p.leaderEpoch,
        unclean: !previous.isr.has(p.leader) && topic!.config.uncleanLeaderElection
      })
    }
    seen.set(p.partition, { epoch: p.leaderEpoch, isr: new Set(p.isr) })
  }
  return out
}

/**
 * Follows every metadata the controller commits (a god's view from inside the process: not subject
 * to network faults, and no message sent) and records an `elect` for each new leader epoch, however
 * short-lived (see `electionsIn`).
 */
export const observer = (ctx: Context) =>
  Effect.suspend(() => {
    const seen: ElectionState = new Map()
    return Stream.runForEach(ctx.cluster.embedded.metadataChanges, (metadata) =>
      Effect.forEach(electionsIn(seen, metadata, ctx.spec.topic), (e) =>
        ctx.recorder.observe("observer", "elect", {
          topic: ctx.spec.topic,
          partition: e.partition,
          leader: String(e.leader),
          isr: e.isr.map(String),
          epoch: e.epoch,
          unclean: e.unclean
        }), { discard: true }))
  })

/** Group errors after which a commit certainly was not written. */
const definiteCommit = new Set([
  "IllegalGeneration",
  "UnknownMemberId",
  "RebalanceInProgress",
  "FencedInstanceId",
  "GroupAuthorizationFailed",
  "InvalidCommitOffsetSize",
  "UnknownTopicOrPartition"
])

interface MemberSlot {
  readonly spec: Workload.GroupSpec
  readonly index: number
  incarnation: number
  fiber: Fiber.RuntimeFiber<void> | undefined
  node: NodeId.NodeId | undefined
}

/**
 * The group members of a workload, numbered across groups, each run as a fiber in the
 * workload's scope: `crash` interrupts it (its node leaves the network: nothing more is sent, not
 * even a LeaveGroup), `restart` starts a new incarnation.
 */
export const groupMembers = (
  ctx: Context,
  groups: ReadonlyArray<Workload.GroupSpec>
): Effect.Effect<Nemesis.Members & { readonly stopAll: Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const slots: Array<MemberSlot> = groups.flatMap((spec) =>
      Array.from({ length: spec.members }, (_, index) => ({ spec, index, incarnation: 0, fiber: undefined, node: undefined }))
    )
    const start = (slot: MemberSlot) =>
      Effect.gen(function*() {
        if (slot.fiber !== undefined) return
        slot.incarnation++
        slot.fiber = yield* Effect.forkIn(Effect.scoped(member(ctx, slot)), scope)
      })
    const stop = (slot: MemberSlot) =>
      Effect.suspend(() => {
        const fiber = slot.fiber
        slot.fiber = undefined
        slot.node = undefined
        return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
      })
    yield* Effect.forEach(slots, start, { discard: true })
    return {
      count: slots.length,
      crash: (i) => (slots[i] === undefined ? Effect.void : stop(slots[i])),
      restart: (i) => (slots[i] === undefined ? Effect.void : start(slots[i])),
      node: (i) => slots[i]?.node,
      stopAll: Effect.forEach(slots, stop, { discard: true })
    }
  })

/**
 * One incarnation of a group member: subscribes, records every assignment it is given, and for
 * each batch records the poll (with the generation it was fetched in) and commits the offset after
 * it. The commit runs inside the batch handler, where no rebalance can take the partition away,
 * so it is made in the generation the records were fetched in, as Kafka's poll loop does.
 */
const member = (ctx: Context, slot: MemberSlot) =>
  Effect.gen(function*() {
    const { spec } = slot
    const process = `${spec.group}-m${slot.index}.${slot.incarnation}`
    const node = yield* ctx.cluster.clientNode(process)
    slot.node = node.id
    const consumer = yield* GroupConsumer.make({
      node,
      bootstrap: ctx.cluster.embedded.bootstrap,
      groupId: spec.group,
      clientId: process,
      assignors: [Assignor.builtIn.get(spec.assignor ?? "range")!],
      autoCommit: false,
      leaveOnClose: false,
      autoOffsetReset: "earliest",
      sessionTimeoutMs: spec.sessionTimeoutMs ?? 3_000,
      heartbeatIntervalMs: spec.heartbeatIntervalMs ?? 500,
      rebalanceTimeoutMs: spec.rebalanceTimeoutMs ?? 6_000,
      maxWaitMs: spec.maxWaitMs ?? 1_000,
      requestTimeoutMs: 2_000
    })
    yield* consumer.events.pipe(
      Stream.runForEach((event) =>
        event._tag === "Assigned"
          ? ctx.recorder.observe(process, "assign", {
            group: spec.group,
            generation: event.generationId,
            member: event.memberId,
            assignment: event.assignment.map((tp) => ({ topic: tp.topic, partition: tp.partition }))
          })
          : Effect.void
      ),
      Effect.forkScoped
    )
    yield* consumer.subscribe([ctx.spec.topic])
    const eachBatch = (batch: GroupConsumer.Batch) =>
      Effect.gen(function*() {
        const { generationId, memberId } = yield* consumer.membership
        const ids = { group: spec.group, generation: generationId, member: memberId }
        yield* ctx.recorder.observe(process, "poll", {
          ...ids,
          records: batch.messages.map((r) => ({
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            value: r.value === null ? "" : text.decode(r.value)
          }))
        })
        const last = batch.messages[batch.messages.length - 1]!
        const offset = last.offset + 1
        yield* Effect.ignore(History.run(
          ctx.recorder,
          consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset, leaderEpoch: last.leaderEpoch }]),
          {
            process,
            f: "commit",
            fields: { ...ids, topic: batch.topic, partition: batch.partition, offset },
            isDefinite: (e) => definiteCommit.has(e._tag)
          }
        ))
      })
    yield* consumer.run({ eachBatch }).pipe(
      Effect.catchAll(() => Effect.sleep(200)),
      Effect.forever
    )
  })
