/**
 * @fiberlog/testkit/vitest — the parts of the testkit that are vitest suites (they import
 * `@effect/vitest`, which only loads inside a vitest run). Kept out of the main entry point so
 * that `@fiberlog/testkit` works in any runner, a benchmark or a script.
 */
export * as NetworkConformance from "./NetworkConformance.js"
