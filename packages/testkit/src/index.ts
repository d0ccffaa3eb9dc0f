/** @fiberlog/testkit — simulated network, fault injection, seeded replay and checkers. */
export * as NetworkConformance from "./NetworkConformance.js"
export * as SeededRandom from "./SeededRandom.js"
export * as SimNetwork from "./SimNetwork.js"
export * as History from "./History.js"
export * as Checker from "./Checker.js"
