/**
 * The `fiberlog` command line: servers (`controller`, `broker`) and clients (`topics`, `produce`,
 * `consume`, `groups`). Every option also reads an environment variable (`FIBERLOG_*`).
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { groups } from "./GroupCommands.js"
import { consume, produce, topics } from "./ClientCommands.js"
import { broker, controller } from "./ServerCommands.js"

/** The root command. */
export const command = Command.make("fiberlog").pipe(
  Command.withDescription("a partitioned, replicated commit log"),
  Command.withSubcommands([controller, broker, topics, produce, consume, groups])
)

/** Runs the command line over `argv` (as `process.argv`: node and script first). */
export const run = Command.run(command, { name: "fiberlog", version: "0.1.0" })
