/** @fiberlog/testkit — simulated network, fault injection, seeded replay and checkers. */
export * as NetworkConformance from "./NetworkConformance.js"
