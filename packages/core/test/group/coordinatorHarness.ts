/** Helpers for coordinator tests: an embedded cluster with the offsets topic, and raw group asks. */
import { Effect, Fiber } from "effect"
import { Address, EmbeddedCluster, GroupProtocol as GP, type Node } from "../../src/index.js"
import { advance } from "../server/harness.js"

/** A 3-broker cluster with a 3-partition offsets topic and no initial rebalance delay. */
export const cluster = (options: EmbeddedCluster.Options = {}) =>
  Effect.gen(function*() {
    const c = yield* EmbeddedCluster.make({
      brokers: 3,
      offsetsTopicPartitions: 3,
      groupConfig: { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1_000 },
      ...options
    })
    const client = yield* c.clientNode("client")
    yield* advance(1_500)
    return { c, client }
  })

/** A ref to the coordinator actor of one broker. */
export const coordinatorOn = (node: Node.Node, brokerId: number) =>
  node.ref(Address.make(EmbeddedCluster.brokerNodeId(brokerId), GP.coordinatorPath), GP.GroupCoordinatorProtocol)

/** The coordinator of `groupId`, found through broker 1 (or the first running one). */
export const coordinatorOf = (c: EmbeddedCluster.EmbeddedCluster, node: Node.Node, groupId: string) =>
  Effect.gen(function*() {
    const via = c.brokerIds.find((id) => c.isRunning(id))!
    const info = yield* coordinatorOn(node, via).ask(new GP.FindCoordinator({ groupId }))
    return { info, ref: coordinatorOn(node, info.brokerId) }
  })

/** Runs `effect` in the background while virtual time advances, then joins it. */
export const during = <A, E>(effect: Effect.Effect<A, E>, ms = 1_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* advance(ms)
    return yield* Fiber.join(fiber)
  })
