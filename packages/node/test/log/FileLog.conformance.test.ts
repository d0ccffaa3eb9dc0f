import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, type Layer } from "effect"
import * as FileLog from "../../src/FileLog.js"
import { conformance } from "./PartitionLogConformance.js"

const fileLog = (options: Omit<FileLog.Options, "dir">, layer: Layer.Layer<FileSystem.FileSystem> = NodeFileSystem.layer) => () =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fiberlog-" })
    return yield* FileLog.make({ ...options, dir })
  }).pipe(Effect.provide(layer))

conformance("FileLog", fileLog({}))
conformance("FileLog (tiny segments, dense index)", fileLog({ segmentBytes: 400, indexIntervalBytes: 1 }))
conformance("FileLog (on layerFileSystem: synchronous appends)", fileLog({}, FileLog.layerFileSystem))
