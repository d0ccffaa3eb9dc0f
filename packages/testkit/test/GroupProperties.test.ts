import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Property } from "../src/index.js"
import * as fixtures from "./fixtures.js"

// In a file of its own so it runs beside property (a) rather than after it.
describe("properties: consumer groups", () => {
  // (d) Consumer groups under member crashes, member isolation and broker faults: one owner per
  // partition per generation, committed offsets never move back, no consumer goes back within a
  // generation. FIBERLOG_GROUP_SCHEDULES sets how many (default 30).
  it.effect("(d) consumer groups under member crashes and partitions: no exclusivity, commit-regression or nonmonotonic-poll", () =>
    Effect.gen(function*() {
      const runs = Number(process.env.FIBERLOG_GROUP_SCHEDULES ?? 30)
      const result = yield* Property.assertProperty(fixtures.groups(runs))
      expect(result.runs).toBe(runs)
    }), 600_000)
})
