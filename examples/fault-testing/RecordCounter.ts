/**
 * A user's own small service: it tails one partition of a fiberlog cluster from its leader and
 * counts the distinct records it has seen. Nothing here knows about the testkit; the test beside
 * it runs it on a TestCluster under faults.
 */
import { Effect, Either, Ref } from "effect"
import { Address, ControllerProtocol, EmbeddedCluster, type Node, RecordBatch, ReplicaProtocol } from "@fiberlog/core"

/** What the counter exposes. */
export interface RecordCounter {
  /** Distinct values seen so far. */
  readonly count: Effect.Effect<number>
}

const text = new TextDecoder()

/** Starts a counter for `topic`/`partition` on `node`; it runs until the caller's scope closes. */
export const start = (node: Node.Node, controller: Address.Address, topic: string, partition: number) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make(new Set<string>())
    const metadata = node.ref(controller, ControllerProtocol.ControllerProtocol)
    let offset = 0
    const pollOnce = Effect.gen(function*() {
      const m = yield* metadata.ask(new ControllerProtocol.GetMetadata(), { timeoutMs: 1_000 })
      const leader = m.topics.find((t) => t.name === topic)?.partitions[partition]?.leader ?? -1
      if (leader < 0) return yield* Effect.sleep(500)
      const replica = node.ref(
        Address.make(EmbeddedCluster.brokerNodeId(leader), ReplicaProtocol.replicaPath(topic, partition)),
        ReplicaProtocol.ReplicaProtocol
      )
      const result = yield* replica.ask(
        new ReplicaProtocol.Fetch({ topic, partition, fetchOffset: offset, maxBytes: 1 << 20, maxWaitMs: 500, minBytes: 1, replicaId: -1 }),
        { timeoutMs: 2_000 }
      )
      for (const batch of result.batches) {
        const records = RecordBatch.decodeRecords(batch)
        if (Either.isLeft(records)) continue
        for (const r of records.right) if (r.value !== null) yield* Ref.update(seen, (s) => new Set(s).add(text.decode(r.value!)))
        offset = RecordBatch.lastOffset(batch) + 1
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.catchAll(pollOnce, () => Effect.sleep(300))))
    return { count: Effect.map(Ref.get(seen), (s) => s.size) } satisfies RecordCounter
  })
