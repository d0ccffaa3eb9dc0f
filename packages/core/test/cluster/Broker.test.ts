/** A broker opens each partition's log with its topic's config (the store applies retention and cleanup). */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Broker from "../../src/cluster/Broker.js"
import * as Controller from "../../src/cluster/Controller.js"
import * as ControllerProtocol from "../../src/cluster/ControllerProtocol.js"
import * as LogStore from "../../src/cluster/LogStore.js"
import type * as Metadata from "../../src/cluster/Metadata.js"
import * as Node from "../../src/actor/Node.js"
import * as MemoryLog from "../../src/log/MemoryLog.js"
import * as NodeId from "../../src/transport/NodeId.js"
import { advance, network } from "../server/harness.js"

describe("Broker", () => {
  it.scoped("opens a partition's log with its topic's config", () =>
    Effect.gen(function*() {
      const controllerNode = yield* Node.make({ id: NodeId.make("controller") })
      const controller = yield* Effect.orDie(controllerNode.spawn(
        ControllerProtocol.controllerPath,
        Controller.behavior({ nodeId: NodeId.make("controller"), log: yield* MemoryLog.make(), sessionTimeoutMs: 6_000 })
      ))
      const memory = LogStore.memory()
      const opened: Array<[string, number, Metadata.TopicConfig | undefined]> = []
      const logs: LogStore.LogStore = {
        open: (topic, partition, config) => {
          opened.push([topic, partition, config])
          return memory.open(topic, partition, config)
        },
        drop: memory.drop
      }
      const brokerNode = yield* Node.make({ id: NodeId.make("broker-1") })
      yield* Effect.orDie(brokerNode.spawn(
        ControllerProtocol.brokerPath,
        Broker.behavior({ brokerId: 1, controller: controller.address, logs, heartbeatIntervalMs: 1_000 })
      ))
      yield* advance(500)
      const config = { cleanupPolicy: "compact", retentionMs: -1, retentionBytes: 4096, segmentBytes: 1024 } as const
      yield* controller.ask(new ControllerProtocol.CreateTopic({ name: "t", partitions: 2, replicationFactor: 1, config }))
      yield* advance(500)
      expect(opened.map(([topic, partition]) => [topic, partition]).sort()).toEqual([["t", 0], ["t", 1]])
      for (const [, , got] of opened) expect(got).toMatchObject(config)
    }).pipe(Effect.provide(network)))
})
