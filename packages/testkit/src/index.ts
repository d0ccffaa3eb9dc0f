/**
 * @fiberlog/testkit — simulated network, fault injection, seeded replay and checkers. Loads in any
 * runner; the vitest suites (`NetworkConformance`) are in `@fiberlog/testkit/vitest`.
 */
export * as SeededRandom from "./SeededRandom.js"
export * as SimNetwork from "./SimNetwork.js"
export * as History from "./History.js"
export * as Checker from "./Checker.js"
export * as TestCluster from "./TestCluster.js"
export * as Workload from "./Workload.js"
export * as Nemesis from "./Nemesis.js"
export * as Property from "./Property.js"
