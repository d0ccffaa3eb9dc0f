import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Address, ControllerProtocol, EmbeddedCluster, InProcess, LinkFilter, Record, RecordBatch, ReplicaProtocol } from "../../src/index.js"
import { advance, consumeAll, createTopic, leaderOf, produce, replicaRef, valuesOf } from "./harness.js"

const node = EmbeddedCluster.brokerNodeId
const options = { brokers: 3, sessionTimeoutMs: 3_000, replicaLagTimeMs: 2_000, fetchMaxWaitMs: 200 }

/** A fresh in-process network (serialising) behind a link filter the test controls. */
const setup = (filter: LinkFilter.LinkFilter) =>
  LinkFilter.layer(filter).pipe(Layer.provide(InProcess.layer({ serialize: true })))

const cut = (filter: LinkFilter.LinkFilter, a: number, b: number) =>
  Effect.zipRight(filter.block(node(a), node(b)), filter.block(node(b), node(a)))
const mend = (filter: LinkFilter.LinkFilter, a: number, b: number) =>
  Effect.zipRight(filter.unblock(node(a), node(b)), filter.unblock(node(b), node(a)))

const start = (topicConfig: ControllerProtocol.CreateTopic["config"]) =>
  Effect.gen(function*() {
    const cluster = yield* EmbeddedCluster.make(options)
    const client = yield* cluster.clientNode("client")
    yield* advance(500)
    yield* createTopic(cluster, client, "t", 1, 3, topicConfig)
    const state = yield* leaderOf(cluster, "t", 0)
    const followers = state.replicas.filter((id) => id !== state.leader)
    return { cluster, client, leader: state.leader, followers }
  })

/** Every replica's log, as values, after letting replication settle. */
const logsOf = (cluster: EmbeddedCluster.EmbeddedCluster) =>
  Effect.forEach(cluster.brokerIds, (id) => Effect.map(cluster.readLog(id, "t", 0), (batches) => batches))

describe("Replication", () => {
  const filter = LinkFilter.make()

  it.scoped("acks=all waits for the ISR; a follower cut off past replicaLagTimeMs leaves it, the HW moves, and it rejoins", () =>
    Effect.gen(function*() {
      const { cluster, client, leader, followers } = yield* start({ minInsyncReplicas: 2 })
      const [lagging] = followers
      yield* cut(filter, leader, lagging!)
      const pending = yield* Effect.fork(produce(cluster, client, "t", 0, ["a"], { timeoutMs: 60_000 }))
      yield* advance(1_000)
      expect(pending.unsafePoll()).toBeNull() // the cut-off follower is still in the ISR: not acked
      yield* advance(3_000) // past replicaLagTimeMs: the leader asks the controller to shrink the ISR
      const acked = yield* Fiber.join(pending)
      expect(acked.baseOffset).toBe(0)
      const shrunk = yield* leaderOf(cluster, "t", 0)
      expect(shrunk.isr).not.toContain(lagging)
      expect(shrunk.isr).toHaveLength(2)
      // The high watermark keeps moving without it.
      const more = yield* Effect.fork(produce(cluster, client, "t", 0, ["b", "c"]))
      yield* advance(500)
      expect((yield* Fiber.join(more)).lastOffset).toBe(2)
      expect((yield* cluster.describeReplica(leader, "t", 0)).highWatermark).toBe(3)
      // Mended, it catches up and the leader expands the ISR again.
      yield* mend(filter, leader, lagging!)
      yield* advance(3_000)
      const healed = yield* leaderOf(cluster, "t", 0)
      expect([...healed.isr].sort()).toEqual([1, 2, 3])
      expect((yield* cluster.describeReplica(lagging!, "t", 0)).logEndOffset).toBe(3)
    }).pipe(Effect.provide(setup(filter))))

  it.scoped("NotEnoughReplicas when the ISR is below minInsyncReplicas, and nothing is appended", () =>
    Effect.gen(function*() {
      const { cluster, client, leader, followers } = yield* start({ minInsyncReplicas: 2 })
      for (const id of followers) yield* cluster.crash(id)
      yield* advance(5_000) // session timeout: the controller fences them and shrinks the ISR
      expect((yield* leaderOf(cluster, "t", 0)).isr).toEqual([leader])
      const before = yield* cluster.describeReplica(leader, "t", 0)
      const error = yield* Effect.flip(produce(cluster, client, "t", 0, ["x"]))
      expect(error._tag).toBe("NotEnoughReplicas")
      const after = yield* cluster.describeReplica(leader, "t", 0)
      expect(after.logEndOffset).toBe(before.logEndOffset)
      // acks=1 is still accepted.
      expect((yield* produce(cluster, client, "t", 0, ["y"], { acks: 1 })).baseOffset).toBe(before.logEndOffset)
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))

  it.scoped("a leader crash right after an ack loses nothing: the new leader comes from the ISR", () =>
    Effect.gen(function*() {
      const { cluster, client, leader } = yield* start({ minInsyncReplicas: 2 })
      const acked: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const values = [`v${i}a`, `v${i}b`]
        const fiber = yield* Effect.fork(produce(cluster, client, "t", 0, values))
        yield* advance(200)
        yield* Fiber.join(fiber)
        acked.push(...values)
      }
      yield* cluster.crash(leader)
      yield* advance(5_000)
      const after = yield* leaderOf(cluster, "t", 0)
      expect(after.leader).not.toBe(leader)
      expect(after.leader).toBeGreaterThan(0)
      expect(after.leaderEpoch).toBeGreaterThan(0)
      expect(yield* consumeAll(cluster, client, "t", 0)).toEqual(acked)
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))

  it.scoped("KIP-101: a leader's unreplicated tail is truncated when it returns as a follower; logs end identical", () =>
    Effect.gen(function*() {
      const { cluster, client, leader, followers } = yield* start({ minInsyncReplicas: 1 })
      const first = yield* Effect.fork(produce(cluster, client, "t", 0, ["committed-1", "committed-2"]))
      yield* advance(300)
      yield* Fiber.join(first)
      // The leader appends a tail its followers never see (acks=1), then dies.
      for (const id of followers) yield* cut(filter, leader, id)
      yield* produce(cluster, client, "t", 0, ["tail-1", "tail-2", "tail-3"], { acks: 1 })
      yield* cluster.crash(leader)
      for (const id of followers) yield* mend(filter, leader, id)
      yield* advance(5_000)
      const next = yield* leaderOf(cluster, "t", 0)
      expect(followers).toContain(next.leader)
      const after = yield* Effect.fork(produce(cluster, client, "t", 0, ["new-1"]))
      yield* advance(300)
      expect((yield* Fiber.join(after)).baseOffset).toBe(2) // the new leader's log ends where the commit did
      // The old leader returns: it must drop its tail, not keep offsets 2..4 of another history.
      yield* cluster.restart(leader)
      yield* advance(3_000)
      const logs = yield* logsOf(cluster)
      for (const log of logs) expect(valuesOf(log)).toEqual(["committed-1", "committed-2", "new-1"])
      const bytes = logs.map((log) => Buffer.concat(log.map((b) => Buffer.from(b))).toString("hex"))
      expect(new Set(bytes).size).toBe(1)
    }).pipe(Effect.provide(setup(filter))))

  it.scoped("two quick leader changes do not diverge the logs", () =>
    Effect.gen(function*() {
      const { cluster, client, leader } = yield* start({ minInsyncReplicas: 1 })
      const acked: Array<string> = []
      const send = (values: Array<string>) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(produce(cluster, client, "t", 0, values))
          yield* advance(300)
          yield* Fiber.join(fiber)
          acked.push(...values)
        })
      yield* send(["a", "b"])
      yield* cluster.crash(leader)
      yield* advance(4_000)
      const second = (yield* leaderOf(cluster, "t", 0)).leader
      expect(second).not.toBe(leader)
      yield* send(["c"])
      yield* cluster.crash(second)
      yield* cluster.restart(leader)
      yield* advance(4_000)
      const third = (yield* leaderOf(cluster, "t", 0)).leader
      expect(third).not.toBe(second)
      yield* send(["d"])
      yield* cluster.restart(second)
      yield* advance(4_000)
      yield* send(["e"])
      yield* advance(2_000)
      const logs = yield* logsOf(cluster)
      for (const log of logs) expect(valuesOf(log)).toEqual(acked)
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))

  it.scoped("unclean election off: with every ISR member down the partition stays unavailable and loses nothing", () =>
    Effect.gen(function*() {
      const { cluster, client, leader, followers } = yield* start({ minInsyncReplicas: 1 })
      for (const id of followers) yield* cluster.crash(id)
      yield* advance(5_000)
      expect((yield* leaderOf(cluster, "t", 0)).isr).toEqual([leader])
      yield* produce(cluster, client, "t", 0, ["only-on-leader"], { acks: -1 })
      yield* cluster.crash(leader)
      for (const id of followers) yield* cluster.restart(id)
      yield* advance(5_000)
      const offline = yield* leaderOf(cluster, "t", 0)
      expect(offline.leader).toBe(-1)
      expect(offline.isr).toEqual([leader])
      const error = yield* Effect.flip(replicaRef(client, followers[0]!, "t", 0).ask(
        new ReplicaProtocol.Fetch({
          topic: "t",
          partition: 0,
          fetchOffset: 0,
          maxBytes: 1024,
          maxWaitMs: 0,
          minBytes: 1,
          replicaId: -1
        })
      ))
      expect(error._tag).toBe("NotLeader")
      yield* cluster.restart(leader)
      yield* advance(5_000)
      const back = yield* leaderOf(cluster, "t", 0)
      expect(back.leader).toBe(leader)
      expect(yield* consumeAll(cluster, client, "t", 0)).toEqual(["only-on-leader"])
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))

  it.scoped("idempotent retries across a leader change leave exactly one copy", () =>
    Effect.gen(function*() {
      const { cluster, client, leader } = yield* start({ minInsyncReplicas: 2 })
      const broker = client.ref(Address.make(node(1), ControllerProtocol.brokerPath), ControllerProtocol.BrokerProtocol)
      const { producerId, producerEpoch } = yield* broker.ask(new ControllerProtocol.InitProducerId())
      const producer = { id: producerId, epoch: producerEpoch, sequence: 0 }
      const first = yield* Effect.fork(produce(cluster, client, "t", 0, ["once-a", "once-b"], { producer }))
      yield* advance(300)
      const original = yield* Fiber.join(first)
      // The ack is "lost": the producer retries the same batch (same sequence) after a failover.
      yield* cluster.crash(leader)
      yield* advance(5_000)
      const retry = yield* Effect.fork(produce(cluster, client, "t", 0, ["once-a", "once-b"], { producer }))
      yield* advance(300)
      const retried = yield* Fiber.join(retry)
      expect(retried.baseOffset).toBe(original.baseOffset)
      expect(retried.lastOffset).toBe(original.lastOffset)
      const next = yield* Effect.fork(produce(cluster, client, "t", 0, ["then"], { producer: { ...producer, sequence: 2 } }))
      yield* advance(300)
      expect((yield* Fiber.join(next)).baseOffset).toBe(2)
      // A gap in the sequence is refused.
      const gap = yield* Effect.flip(produce(cluster, client, "t", 0, ["gap"], { producer: { ...producer, sequence: 9 } }))
      expect(gap._tag).toBe("OutOfOrderSequence")
      expect(yield* consumeAll(cluster, client, "t", 0)).toEqual(["once-a", "once-b", "then"])
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))

  /**
   * A follower cut off at offset 3 (out of the ISR) while the leader takes batches [3, 4], [5, 6]
   * and [7], then deletes its records below `deleteTo`; the link is still cut.
   */
  const behindLogStart = (deleteTo: number) =>
    Effect.gen(function*() {
      const { cluster, client, leader, followers } = yield* start({})
      const lagging = followers[0]!
      const first = yield* Effect.fork(produce(cluster, client, "t", 0, ["a", "b", "c"]))
      yield* advance(500)
      yield* Fiber.join(first)
      yield* cut(filter, leader, lagging)
      for (const values of [["d", "e"], ["f", "g"], ["h"]]) yield* produce(cluster, client, "t", 0, values, { acks: 1 })
      yield* advance(3_000) // the cut-off follower leaves the ISR
      expect((yield* leaderOf(cluster, "t", 0)).isr).not.toContain(lagging)
      yield* (yield* cluster.log(leader, "t", 0)).deleteBefore(deleteTo)
      return { cluster, client, leader, lagging }
    })

  it.scoped("a follower below the leader's log start (retention deleted what it needs) restarts its log there and catches up", () =>
    Effect.gen(function*() {
      const { cluster, client, leader, lagging } = yield* behindLogStart(5) // as retention would: offsets 0..4 are gone from the leader
      expect((yield* cluster.describeReplica(lagging, "t", 0)).logEndOffset).toBe(3) // it needs offset 3 next
      yield* mend(filter, leader, lagging)
      yield* advance(3_000)
      const described = yield* cluster.describeReplica(lagging, "t", 0)
      expect(described).toMatchObject({ role: "follower", logStartOffset: 5, logEndOffset: 8, highWatermark: 8 })
      expect(valuesOf(yield* cluster.readLog(lagging, "t", 0))).toEqual(["f", "g", "h"])
      const healed = yield* leaderOf(cluster, "t", 0)
      expect([...healed.isr].sort()).toEqual([1, 2, 3])
      // It keeps following from there.
      const more = yield* Effect.fork(produce(cluster, client, "t", 0, ["i"]))
      yield* advance(500)
      expect((yield* Fiber.join(more)).baseOffset).toBe(8)
      expect(valuesOf(yield* cluster.readLog(lagging, "t", 0))).toEqual(["f", "g", "h", "i"])

      // The reset is guarded as ApplyFetch is: a leader, a stale leader epoch or a fetch from
      // anywhere but the log end leaves the log as it is.
      const epoch = healed.leaderEpoch
      const reset = (brokerId: number, leaderEpoch: number, fetchOffset: number) =>
        replicaRef(client, brokerId, "t", 0).ask(
          new ReplicaProtocol.ApplyOutOfRange({ leaderEpoch, fetchOffset, logStartOffset: 100 })
        )
      expect((yield* reset(leader, epoch, 9)).stop).toBe(true)
      expect((yield* reset(lagging, epoch - 1, 9)).stop).toBe(true)
      expect(yield* reset(lagging, epoch, 5)).toEqual({ stop: false, logEndOffset: 9, lastEpoch: epoch })
      for (const id of cluster.brokerIds) {
        expect(yield* cluster.describeReplica(id, "t", 0)).toMatchObject({ logEndOffset: 9 })
      }
      expect((yield* cluster.describeReplica(lagging, "t", 0)).logStartOffset).toBe(5)
    }).pipe(Effect.provide(setup(filter))))

  it.scoped("a follower restarted at a leader's log start inside a batch (records deleted to mid-batch) takes that batch from its base", () =>
    Effect.gen(function*() {
      // The leader's log now starts at 6, inside the batch of "f" (5) and "g" (6).
      const { cluster, client, leader, lagging } = yield* behindLogStart(6)
      expect(yield* (yield* cluster.log(leader, "t", 0)).logStartOffset).toBe(6)
      yield* mend(filter, leader, lagging)
      yield* advance(3_000)
      // Kafka's answer: the follower's log starts over at the batch's base offset, and takes it.
      const described = yield* cluster.describeReplica(lagging, "t", 0)
      expect(described).toMatchObject({ role: "follower", logStartOffset: 5, logEndOffset: 8, highWatermark: 8 })
      expect(valuesOf(yield* cluster.readLog(lagging, "t", 0))).toEqual(["f", "g", "h"])
      expect([...(yield* leaderOf(cluster, "t", 0)).isr].sort()).toEqual([1, 2, 3])

      // A fetch answer applies only at the log end it was fetched from: a stale one (from 3, say)
      // changes nothing, even with a batch that would fit at the end, and says where to fetch now.
      const epoch = (yield* leaderOf(cluster, "t", 0)).leaderEpoch
      const stale = new ReplicaProtocol.FetchResult({
        batches: [RecordBatch.encode({ baseOffset: 8, records: [Record.fromStrings(null, "stale", 0)] })],
        highWatermark: 8,
        logStartOffset: 6,
        logEndOffset: 8,
        leaderEpoch: epoch
      })
      const position = yield* replicaRef(client, lagging, "t", 0).ask(
        new ReplicaProtocol.ApplyFetch({ leaderEpoch: epoch, fetchOffset: 3, result: stale })
      )
      expect(position).toEqual({ stop: false, logEndOffset: 8, lastEpoch: epoch })
      expect(valuesOf(yield* cluster.readLog(lagging, "t", 0))).toEqual(["f", "g", "h"])
    }).pipe(Effect.provide(setup(filter))))

  it.scoped("a consumer's long poll at the leader waits for the high watermark, or for its deadline, and answers with what there is", () =>
    Effect.gen(function*() {
      const { cluster, client, leader } = yield* start({ minInsyncReplicas: 2 })
      const poll = (fetchOffset: number, minBytes: number, maxWaitMs: number) =>
        Effect.fork(replicaRef(client, leader, "t", 0).ask(
          new ReplicaProtocol.Fetch({ topic: "t", partition: 0, fetchOffset, maxBytes: 1 << 20, maxWaitMs, minBytes, replicaId: -1 }),
          { timeoutMs: 60_000 }
        ))
      // Nothing to read: answered, empty, at its deadline and not before.
      const empty = yield* poll(0, 1, 3_000)
      yield* advance(2_500)
      expect(empty.unsafePoll()).toBeNull()
      yield* advance(1_000)
      expect(empty.unsafePoll()).not.toBeNull()
      expect((yield* Fiber.join(empty)).batches).toEqual([])
      // Woken when an acked record moves the high watermark, long before its deadline.
      const woken = yield* poll(0, 1, 10_000)
      yield* advance(200)
      expect(woken.unsafePoll()).toBeNull()
      yield* produce(cluster, client, "t", 0, ["a"], { acks: -1 })
      yield* advance(200)
      expect(woken.unsafePoll()).not.toBeNull()
      expect(valuesOf((yield* Fiber.join(woken)).batches)).toEqual(["a"])
      // More minBytes than arrive: parked through the append, answered with what there is at its deadline.
      const partial = yield* poll(1, 1_000_000, 3_000)
      yield* produce(cluster, client, "t", 0, ["b"], { acks: -1 })
      yield* advance(2_000)
      expect(partial.unsafePoll()).toBeNull()
      yield* advance(1_500)
      expect(partial.unsafePoll()).not.toBeNull()
      expect(valuesOf((yield* Fiber.join(partial)).batches)).toEqual(["b"])
      // Several polls woken by one append are all answered.
      const many = yield* Effect.forEach([0, 1, 2], () => poll(2, 1, 10_000))
      yield* produce(cluster, client, "t", 0, ["c"], { acks: -1 })
      yield* advance(200)
      for (const f of many) expect(valuesOf((yield* Fiber.join(f)).batches)).toEqual(["c"])
    }).pipe(Effect.provide(InProcess.layer({ serialize: true }))))
})
