/**
 * Checkers: pure functions over a history and the final logs, each returning what it found under
 * Jepsen's names (`lost-write`, `duplicate`, `inconsistent-offsets`, `nonmonotonic-poll`,
 * `poll-skip`, `unseen`) plus `exclusivity`, `commit-regression` and `leader-not-from-isr`.
 * They key on record values, so a workload must write unique values (as Jepsen's do).
 *
 * @since 0.1.0
 */
import type * as History from "./History.js"

/** A record in a final log. */
export interface LogRecord {
  readonly offset: number
  readonly key?: string
  readonly value: string
}

/** A partition's log read at the end of a run (after heal), from one replica or the leader. */
export interface FinalLog {
  readonly topic: string
  readonly partition: number
  /** The replica it was read from; omit when there is one log per partition. */
  readonly replica?: string
  readonly records: ReadonlyArray<LogRecord>
}

/** What every checker reads. */
export interface Input {
  readonly history: ReadonlyArray<History.Op>
  readonly logs?: ReadonlyArray<FinalLog>
}

/** An acked record missing from a final log of its partition. */
export interface LostWrite {
  readonly _tag: "lost-write"
  readonly topic: string
  readonly partition: number
  readonly value: string
  /** The offset the ack reported, when it did. */
  readonly offset?: number
  readonly replica?: string
  /** Index of the `ok` send. */
  readonly index: number
}

/** One value at two or more offsets of a partition (in one replica's log, or across polls). */
export interface Duplicate {
  readonly _tag: "duplicate"
  readonly topic: string
  readonly partition: number
  readonly value: string
  readonly offsets: ReadonlyArray<number>
  /** `log` (with `replica`) or `poll`. */
  readonly source: "log" | "poll"
  readonly replica?: string
}

/** One offset with two or more values across replicas, acks and reads. */
export interface InconsistentOffsets {
  readonly _tag: "inconsistent-offsets"
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly values: ReadonlyArray<string>
}

/** A consumer read an offset at or below one it had already read, in one generation. */
export interface NonmonotonicPoll {
  readonly _tag: "nonmonotonic-poll"
  readonly process: string
  readonly topic: string
  readonly partition: number
  readonly previousOffset: number
  readonly offset: number
  readonly index: number
}

/** A consumer jumped over offsets that exist in the final log, in one generation. */
export interface PollSkip {
  readonly _tag: "poll-skip"
  readonly process: string
  readonly topic: string
  readonly partition: number
  readonly previousOffset: number
  readonly offset: number
  /** The skipped offsets present in the final log (at most `maxListed`). */
  readonly skipped: ReadonlyArray<number>
  readonly index: number
}

/** An acked record no poll ever returned. */
export interface Unseen {
  readonly _tag: "unseen"
  readonly topic: string
  readonly partition: number
  readonly value: string
  readonly offset?: number
  readonly index: number
}

/** Two members own one partition in one generation of a group. */
export interface Exclusivity {
  readonly _tag: "exclusivity"
  readonly group: string
  readonly generation: number
  readonly topic: string
  readonly partition: number
  readonly members: ReadonlyArray<string>
}

/** A committed offset moved back with no seek or reset in between. */
export interface CommitRegression {
  readonly _tag: "commit-regression"
  readonly group: string
  readonly topic: string
  readonly partition: number
  readonly previousOffset: number
  readonly offset: number
  readonly index: number
}

/** A leader was elected from outside the ISR without the election being flagged unclean. */
export interface LeaderNotFromIsr {
  readonly _tag: "leader-not-from-isr"
  readonly topic: string
  readonly partition: number
  readonly leader: string
  readonly isr: ReadonlyArray<string>
  readonly epoch?: number
  readonly index: number
}

/** Anything a checker finds; `_tag` is the checker's name. */
export type Finding =
  | LostWrite
  | Duplicate
  | InconsistentOffsets
  | NonmonotonicPoll
  | PollSkip
  | Unseen
  | Exclusivity
  | CommitRegression
  | LeaderNotFromIsr

/** A checker's name. */
export type Name = Finding["_tag"]

/** Limit on the offsets listed in one `poll-skip` finding. */
export const maxListed = 10

// ---- helpers ----------------------------------------------------------------------------------

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`
const oks = (input: Input, f: History.F) => input.history.filter((op) => op.type === "ok" && op.f === f)

/** Acked sends: `ok` sends with a topic, partition and value. */
const acked = (input: Input) =>
  oks(input, "send").flatMap((op) =>
    op.topic !== undefined && op.partition !== undefined && op.value !== undefined
      ? [{ op, topic: op.topic, partition: op.partition, value: op.value }]
      : []
  )

const polled = (input: Input) => oks(input, "poll").flatMap((op) => (op.records ?? []).map((record) => ({ op, record })))

const logsByPartition = (input: Input) => {
  const map = new Map<string, Array<FinalLog>>()
  for (const log of input.logs ?? []) {
    const key = tpKey(log.topic, log.partition)
    map.set(key, [...(map.get(key) ?? []), log])
  }
  return map
}

const withReplica = <A extends object>(finding: A, replica: string | undefined) =>
  replica === undefined ? finding : { ...finding, replica }

const withOffset = <A extends object>(finding: A, offset: number | undefined) =>
  offset === undefined ? finding : { ...finding, offset }

// ---- checkers ---------------------------------------------------------------------------------

/** `lost-write`: an acked record whose value is missing from a final log of its partition. */
export const lostWrite = (input: Input): ReadonlyArray<LostWrite> => {
  const logs = logsByPartition(input)
  const values = new Map<FinalLog, Set<string>>()
  const findings: Array<LostWrite> = []
  for (const { op, partition, topic, value } of acked(input)) {
    for (const log of logs.get(tpKey(topic, partition)) ?? []) {
      let set = values.get(log)
      if (set === undefined) values.set(log, set = new Set(log.records.map((r) => r.value)))
      if (set.has(value)) continue
      const base = { _tag: "lost-write" as const, topic, partition, value, index: op.index }
      findings.push(withReplica(withOffset(base, op.offset), log.replica))
    }
  }
  return findings
}

/** `duplicate`: a value at two or more offsets, in one replica's final log or across polls. */
export const duplicate = (input: Input): ReadonlyArray<Duplicate> => {
  const findings: Array<Duplicate> = []
  const scan = (
    entries: Iterable<{ topic: string; partition: number; offset: number; value: string }>,
    make: (topic: string, partition: number, value: string, offsets: ReadonlyArray<number>) => Duplicate
  ) => {
    const offsets = new Map<string, { topic: string; partition: number; value: string; offsets: Set<number> }>()
    for (const e of entries) {
      const key = `${tpKey(e.topic, e.partition)}\u0000${e.value}`
      const entry = offsets.get(key) ?? { topic: e.topic, partition: e.partition, value: e.value, offsets: new Set() }
      entry.offsets.add(e.offset)
      offsets.set(key, entry)
    }
    for (const e of offsets.values()) {
      if (e.offsets.size > 1) findings.push(make(e.topic, e.partition, e.value, [...e.offsets].sort((x, y) => x - y)))
    }
  }
  for (const log of input.logs ?? []) {
    scan(
      log.records.map((r) => ({ topic: log.topic, partition: log.partition, offset: r.offset, value: r.value })),
      (topic, partition, value, offsets) =>
        withReplica({ _tag: "duplicate", topic, partition, value, offsets, source: "log" }, log.replica)
    )
  }
  scan(polled(input).map(({ record }) => record), (topic, partition, value, offsets) => ({
    _tag: "duplicate",
    topic,
    partition,
    value,
    offsets,
    source: "poll"
  }))
  return findings
}

/** `inconsistent-offsets`: one offset of a partition holding two values across logs, acks and polls. */
export const inconsistentOffsets = (input: Input): ReadonlyArray<InconsistentOffsets> => {
  const values = new Map<string, { topic: string; partition: number; offset: number; values: Set<string> }>()
  const add = (topic: string, partition: number, offset: number, value: string) => {
    const key = `${tpKey(topic, partition)}\u0000${offset}`
    const entry = values.get(key) ?? { topic, partition, offset, values: new Set() }
    entry.values.add(value)
    values.set(key, entry)
  }
  for (const log of input.logs ?? []) for (const r of log.records) add(log.topic, log.partition, r.offset, r.value)
  for (const { op, partition, topic, value } of acked(input)) if (op.offset !== undefined) add(topic, partition, op.offset, value)
  for (const { record } of polled(input)) add(record.topic, record.partition, record.offset, record.value)
  const findings: Array<InconsistentOffsets> = []
  for (const e of values.values()) {
    if (e.values.size > 1) {
      findings.push({ _tag: "inconsistent-offsets", topic: e.topic, partition: e.partition, offset: e.offset, values: [...e.values].sort() })
    }
  }
  return findings
}

/**
 * Walks each consumer's polls in history order, keeping its last offset per partition within a
 * generation; an `ok` assign, a new generation or a seek resets it. Shared by the two poll checkers.
 */
const walkPolls = (
  input: Input,
  visit: (process: string, record: History.PolledRecord, previousOffset: number, op: History.Op) => void
) => {
  const positions = new Map<string, Map<string, number>>()
  const generations = new Map<string, number | undefined>()
  for (const op of input.history) {
    if (op.type !== "ok") continue
    if (op.f === "assign" || (op.f === "poll" && generations.get(op.process) !== op.generation)) {
      positions.delete(op.process)
      generations.set(op.process, op.generation)
    }
    if (op.f === "seek" && op.topic !== undefined && op.partition !== undefined) {
      positions.get(op.process)?.delete(tpKey(op.topic, op.partition))
    }
    if (op.f !== "poll") continue
    let mine = positions.get(op.process)
    if (mine === undefined) positions.set(op.process, mine = new Map())
    for (const record of op.records ?? []) {
      const key = tpKey(record.topic, record.partition)
      const previous = mine.get(key)
      if (previous !== undefined) visit(op.process, record, previous, op)
      mine.set(key, record.offset)
    }
  }
}

/** `nonmonotonic-poll`: a consumer reading an offset at or below one it read before, in one generation. */
export const nonmonotonicPoll = (input: Input): ReadonlyArray<NonmonotonicPoll> => {
  const findings: Array<NonmonotonicPoll> = []
  walkPolls(input, (process, record, previousOffset, op) => {
    if (record.offset > previousOffset) return
    findings.push({
      _tag: "nonmonotonic-poll",
      process,
      topic: record.topic,
      partition: record.partition,
      previousOffset,
      offset: record.offset,
      index: op.index
    })
  })
  return findings
}

/**
 * `poll-skip`: a consumer jumping over offsets, in one generation. Offsets absent from every final
 * log of the partition (compacted, or no such record) do not count; with no final log, any gap does.
 */
export const pollSkip = (input: Input): ReadonlyArray<PollSkip> => {
  const logs = logsByPartition(input)
  const offsets = new Map<string, Set<number>>()
  for (const [key, replicas] of logs) offsets.set(key, new Set(replicas.flatMap((log) => log.records.map((r) => r.offset))))
  const findings: Array<PollSkip> = []
  walkPolls(input, (process, record, previousOffset, op) => {
    if (record.offset <= previousOffset + 1) return
    const present = offsets.get(tpKey(record.topic, record.partition))
    const skipped: Array<number> = []
    for (let o = previousOffset + 1; o < record.offset && skipped.length < maxListed; o++) {
      if (present === undefined || present.has(o)) skipped.push(o)
    }
    if (skipped.length === 0) return
    findings.push({
      _tag: "poll-skip",
      process,
      topic: record.topic,
      partition: record.partition,
      previousOffset,
      offset: record.offset,
      skipped,
      index: op.index
    })
  })
  return findings
}

/** `unseen`: an acked record that no poll returned (run it after heal and a final drain). */
export const unseen = (input: Input): ReadonlyArray<Unseen> => {
  const seen = new Set(polled(input).map(({ record }) => `${tpKey(record.topic, record.partition)}\u0000${record.value}`))
  return acked(input)
    .filter(({ partition, topic, value }) => !seen.has(`${tpKey(topic, partition)}\u0000${value}`))
    .map(({ op, partition, topic, value }) => withOffset({ _tag: "unseen" as const, topic, partition, value, index: op.index }, op.offset))
}

/** `exclusivity`: two members assigned one partition in the same generation of a group. */
export const exclusivity = (input: Input): ReadonlyArray<Exclusivity> => {
  const owners = new Map<string, { group: string; generation: number; tp: History.TopicPartition; members: Set<string> }>()
  for (const op of oks(input, "assign")) {
    if (op.group === undefined || op.generation === undefined || op.member === undefined) continue
    for (const tp of op.assignment ?? []) {
      const key = `${op.group}\u0000${op.generation}\u0000${tpKey(tp.topic, tp.partition)}`
      const entry = owners.get(key) ?? { group: op.group, generation: op.generation, tp, members: new Set() }
      entry.members.add(op.member)
      owners.set(key, entry)
    }
  }
  return [...owners.values()]
    .filter((e) => e.members.size > 1)
    .map((e) => ({
      _tag: "exclusivity" as const,
      group: e.group,
      generation: e.generation,
      topic: e.tp.topic,
      partition: e.tp.partition,
      members: [...e.members].sort()
    }))
}

/**
 * `commit-regression`: a group's committed offset moving back with no seek (or reset) in between.
 * Commits are ordered in real time, as Jepsen orders operations: a commit regresses when it is
 * lower than one that had completed before it was invoked. Two commits in flight at once are
 * concurrent (either may land last), so neither counts against the other.
 */
export const commitRegression = (input: Input): ReadonlyArray<CommitRegression> => {
  /** Per group and partition: completed commits in completion order, with the running maximum. */
  const completed = new Map<string, Array<{ readonly okIndex: number; readonly max: number }>>()
  /** Open invocations per process and commit, to find when an `ok` was invoked. */
  const open = new Map<string, Array<number>>()
  const openKey = (op: History.Op) => `${op.process}\u0000${op.group}\u0000${op.topic}\u0000${op.partition}\u0000${op.offset}`
  const findings: Array<CommitRegression> = []
  for (const op of input.history) {
    if (op.topic === undefined || op.partition === undefined) continue
    const tp = tpKey(op.topic, op.partition)
    if (op.f === "seek" && op.type === "ok") {
      for (const key of [...completed.keys()]) {
        if (key.endsWith(`\u0000${tp}`) && (op.group === undefined || key.startsWith(`${op.group}\u0000`))) completed.delete(key)
      }
    }
    if (op.f !== "commit" || op.group === undefined || op.offset === undefined) continue
    if (op.type === "invoke") {
      const list = open.get(openKey(op)) ?? []
      list.push(op.index)
      open.set(openKey(op), list)
      continue
    }
    const invokedAt = open.get(openKey(op))?.pop() ?? op.index
    if (op.type !== "ok") continue
    const key = `${op.group}\u0000${tp}`
    const done = completed.get(key) ?? []
    // The last commit completed before this one was invoked (okIndex ascending: binary search).
    let lo = 0
    let hi = done.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (done[mid]!.okIndex < invokedAt) lo = mid + 1
      else hi = mid
    }
    const previous = lo === 0 ? undefined : done[lo - 1]!.max
    if (previous !== undefined && op.offset < previous) {
      findings.push({
        _tag: "commit-regression",
        group: op.group,
        topic: op.topic,
        partition: op.partition,
        previousOffset: previous,
        offset: op.offset,
        index: op.index
      })
    }
    done.push({ okIndex: op.index, max: Math.max(op.offset, done.length === 0 ? op.offset : done[done.length - 1]!.max) })
    completed.set(key, done)
  }
  return findings
}

/** `leader-not-from-isr`: an election that picked a leader outside the ISR without being unclean. */
export const leaderNotFromIsr = (input: Input): ReadonlyArray<LeaderNotFromIsr> =>
  oks(input, "elect").flatMap((op) => {
    if (op.topic === undefined || op.partition === undefined || op.leader === undefined || op.isr === undefined) return []
    if (op.unclean === true || op.isr.includes(op.leader)) return []
    const base = { _tag: "leader-not-from-isr" as const, topic: op.topic, partition: op.partition, leader: op.leader, isr: op.isr, index: op.index }
    return [op.epoch === undefined ? base : { ...base, epoch: op.epoch }]
  })

/** Every checker, by name. */
export const checkers: { readonly [N in Name]: (input: Input) => ReadonlyArray<Extract<Finding, { _tag: N }>> } = {
  "lost-write": lostWrite,
  "duplicate": duplicate,
  "inconsistent-offsets": inconsistentOffsets,
  "nonmonotonic-poll": nonmonotonicPoll,
  "poll-skip": pollSkip,
  "unseen": unseen,
  "exclusivity": exclusivity,
  "commit-regression": commitRegression,
  "leader-not-from-isr": leaderNotFromIsr
}

/** The outcome of `check`: valid when no checker found anything. */
export interface Report {
  readonly valid: boolean
  readonly findings: ReadonlyArray<Finding>
  /** Findings per checker run (zero included). */
  readonly counts: { readonly [N in Name]?: number }
}

/** Runs the named checkers (all by default) over `input`. */
export const check = (input: Input, names: ReadonlyArray<Name> = Object.keys(checkers) as Array<Name>): Report => {
  const findings: Array<Finding> = []
  const counts: { [N in Name]?: number } = {}
  for (const name of names) {
    const found = checkers[name](input)
    counts[name] = found.length
    findings.push(...found)
  }
  return { valid: findings.length === 0, findings, counts }
}
