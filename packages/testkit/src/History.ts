/**
 * A history of client operations, as Jepsen records them: each operation is an `invoke` followed
 * by its completion (`ok`, `fail`, or `info` when the outcome is unknown, e.g. a timeout), plus
 * single `ok` observations (an election seen by the controller). Checkers read it; a seed replays
 * it byte for byte, so its JSON is canonical (keys in schema order).
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Option, Schema } from "effect"

/** Jepsen's operation types: `info` is indeterminate (it may or may not have happened). */
export const OpType = Schema.Literal("invoke", "ok", "fail", "info")
/** @since 0.1.0 */
export type OpType = typeof OpType.Type

/**
 * What an operation does: `send` (produce one record), `poll` (consume), `commit` (an offset),
 * `assign` (a member's partitions in a generation), `seek` (a consumer moves its position, or a
 * reset), `elect` (a partition leader chosen, observed from the controller).
 */
export const F = Schema.Literal("send", "poll", "commit", "assign", "seek", "elect")
/** @since 0.1.0 */
export type F = typeof F.Type

/** A topic partition. */
export const TopicPartition = Schema.Struct({ topic: Schema.String, partition: Schema.Number })
/** @since 0.1.0 */
export type TopicPartition = typeof TopicPartition.Type

/** One record returned by a poll. Values should be unique in a workload: checkers key on them. */
export const PolledRecord = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  key: Schema.optional(Schema.String),
  value: Schema.String
})
/** @since 0.1.0 */
export type PolledRecord = typeof PolledRecord.Type

/** One operation of a history. Which optional fields are set depends on `f` and `type`. */
export const Op = Schema.Struct({
  index: Schema.Number,
  process: Schema.String,
  type: OpType,
  f: F,
  /** Virtual time (the `Clock`), in milliseconds. */
  time: Schema.Number,
  topic: Schema.optional(Schema.String),
  partition: Schema.optional(Schema.Number),
  offset: Schema.optional(Schema.Number),
  key: Schema.optional(Schema.String),
  value: Schema.optional(Schema.String),
  group: Schema.optional(Schema.String),
  generation: Schema.optional(Schema.Number),
  member: Schema.optional(Schema.String),
  records: Schema.optional(Schema.Array(PolledRecord)),
  assignment: Schema.optional(Schema.Array(TopicPartition)),
  leader: Schema.optional(Schema.String),
  isr: Schema.optional(Schema.Array(Schema.String)),
  epoch: Schema.optional(Schema.Number),
  unclean: Schema.optional(Schema.Boolean),
  error: Schema.optional(Schema.String)
})
/** @since 0.1.0 */
export type Op = typeof Op.Type

/** The fields an operation carries besides its identity (`index`, `process`, `type`, `f`, `time`). */
export type Fields = Omit<Op, "index" | "process" | "type" | "f" | "time">

const Ops = Schema.Array(Op)
const OpsJson = Schema.parseJson(Ops)

/** The canonical JSON of a history: the same operations always give the same bytes. */
export const toJson = (ops: ReadonlyArray<Op>): string => JSON.stringify(Schema.encodeSync(Ops)(ops))

/** Reads a history written by `toJson`. */
export const fromJson = (json: string) => Schema.decodeUnknown(OpsJson)(json)

/** Records a history. Times come from the `Clock`; indexes count from 0. */
export interface Recorder {
  /** Records the invocation of `f` by `process`; complete it with `complete`. */
  readonly invoke: (process: string, f: F, fields?: Fields) => Effect.Effect<Op>
  /** Records the completion of `invocation`: its fields plus `fields` (the result). */
  readonly complete: (invocation: Op, type: "ok" | "fail" | "info", fields?: Fields) => Effect.Effect<Op>
  /** Records a single `ok` observation with no invocation (an election, an assignment seen). */
  readonly observe: (process: string, f: F, fields?: Fields) => Effect.Effect<Op>
  readonly ops: Effect.Effect<ReadonlyArray<Op>>
  readonly json: Effect.Effect<string>
}

/** Options of a recorder. */
export interface Options {
  /** Most operations recorded; one more is a defect (a history must never be partial). Default 1_000_000. */
  readonly maxOps?: number
}

/** Makes an empty recorder. */
export const make = (options: Options = {}): Effect.Effect<Recorder> =>
  Effect.sync(() => {
    const maxOps = options.maxOps ?? 1_000_000
    const ops: Array<Op> = []
    // The time read from the `Clock` in place (not through `Clock.currentTimeMillis`'s own effect).
    const append = (process: string, type: OpType, f: F, fields: Fields | undefined) =>
      Effect.clockWith((clock) => {
        if (ops.length >= maxOps) return Effect.dieMessage(`history is full (maxOps ${maxOps})`)
        const op: Op = { ...fields, index: ops.length, process, type, f, time: clock.unsafeCurrentTimeMillis() }
        ops.push(op)
        return Effect.succeed(op)
      })
    return {
      invoke: (process, f, fields) => append(process, "invoke", f, fields),
      complete: (invocation, type, fields) => {
        const { f, index: _index, process, time: _time, type: _type, ...carried } = invocation
        return append(process, type, f, { ...carried, ...fields })
      },
      observe: (process, f, fields) => append(process, "ok", f, fields),
      ops: Effect.sync(() => ops.slice()),
      json: Effect.sync(() => toJson(ops))
    }
  })

/** How `run` records an operation's outcome. */
export interface RunOptions<A, E> {
  readonly process: string
  readonly f: F
  readonly fields?: Fields
  /** The result's fields on success (an offset, polled records). */
  readonly onSuccess?: (value: A) => Fields
  /** Whether a failure certainly did not happen (`fail`) or might have (`info`). Default: `info`. */
  readonly isDefinite?: (error: E) => boolean
}

/** Runs `effect` as one operation: an `invoke`, then `ok`, `fail` or `info` by its outcome. */
export const run = <A, E, R>(
  recorder: Recorder,
  effect: Effect.Effect<A, E, R>,
  options: RunOptions<A, E>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(recorder.invoke(options.process, options.f, options.fields), (invocation) =>
    // One `onExit` records every outcome (what `tap`, `tapError` and `onInterrupt` would, in one step):
    // a success, the (first) failure, or an interruption alone; a defect records nothing.
    Effect.onExit(effect, (exit) => {
      if (Exit.isSuccess(exit)) return recorder.complete(invocation, "ok", options.onSuccess?.(exit.value))
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        return recorder.complete(invocation, options.isDefinite?.(failure.value) === true ? "fail" : "info", {
          error: describe(failure.value)
        })
      }
      return Cause.isInterruptedOnly(exit.cause) ? recorder.complete(invocation, "info", { error: "interrupted" }) : Effect.void
    }))

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : String(error)
