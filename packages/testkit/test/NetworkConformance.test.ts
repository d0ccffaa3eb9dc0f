import { describe } from "@effect/vitest"
import { InProcess } from "@fiberlog/core"
import { SimNetwork } from "../src/index.js"
import { NetworkConformance } from "../src/vitest.js"

describe("in-process network, serialize: true", () => {
  NetworkConformance.suite(() => InProcess.layer({ serialize: true }))
})

describe("in-process network, no serialisation", () => {
  NetworkConformance.suite(() => InProcess.layer(), { encodes: false })
})

describe("simulated network over in-process (serialize: true), no faults", () => {
  NetworkConformance.suite(() => SimNetwork.layerInProcess({ seed: 1 }))
})
