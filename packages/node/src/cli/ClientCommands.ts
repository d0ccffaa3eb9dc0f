/**
 * The client commands: `fiberlog topics create|list|describe`, `fiberlog produce`,
 * `fiberlog consume [--from-beginning] [--group]`. Each connects from `--bootstrap`
 * (`FIBERLOG_BOOTSTRAP`), runs, and disconnects.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Admin, Consumer, GroupConsumer, Producer } from "@fiberlog/core"
import { Chunk, Console, Duration, Effect, Option, Stream } from "effect"
import * as Common from "./common.js"
import * as Format from "./format.js"
import * as Stdin from "./stdin.js"

const topicArg = Args.text({ name: "topic" })

/** `fiberlog topics create <name>`. */
const create = Command.make("create", {
  ...Common.client,
  topic: topicArg,
  partitions: Options.integer("partitions").pipe(Options.withAlias("p"), Options.withDefault(1)),
  replicationFactor: Options.integer("replication-factor").pipe(Options.withAlias("r"), Options.withDefault(1)),
  minInsyncReplicas: Options.integer("min-insync-replicas").pipe(Options.optional)
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const admin = yield* Admin.make({ node: connection.node, bootstrap: connection.bootstrap })
    const topic = yield* admin.createTopic({
      name: options.topic,
      partitions: options.partitions,
      replicationFactor: options.replicationFactor,
      ...(Option.isSome(options.minInsyncReplicas) ? { config: { minInsyncReplicas: options.minInsyncReplicas.value } } : {})
    })
    yield* Console.log(`created topic ${topic.name}`)
    for (const line of Format.partitions(topic.partitions)) yield* Console.log(line)
  })))).pipe(Command.withDescription("create a topic"))

/** `fiberlog topics list`. */
const list = Command.make("list", Common.client, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const admin = yield* Admin.make({ node: connection.node, bootstrap: connection.bootstrap })
    const metadata = yield* admin.metadata
    for (const topic of [...metadata.topics].sort((a, b) => a.name.localeCompare(b.name))) yield* Console.log(topic.name)
  })))).pipe(Command.withDescription("list topics"))

/** `fiberlog topics describe <name>`. */
const describe = Command.make("describe", { ...Common.client, topic: topicArg }, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const admin = yield* Admin.make({ node: connection.node, bootstrap: connection.bootstrap })
    const metadata = yield* admin.metadata
    const topic = metadata.topics.find((t) => t.name === options.topic)
    if (topic === undefined) return yield* new Common.CliError({ message: `unknown topic ${options.topic}` })
    const offsets = yield* admin.listOffsets(topic.name)
    yield* Console.log(`topic ${topic.name}: ${topic.partitions.length} partitions, minISR ${topic.config.minInsyncReplicas}`)
    for (const line of Format.partitions(topic.partitions, offsets)) yield* Console.log(line)
  })))).pipe(Command.withDescription("describe a topic: leaders, replicas, ISR, offsets"))

/** `fiberlog topics`. */
export const topics = Command.make("topics").pipe(
  Command.withDescription("create, list and describe topics"),
  Command.withSubcommands([create, list, describe])
)

/** `fiberlog produce <topic> [values...]`: values from the arguments, or one per stdin line. */
export const produce = Command.make("produce", {
  ...Common.client,
  topic: topicArg,
  values: Args.text({ name: "value" }).pipe(Args.repeated),
  key: Options.text("key").pipe(Options.withAlias("k"), Options.optional),
  acks: Options.choice("acks", ["all", "1", "0"]).pipe(Options.withDefault("all" as const)),
  lingerMs: Options.integer("linger-ms").pipe(Options.withDefault(5)),
  printOffsets: Options.boolean("print-offsets")
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const producer = yield* Producer.make({
      node: connection.node,
      bootstrap: connection.bootstrap,
      acks: options.acks === "all" ? "all" : options.acks === "1" ? 1 : 0,
      lingerMs: options.lingerMs
    })
    const key = Option.getOrUndefined(options.key)
    const values = options.values.length > 0 ? Stream.fromIterable(options.values) : Stdin.lines
    const sent = yield* values.pipe(
      Stream.grouped(1_000),
      Stream.mapEffect((chunk) => {
        const messages = Chunk.toReadonlyArray(chunk).map((value) => ({ value, key }))
        return Effect.tap(producer.send({ topic: options.topic, messages }), (results) =>
          options.printOffsets
            ? Effect.forEach(results, (r) => Console.log(`${r.partition}:${r.offset}`), { discard: true })
            : Effect.void)
      }),
      Stream.runFold(0, (n, results) => n + results.length)
    )
    yield* Console.error(`produced ${sent} records to ${options.topic} (acks=${options.acks})`)
  })))).pipe(Command.withDescription("produce values (arguments, or stdin lines)"))

/** `fiberlog consume <topic>`: prints values, one a line (`partition:offset<TAB>value` with --print-offsets). */
export const consume = Command.make("consume", {
  ...Common.client,
  topic: topicArg,
  fromBeginning: Options.boolean("from-beginning"),
  group: Options.text("group").pipe(Options.withAlias("g"), Options.optional),
  maxMessages: Options.integer("max-messages").pipe(Options.optional),
  idleTimeoutMs: Options.integer("idle-timeout-ms").pipe(Options.optional, Options.withDescription("stop after this long without records")),
  printOffsets: Options.boolean("print-offsets")
}, (options) =>
  Common.report(Effect.scoped(Effect.gen(function*() {
    const connection = yield* Common.connect(options)
    const base = {
      node: connection.node,
      bootstrap: connection.bootstrap,
      autoOffsetReset: options.fromBeginning ? "earliest" as const : "latest" as const,
      maxWaitMs: 500
    }
    // As a group member, what was printed is committed before leaving (the group consumer
    // otherwise counts a record as processed only at the next poll).
    const printed = new Map<number, number>()
    const { records, finish } = yield* Option.match(options.group, {
      onNone: () =>
        Effect.gen(function*() {
          const consumer = yield* Consumer.make(base)
          const info = yield* consumer.metadata.topic(options.topic)
          yield* consumer.assign(info.partitions.map((p) => ({ topic: options.topic, partition: p.partition })))
          return { records: consumer.stream as Stream.Stream<Consumer.ConsumerRecord, unknown>, finish: Effect.void }
        }),
      onSome: (groupId) =>
        Effect.gen(function*() {
          const consumer = yield* GroupConsumer.make({ ...base, groupId })
          yield* consumer.subscribe([options.topic])
          const finish = Effect.suspend(() =>
            consumer.commitOffsets(
              [...printed].map(([partition, offset]) => ({ topic: options.topic, partition, offset: offset + 1 }))
            )
          )
          return { records: consumer.stream as Stream.Stream<Consumer.ConsumerRecord, unknown>, finish }
        })
    })
    const bounded = records.pipe(
      (s) => Option.isSome(options.idleTimeoutMs) ? Stream.timeout(s, Duration.millis(options.idleTimeoutMs.value)) : s,
      (s) => Option.isSome(options.maxMessages) ? Stream.take(s, options.maxMessages.value) : s
    )
    const count = yield* bounded.pipe(
      Stream.tap((r) =>
        Effect.zipRight(Console.log(Format.record(r, options.printOffsets)), Effect.sync(() => printed.set(r.partition, r.offset)))
      ),
      Stream.runCount
    )
    yield* finish
    yield* Console.error(`consumed ${count} records from ${options.topic}`)
  })))).pipe(Command.withDescription("consume a topic (all partitions, or as a group member)"))
