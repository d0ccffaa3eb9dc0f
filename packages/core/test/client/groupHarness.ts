/** Helpers for group consumer tests: a cluster with a topic, consumers on virtual time. */
import { Effect, Fiber, Option } from "effect"
import type { Scope } from "effect"
import { type EmbeddedCluster, GroupConsumer, type Node } from "../../src/index.js"
import { cluster as groupCluster } from "../group/coordinatorHarness.js"
import { advance, createTopic, produce } from "../server/harness.js"

/** A 3-broker cluster with topic `topic` of `partitions` partitions (RF 2). */
export const setup = (topic = "orders", partitions = 6) =>
  Effect.gen(function*() {
    const { c, client } = yield* groupCluster()
    yield* createTopic(c, client, topic, partitions, 2)
    return { c, client }
  })

/** Advances time until the fiber ends (at most `maxMs`), then joins it. */
export const untilDone = <A, E>(fiber: Fiber.Fiber<A, E>, maxMs = 30_000) =>
  Effect.gen(function*() {
    for (let t = 0; t < maxMs; t += 100) {
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* advance(100)
    }
    if (Option.isNone(yield* Fiber.poll(fiber))) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.dieMessage(`not done after ${maxMs} ms of virtual time`)
    }
    return yield* Fiber.join(fiber)
  })

/** Produces values to one partition (acks=all), letting time pass. */
export const send = (c: EmbeddedCluster.EmbeddedCluster, client: Node.Node, topic: string, partition: number, values: ReadonlyArray<string>) =>
  Effect.flatMap(Effect.fork(produce(c, client, topic, partition, values)), (f) => untilDone(f))

/** A group consumer with test-sized timeouts. */
export const consumer = (
  c: EmbeddedCluster.EmbeddedCluster,
  node: Node.Node,
  groupId: string,
  extra: Partial<GroupConsumer.Options> = {}
): Effect.Effect<GroupConsumer.GroupConsumer, never, Scope.Scope> =>
  GroupConsumer.make({
    node,
    bootstrap: c.bootstrap,
    groupId,
    sessionTimeoutMs: 3_000,
    rebalanceTimeoutMs: 3_000,
    heartbeatIntervalMs: 500,
    maxWaitMs: 200,
    autoOffsetReset: "earliest",
    ...extra
  })

/** Polls until `count` records arrived (or `maxMs` passed); returns their values and offsets. */
export const take = (gc: GroupConsumer.GroupConsumer, count: number, maxMs = 20_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.gen(function*() {
      const out: Array<{ value: string; offset: number; partition: number }> = []
      while (out.length < count) {
        for (const r of yield* gc.poll()) {
          out.push({ value: new TextDecoder().decode(r.value!), offset: r.offset, partition: r.partition })
        }
      }
      return out
    }))
    return yield* untilDone(fiber, maxMs)
  })

/** Partition numbers of a member's assignment, sorted. */
export const partitionsOf = (gc: GroupConsumer.GroupConsumer) =>
  Effect.map(gc.membership, (m) => m.assignment.map((tp) => tp.partition).sort((a, b) => a - b))
