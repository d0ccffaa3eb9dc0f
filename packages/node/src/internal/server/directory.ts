/**
 * Address discovery between server processes. Every server (controller and brokers) hosts a
 * `directory` actor over its TCP network's `Directory`: brokers advertise their listening address
 * to the controller's and pull the whole table back, so a broker or client only needs to be told
 * the controller's address (or one broker's) to learn where every node listens. A server tells
 * others its advertised address (`--advertise`), which may differ from the one it binds.
 *
 * @internal
 */
import { Actor, Address, type Node, NodeId } from "@fiberlog/core"
import { Duration, Effect, Schedule, Schema, type Scope } from "effect"
import type * as TcpNetwork from "../../TcpNetwork.js"

/** The directory actor's path on every server node. */
export const directoryPath = "directory"

/** One node's listening address. */
export const Entry = Schema.Struct({
  nodeId: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)),
  host: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  port: Schema.Int.pipe(Schema.between(1, 65_535))
})

/** @internal */
export type Entry = typeof Entry.Type

/** A node says where it listens. */
export class Advertise extends Schema.TaggedClass<Advertise>()("Advertise", { entry: Entry }) {}

/** The whole table this server knows. */
export class GetDirectory extends Schema.TaggedRequest<GetDirectory>()("GetDirectory", {
  failure: Schema.Never,
  success: Schema.Array(Entry).pipe(Schema.maxItems(10_000)),
  payload: {}
}) {}

/** The directory protocol. */
export const DirectoryProtocol = Schema.Union(Advertise, GetDirectory)

/** @internal */
export type DirectoryProtocol = typeof DirectoryProtocol.Type

/** Most entries a directory keeps (a bound on what peers can make it hold). */
export const maxEntries = 10_000

/** The table as entries. */
export const entries = (directory: TcpNetwork.Directory): ReadonlyArray<Entry> =>
  directory.entries().map(([nodeId, address]) => ({ nodeId, host: address.host, port: address.port }))

/**
 * Merges `incoming` into `directory`, keeping `self`'s own entry; returns how many changed.
 * Refuses new entries past `maxEntries`.
 */
export const merge = (directory: TcpNetwork.Directory, self: string, incoming: ReadonlyArray<Entry>): number => {
  let changed = 0
  let size = directory.entries().length
  for (const entry of incoming) {
    if (entry.nodeId === self) continue
    const id = NodeId.make(entry.nodeId)
    const known = directory.lookup(id)
    if (known !== undefined && known.host === entry.host && known.port === entry.port) continue
    if (known === undefined && size >= maxEntries) continue
    if (known === undefined) size++
    directory.register(id, { host: entry.host, port: entry.port })
    changed++
  }
  return changed
}

/**
 * The table as others should see it: `self` at its advertised address rather than the one it
 * binds (which may be 0.0.0.0, or reachable only from inside).
 */
export const advertisedEntries = (
  directory: TcpNetwork.Directory,
  self: string,
  advertised: TcpNetwork.Address | undefined
): ReadonlyArray<Entry> =>
  entries(directory).map((entry) =>
    entry.nodeId === self && advertised !== undefined ? { nodeId: self, host: advertised.host, port: advertised.port } : entry
  )

/** The directory actor over `directory`, on the node `self` (advertised at `advertised`). */
export const behavior = (directory: TcpNetwork.Directory, self: string, advertised?: TcpNetwork.Address | undefined) =>
  Actor.behavior({
    protocol: DirectoryProtocol,
    init: () => Effect.succeed(undefined),
    handlers: {
      Advertise: (state, msg) => Effect.sync(() => (merge(directory, self, [msg.entry]), state)),
      GetDirectory: (state) => Effect.succeed([advertisedEntries(directory, self, advertised), state] as const)
    }
  })

/** A ref to the directory actor on `target`. */
export const ref = (from: Node.Node, target: string) =>
  from.ref(Address.make(NodeId.make(target), directoryPath), DirectoryProtocol)

/**
 * Every `intervalMs`: advertises `self` (when listening: at `advertise`, else where it listens)
 * to `upstream` and merges its table. Runs until the scope closes; failures (the upstream down)
 * are retried on the next tick.
 */
export const sync = (options: {
  readonly node: Node.Node
  readonly directory: TcpNetwork.Directory
  readonly upstream: ReadonlyArray<string>
  readonly intervalMs: number
  readonly advertise?: TcpNetwork.Address | undefined
}): Effect.Effect<void, never, Scope.Scope> => {
  const self = options.node.id
  let next = 0
  const once = Effect.suspend(() => {
    if (options.upstream.length === 0) return Effect.void
    const target = options.upstream[next++ % options.upstream.length]!
    const mine = options.advertise ?? options.directory.lookup(self)
    const upstream = ref(options.node, target)
    const advertise = mine === undefined
      ? Effect.void
      : Effect.ignore(upstream.tell(new Advertise({ entry: { nodeId: self, host: mine.host, port: mine.port } })))
    return advertise.pipe(
      Effect.zipRight(upstream.ask(new GetDirectory(), { timeoutMs: Math.max(1_000, options.intervalMs) })),
      Effect.map((table) => void merge(options.directory, self, table)),
      Effect.ignore
    )
  })
  return Effect.asVoid(Effect.forkScoped(
    Effect.repeat(once, Schedule.spaced(Duration.millis(options.intervalMs)))
  ))
}

/** Pulls `upstream`'s table once (trying each in turn), merging it; false when none answered. */
export const pull = (
  node: Node.Node,
  directory: TcpNetwork.Directory,
  upstream: ReadonlyArray<string>,
  timeoutMs: number
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    for (const target of upstream) {
      const table = yield* ref(node, target).ask(new GetDirectory(), { timeoutMs }).pipe(Effect.option)
      if (table._tag === "Some") {
        merge(directory, node.id, table.value)
        return true
      }
    }
    return false
  })
