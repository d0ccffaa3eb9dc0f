import { describe, expect, it } from "@effect/vitest"
import { Checker, type History } from "../src/index.js"

/** Builds a history from completions only (what checkers read); indexes follow the order. */
const h = (...ops: ReadonlyArray<Omit<History.Op, "index" | "time" | "type"> & { type?: History.OpType }>): ReadonlyArray<History.Op> =>
  ops.map((op, index) => ({ type: "ok", ...op, index, time: index }))

const ack = (value: string, offset: number, partition = 0) =>
  ({ process: "p", f: "send", topic: "t", partition, value, offset }) as const
const poll = (process: string, offsets: ReadonlyArray<[number, string]>, generation?: number) =>
  ({
    process,
    f: "poll",
    ...(generation === undefined ? {} : { generation }),
    records: offsets.map(([offset, value]) => ({ topic: "t", partition: 0, offset, value }))
  }) as const
const log = (values: ReadonlyArray<string>, replica?: string): Checker.FinalLog => ({
  topic: "t",
  partition: 0,
  ...(replica === undefined ? {} : { replica }),
  records: values.map((value, offset) => ({ offset, value }))
})

describe("Checker", () => {
  it("a clean history passes every checker", () => {
    const history = h(ack("a", 0), ack("b", 1), poll("c", [[0, "a"], [1, "b"]], 1), {
      process: "c",
      f: "commit",
      group: "g",
      topic: "t",
      partition: 0,
      offset: 2
    })
    const report = Checker.check({ history, logs: [log(["a", "b"], "b1"), log(["a", "b"], "b2")] })
    expect(report).toMatchObject({ valid: true, findings: [] })
    expect(Object.keys(report.counts)).toHaveLength(9)
  })

  it("lost-write: an acked value missing from a replica's final log; indeterminate sends do not count", () => {
    const history = h(ack("a", 0), ack("b", 1), { process: "p", f: "send", type: "info", topic: "t", partition: 0, value: "c" })
    const found = Checker.lostWrite({ history, logs: [log(["a", "b"], "b1"), log(["a"], "b2")] })
    expect(found).toEqual([{ _tag: "lost-write", topic: "t", partition: 0, value: "b", offset: 1, replica: "b2", index: 1 }])
  })

  it("duplicate: a value at two offsets in a log, or across polls (a re-read of one offset is fine)", () => {
    const history = h(poll("c", [[0, "a"], [1, "b"]]), poll("d", [[0, "a"], [2, "b"]]))
    const found = Checker.duplicate({ history, logs: [log(["a", "b", "a"])] })
    expect(found).toEqual([
      { _tag: "duplicate", topic: "t", partition: 0, value: "a", offsets: [0, 2], source: "log" },
      { _tag: "duplicate", topic: "t", partition: 0, value: "b", offsets: [1, 2], source: "poll" }
    ])
  })

  it("inconsistent-offsets: one offset, two values across replicas, acks and reads", () => {
    const history = h(ack("x", 1), poll("c", [[2, "z"]]))
    const found = Checker.inconsistentOffsets({ history, logs: [log(["a", "b", "c"], "b1"), log(["a", "b", "c"], "b2")] })
    expect(found.map((f) => [f.offset, f.values])).toEqual([[1, ["b", "x"]], [2, ["c", "z"]]])
    expect(Checker.inconsistentOffsets({ history: [], logs: [log(["a", "b"], "b1"), log(["a", "q"], "b2")] })).toHaveLength(1)
  })

  it("nonmonotonic-poll: going back within a generation; a new generation or a seek resets", () => {
    const history = h(
      poll("c", [[0, "a"], [1, "b"], [2, "c"]], 1),
      poll("c", [[1, "b"]], 1),
      poll("c", [[0, "a"]], 2),
      { process: "c", f: "seek", topic: "t", partition: 0, offset: 0 },
      poll("c", [[0, "a"]], 2),
      poll("d", [[5, "f"], [4, "e"]])
    )
    const found = Checker.nonmonotonicPoll({ history })
    expect(found.map((f) => [f.process, f.previousOffset, f.offset, f.index])).toEqual([["c", 2, 1, 1], ["d", 5, 4, 5]])
  })

  it("poll-skip: a gap over offsets that exist in the final log; gaps the log does not have are fine", () => {
    const history = h(poll("c", [[0, "a"], [2, "c"]]), poll("c", [[4, "e"]]))
    const withLog = Checker.pollSkip({ history, logs: [{ topic: "t", partition: 0, records: [0, 1, 2, 4].map((offset) => ({ offset, value: `${offset}` })) }] })
    expect(withLog).toEqual([{ _tag: "poll-skip", process: "c", topic: "t", partition: 0, previousOffset: 0, offset: 2, skipped: [1], index: 0 }])
    expect(Checker.pollSkip({ history }).map((f) => f.skipped)).toEqual([[1], [3]])
  })

  it("unseen: acked but never polled", () => {
    const history = h(ack("a", 0), ack("b", 1), poll("c", [[0, "a"]]))
    expect(Checker.unseen({ history })).toEqual([{ _tag: "unseen", topic: "t", partition: 0, value: "b", offset: 1, index: 1 }])
  })

  it("exclusivity: two members own one partition in one generation; across generations is fine", () => {
    const assign = (member: string, generation: number, partitions: ReadonlyArray<number>) =>
      ({ process: member, f: "assign", group: "g", member, generation, assignment: partitions.map((partition) => ({ topic: "t", partition })) }) as const
    const history = h(assign("m1", 1, [0, 1]), assign("m2", 1, [1, 2]), assign("m2", 2, [0]), assign("m1", 2, [1]))
    expect(Checker.exclusivity({ history })).toEqual([
      { _tag: "exclusivity", group: "g", generation: 1, topic: "t", partition: 1, members: ["m1", "m2"] }
    ])
  })

  it("commit-regression: a committed offset moving back without a seek; after a seek it may", () => {
    const commit = (offset: number) => ({ process: "c", f: "commit", group: "g", topic: "t", partition: 0, offset }) as const
    const history = h(commit(5), commit(7), commit(6), { process: "c", f: "seek", group: "g", topic: "t", partition: 0, offset: 0 }, commit(1))
    expect(Checker.commitRegression({ history })).toEqual([
      { _tag: "commit-regression", group: "g", topic: "t", partition: 0, previousOffset: 7, offset: 6, index: 2 }
    ])
    expect(Checker.commitRegression({ history: h(commit(5), { ...commit(3), type: "fail" }) })).toEqual([])
    // Real-time order: a commit invoked before another completed is concurrent with it, whichever
    // lands last; one invoked after a completion must not go below it.
    const invoke = (process: string, offset: number) => ({ ...commit(offset), process, type: "invoke" }) as const
    const ok = (process: string, offset: number) => ({ ...commit(offset), process }) as const
    expect(Checker.commitRegression({ history: h(invoke("a", 4), invoke("b", 9), ok("b", 9), ok("a", 4)) })).toEqual([])
    expect(Checker.commitRegression({ history: h(invoke("b", 9), ok("b", 9), invoke("a", 4), ok("a", 4)) })).toEqual([
      { _tag: "commit-regression", group: "g", topic: "t", partition: 0, previousOffset: 9, offset: 4, index: 3 }
    ])
  })

  it("leader-not-from-isr: a clean election outside the ISR; unclean ones are flagged, not found", () => {
    const elect = (leader: string, unclean?: boolean) =>
      ({ process: "controller", f: "elect", topic: "t", partition: 0, leader, isr: ["b1", "b2"], epoch: 3, ...(unclean === undefined ? {} : { unclean }) }) as const
    const found = Checker.leaderNotFromIsr({ history: h(elect("b1"), elect("b3"), elect("b3", true)) })
    expect(found).toEqual([{ _tag: "leader-not-from-isr", topic: "t", partition: 0, leader: "b3", isr: ["b1", "b2"], epoch: 3, index: 1 }])
  })

  it("check runs the named checkers only and reports counts", () => {
    const history = h(ack("a", 0))
    const report = Checker.check({ history, logs: [log([])] }, ["lost-write", "unseen"])
    expect(report.valid).toBe(false)
    expect(report.counts).toEqual({ "lost-write": 1, "unseen": 1 })
    expect(report.findings.map((f) => f._tag)).toEqual(["lost-write", "unseen"])
  })
})
