/**
 * `fiberlog groups list|describe|reset-offsets`: the consumer groups through `GroupAdmin`; a
 * group's state, members and their assignments, committed offsets and lag; and moving an
 * inactive group's offsets (`--to-earliest`, `--to-latest`, `--to-offset N`, `--to-timestamp MS`).
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { GroupAdmin } from "@fiberlog/core"
import { Console, Effect, Option } from "effect"
import * as Common from "./common.js"
import * as Format from "./format.js"

const admin = (options: Parameters<typeof Common.connect>[0]) =>
  Effect.flatMap(Common.connect(options), (connection) =>
    GroupAdmin.make({ node: connection.node, bootstrap: connection.bootstrap }))

/** `fiberlog groups list`. */
const list = Command.make("list", Common.client, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const groups = yield* (yield* admin(options)).listGroups
    for (const g of groups) yield* Console.log(`${g.groupId}\t${g.state}`)
  })))).pipe(Command.withDescription("list consumer groups"))

/** `fiberlog groups describe <group>`. */
const describe = Command.make("describe", { ...Common.client, group: Args.text({ name: "group" }) }, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const group = yield* (yield* admin(options)).describeGroup(options.group)
    yield* Console.log(
      `group ${group.groupId}: ${group.state}, generation ${group.generationId}, coordinator broker ${group.coordinator.brokerId}`
    )
    for (const m of group.members) {
      const names = m.assignment.map((tp) => `${tp.topic}-${tp.partition}`)
      yield* Console.log(`  member ${m.memberId} (${m.clientId}): ${names.join(", ") || "no partitions"}`)
    }
    for (const o of group.offsets.filter((x) => x.committed >= 0)) {
      yield* Console.log(
        `  ${o.topic}-${o.partition}: committed ${o.committed} end ${o.highWatermark} lag ${Format.lag(o.committed, o.highWatermark)}`
      )
    }
  })))).pipe(Command.withDescription("describe a group: members, assignments, committed offsets, lag"))

/** The target of a reset, from exactly one of the `--to-*` options. */
const resetTarget = (options: {
  readonly toEarliest: boolean
  readonly toLatest: boolean
  readonly toOffset: Option.Option<number>
  readonly toTimestamp: Option.Option<number>
}): Effect.Effect<GroupAdmin.ResetTo, Common.CliError> => {
  const chosen: Array<GroupAdmin.ResetTo> = [
    ...(options.toEarliest ? ["earliest" as const] : []),
    ...(options.toLatest ? ["latest" as const] : []),
    ...Option.toArray(Option.map(options.toOffset, (offset) => ({ offset }))),
    ...Option.toArray(Option.map(options.toTimestamp, (timestamp) => ({ timestamp })))
  ]
  return chosen.length === 1
    ? Effect.succeed(chosen[0]!)
    : Effect.fail(new Common.CliError({ message: "give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp" }))
}

/** `fiberlog groups reset-offsets --group g --topic t --to-earliest|--to-latest|--to-offset N|--to-timestamp MS`. */
const resetOffsets = Command.make("reset-offsets", {
  ...Common.client,
  group: Options.text("group").pipe(Options.withAlias("g")),
  topic: Options.text("topic").pipe(Options.withAlias("t")),
  toEarliest: Options.boolean("to-earliest"),
  toLatest: Options.boolean("to-latest"),
  toOffset: Options.integer("to-offset").pipe(Options.optional),
  toTimestamp: Options.integer("to-timestamp").pipe(
    Options.optional,
    Options.withDescription("first offset whose record timestamp (ms since the epoch) is at or after this")
  )
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const to = yield* resetTarget(options)
    const offsets = yield* (yield* admin(options)).resetOffsets(options.group, { topic: options.topic, to })
    for (const o of offsets) yield* Console.log(`${o.topic}-${o.partition}: ${o.offset}`)
  })))).pipe(Command.withDescription("move an inactive group's committed offsets of a topic"))

/** `fiberlog groups`. */
export const groups = Command.make("groups").pipe(
  Command.withDescription("list, describe and reset consumer groups"),
  Command.withSubcommands([list, describe, resetOffsets])
)
