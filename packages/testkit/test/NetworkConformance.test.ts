import { describe } from "@effect/vitest"
import { InProcess } from "@fiberlog/core"
import { NetworkConformance } from "../src/index.js"

describe("in-process network, serialize: true", () => {
  NetworkConformance.suite(() => InProcess.layer({ serialize: true }))
})

describe("in-process network, no serialisation", () => {
  NetworkConformance.suite(() => InProcess.layer(), { encodes: false })
})
