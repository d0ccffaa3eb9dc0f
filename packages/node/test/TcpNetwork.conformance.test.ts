import { describe } from "@effect/vitest"
import { NetworkConformance } from "@fiberlog/testkit/vitest"
import { Layer } from "effect"
import { TcpNetwork } from "../src/index.js"

const loopback = { host: "127.0.0.1", port: 0 }

describe("TcpNetwork conformance (loopback, ephemeral ports)", () => {
  NetworkConformance.suite(() =>
    Layer.orDie(
      TcpNetwork.layer({ clusterId: "conformance", directory: TcpNetwork.directory({ a: loopback, b: loopback }) })
    ), {
    realSockets: true
  })
})
