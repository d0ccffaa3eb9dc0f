#!/usr/bin/env node
/**
 * The `fiberlog` executable: `tsx --conditions=fiberlog-source packages/node/src/cli/main.ts ...`
 * from sources, or `fiberlog ...` once built. SIGINT / SIGTERM interrupt the command (servers
 * close their logs); a failure prints its message and exits 1. A broker's FileLogs run on
 * `FileLog.layerSyncAppends` over Node's `FileSystem` (appends written synchronously).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import * as FileLog from "../FileLog.js"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
  Effect.provide(FileLog.layerSyncAppends),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
