/**
 * `fiberlog groups list|describe`: the consumer groups, from every broker's group coordinator;
 * a group's state, members and their assignments, committed offsets and lag.
 *
 * @since 0.1.0
 */
import { Args, Command } from "@effect/cli"
import { Address, Admin, GroupProtocol, NodeId } from "@fiberlog/core"
import { Console, Effect } from "effect"
import * as Common from "./common.js"
import * as Format from "./format.js"

const timeoutMs = 5_000

/** `fiberlog groups list`. */
const list = Command.make("list", Common.client, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const admin = yield* Admin.make({ node: connection.node, bootstrap: connection.bootstrap })
    const brokers = (yield* admin.metadata).brokers.filter((b) => !b.fenced)
    const answers = yield* Effect.forEach(brokers, (b) =>
      connection.node.ref(Address.make(NodeId.make(b.nodeId), GroupProtocol.coordinatorPath), GroupProtocol.GroupCoordinatorProtocol)
        .ask(new GroupProtocol.ListGroups(), { timeoutMs }).pipe(Effect.orElseSucceed(() => [])), { concurrency: "unbounded" })
    const groups = new Map(answers.flat().map((g) => [g.groupId, g]))
    for (const g of [...groups.values()].sort((a, b) => a.groupId.localeCompare(b.groupId))) {
      yield* Console.log(`${g.groupId}\t${g.state}`)
    }
  })))).pipe(Command.withDescription("list consumer groups"))

/** `fiberlog groups describe <group>`. */
const describe = Command.make("describe", { ...Common.client, group: Args.text({ name: "group" }) }, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const admin = yield* Admin.make({ node: connection.node, bootstrap: connection.bootstrap })
    const ref = (nodeId: string) =>
      connection.node.ref(Address.make(NodeId.make(nodeId), GroupProtocol.coordinatorPath), GroupProtocol.GroupCoordinatorProtocol)
    const coordinator = yield* ref(connection.bootstrap[0]!).ask(new GroupProtocol.FindCoordinator({ groupId: options.group }), { timeoutMs })
    const group = yield* ref(coordinator.nodeId).ask(new GroupProtocol.DescribeGroup({ groupId: options.group }), { timeoutMs })
    const committed = yield* ref(coordinator.nodeId).ask(new GroupProtocol.OffsetFetch({ groupId: options.group }), { timeoutMs })
    yield* Console.log(`group ${group.groupId}: ${group.state}, generation ${group.generationId}, coordinator broker ${coordinator.brokerId}`)
    for (const m of group.members) {
      yield* Console.log(`  member ${m.memberId} (${m.clientId}): ${Format.assignment(m.assignment).join(", ") || "no partitions"}`)
    }
    for (const c of committed) {
      const latest = yield* admin.listOffset(c.topic, c.partition, "latest").pipe(Effect.map((o) => o.offset), Effect.orElseSucceed(() => -1))
      yield* Console.log(`  ${c.topic}-${c.partition}: committed ${c.offset} end ${latest} lag ${Format.lag(c.offset, latest)}`)
    }
  })))).pipe(Command.withDescription("describe a group: members, assignments, committed offsets, lag"))

/** `fiberlog groups`. */
export const groups = Command.make("groups").pipe(
  Command.withDescription("list and describe consumer groups"),
  Command.withSubcommands([list, describe])
)
